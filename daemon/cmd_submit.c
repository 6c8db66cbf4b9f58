/*
 * cmd_submit.c -- `ditfarm submit MANIFEST`: validate and plan locally, then
 * hand the normalized manifest to ditfarmd, which writes the job directories
 * and submits the shots as their dependencies finish.
 */
#include "cli.h"
#include "ctl.h"
#include "jobspec.h"
#include "manifest.h"
#include "paths.h"
#include "roots.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ditfarm submit MANIFEST [--state-dir DIR]\n"
            "                      [--gpus G | --nodes N --gpus-per-node G | --cpu-ranks P]\n"
            "                      [--backend cpu|cuda] [--worker PATH] [--grace SECONDS]\n"
            "                      [--cpus-per-task N] [--configs DIR]\n\n"
            "Validate MANIFEST and plan its shots here, then hand it to ditfarmd (the state\n"
            "directory is --state-dir, else $DITFARM_STATE_DIR, else ~/.local/state/ditfarm).\n"
            "The daemon submits each shot once its `after:` shots are done; follow them\n"
            "with `ditfarm status`.\n");
}

static int parse_int(const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi)
        return cli_usage_error("submit", "%s must be an integer in %d..%d, got '%s'", opt, lo, hi,
                               v);
    *out = (int)x;
    return 0;
}

struct submit_args {
    const char *manifest, *state_dir, *configs, *worker;
    struct jobspec_opts js;
};

static int parse_args(int argc, char **argv, struct submit_args *a)
{
    enum {
        O_STATE = 256,
        O_GPUS,
        O_NODES,
        O_PER,
        O_CPU,
        O_BACKEND,
        O_WORKER,
        O_GRACE,
        O_CPT,
        O_CONFIGS,
        O_HELP
    };
    static const struct option longs[] = {
        {"state-dir", required_argument, 0, O_STATE},
        {"gpus", required_argument, 0, O_GPUS},
        {"nodes", required_argument, 0, O_NODES},
        {"gpus-per-node", required_argument, 0, O_PER},
        {"cpu-ranks", required_argument, 0, O_CPU},
        {"backend", required_argument, 0, O_BACKEND},
        {"worker", required_argument, 0, O_WORKER},
        {"grace", required_argument, 0, O_GRACE},
        {"cpus-per-task", required_argument, 0, O_CPT},
        {"configs", required_argument, 0, O_CONFIGS},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    int ch, rc = 0;
    optind = 1;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case O_STATE:
            a->state_dir = optarg;
            break;
        case O_GPUS:
            rc = parse_int("--gpus", optarg, 1, LAYOUT_MAX_RANKS, &a->js.gpus);
            break;
        case O_NODES:
            rc = parse_int("--nodes", optarg, 1, LAYOUT_MAX_NODES, &a->js.nodes);
            break;
        case O_PER:
            rc =
                parse_int("--gpus-per-node", optarg, 1, LAYOUT_MAX_RANKS_PER_NODE, &a->js.per_node);
            break;
        case O_CPU:
            rc = parse_int("--cpu-ranks", optarg, 1, LAYOUT_MAX_RANKS, &a->js.cpu_ranks);
            break;
        case O_BACKEND:
            a->js.backend = optarg;
            break;
        case O_WORKER:
            a->worker = optarg;
            break;
        case O_GRACE:
            rc = parse_int("--grace", optarg, 10, 65535, &a->js.grace_s);
            break;
        case O_CPT:
            rc = parse_int("--cpus-per-task", optarg, 1, 1024, &a->js.cpus_per_task);
            break;
        case O_CONFIGS:
            a->configs = optarg;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return 1;
        default:
            return cli_usage_error("submit", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind != argc - 1)
        return cli_usage_error("submit", "expected one MANIFEST argument");
    a->manifest = argv[optind];
    const struct jobspec_opts *o = &a->js;
    if ((o->gpus != 0) + (o->nodes != 0 || o->per_node != 0) + (o->cpu_ranks != 0) > 1)
        return cli_usage_error("submit",
                               "give one of --gpus, --nodes/--gpus-per-node, --cpu-ranks");
    if ((o->nodes != 0) != (o->per_node != 0))
        return cli_usage_error("submit", "--nodes and --gpus-per-node go together");
    return 0;
}

static cJSON *request_json(const struct submit_args *a, const struct manifest *m,
                           const char *configs, const char *worker)
{
    cJSON *r = cJSON_CreateObject(), *o = cJSON_CreateObject();
    char src[PATH_MAX];
    cJSON_AddStringToObject(r, "cmd", "submit");
    cJSON_AddStringToObject(r, "path", realpath(a->manifest, src) ? src : a->manifest);
    cJSON_AddStringToObject(r, "configs", configs);
    cJSON_AddItemToObject(r, "manifest", manifest_to_json(m));
    cJSON_AddNumberToObject(o, "cpu_ranks", a->js.cpu_ranks);
    cJSON_AddNumberToObject(o, "gpus", a->js.gpus);
    cJSON_AddNumberToObject(o, "nodes", a->js.nodes);
    cJSON_AddNumberToObject(o, "gpus_per_node", a->js.per_node);
    cJSON_AddNumberToObject(o, "grace", a->js.grace_s);
    cJSON_AddNumberToObject(o, "cpus_per_task", a->js.cpus_per_task);
    if (a->js.backend)
        cJSON_AddStringToObject(o, "backend", a->js.backend);
    cJSON_AddStringToObject(o, "worker", worker);
    cJSON_AddItemToObject(r, "opts", o);
    return r;
}

int cmd_submit(int argc, char **argv, const struct cli_ctx *ctx)
{
    (void)ctx;
    struct submit_args a = {0};
    jobspec_opts_init(&a.js);
    int prc = parse_args(argc, argv, &a);
    if (prc)
        return prc == 1 ? CLI_EXIT_OK : prc;
    char configs[PATH_MAX], configs_abs[PATH_MAX], worker[PATH_MAX], dir[PATH_MAX];
    struct df_err err = {0};
    struct manifest *m = NULL;
    int rc = CLI_EXIT_FAIL;
    char *reply = NULL, *text = NULL;
    cJSON *req = NULL, *rep = NULL;
    if (ctl_state_dir(a.state_dir, dir, sizeof(dir), &err) < 0) {
        fprintf(stderr, "ditfarm submit: %s\n", err.msg);
        goto done;
    }
    if (cli_load_manifest("submit", a.manifest, a.configs, configs, sizeof(configs), &m) < 0)
        goto done;
    /* a layout the planner refuses would only fail later, in the daemon */
    for (size_t i = 0; i < m->n_shots; i++) {
        struct layout lay;
        if (jobspec_plan(&a.js, &m->shots[i], &lay, &err) < 0) {
            fprintf(stderr, "ditfarm submit: %s\n", err.msg);
            goto done;
        }
        char note[512];
        jobspec_grace(&a.js, &m->shots[i], note, sizeof(note));
        if (note[0])
            fprintf(stderr, "ditfarm submit: %s\n", note);
    }
    /* relative outputs are relative to here; the daemon checks them against
     * its own output-roots */
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)) || roots_confine_outputs(m, cwd, NULL, 0, &err) < 0) {
        fprintf(stderr, "ditfarm submit: %s\n", err.msg[0] ? err.msg : "cannot read the current directory");
        goto done;
    }
    if (!realpath(configs, configs_abs))
        snprintf(configs_abs, sizeof(configs_abs), "%s", configs);
    jobspec_find_worker(a.worker, worker, sizeof(worker));
    req = request_json(&a, m, configs_abs, worker);
    text = req ? cJSON_PrintUnformatted(req) : NULL;
    if (!text) {
        fprintf(stderr, "ditfarm submit: out of memory\n");
        goto done;
    }
    if (ctl_request(dir, text, 120, &reply, &err) < 0) {
        fprintf(stderr, "ditfarm submit: %s\n", err.msg);
        goto done;
    }
    rep = cJSON_Parse(reply);
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(rep, "ok");
    if (!cJSON_IsTrue(ok)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(rep, "error");
        fprintf(stderr, "ditfarm submit: %s\n", cJSON_IsString(e) ? e->valuestring : reply);
        goto done;
    }
    const cJSON *s;
    printf("manifest %s: submitted to ditfarmd (%s)\n", m->name, dir);
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(rep, "shots"))
    {
        const char *keys[] = {"shot", "state", "layout", "job_dir"};
        const char *v[4];
        for (int k = 0; k < 4; k++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(s, keys[k]);
            v[k] = cJSON_IsString(x) ? x->valuestring : "?";
        }
        printf("  %s: %s (%s) %s\n", v[0], v[1], v[2], v[3]);
    }
    rc = CLI_EXIT_OK;
done:
    cJSON_Delete(req);
    cJSON_Delete(rep);
    free(text);
    free(reply);
    manifest_free(m);
    return rc;
}
