/*
 * cmd_plan.c -- `ditfarm plan`: the layout the planner picks for each shot,
 * its predicted time per step, and the next alternatives with why they lose.
 *
 *     ditfarm plan shots.yaml --nodes 2 --gpus-per-node 8
 *     ditfarm plan --model wan2.1-t2v-1.3b --width 832 --height 480 --frames 81 --gpus 7
 *     ditfarm plan ... --json          (one JSON document on stdout, for tools)
 *
 * The daemon plans with the same layout_plan() call (lib/layout.h), so what
 * this prints is what a submitted job runs.  Exit 0 when every shot has a
 * layout, 1 when a shot cannot be planned (the message says why), 2 for a bad
 * command line.
 */
#include "cli.h"
#include "job_contract.h"
#include "plan_cache.h"
#include "layout.h"
#include "manifest.h"
#include "model_geom.h"
#include "paths.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_ALTS 2    /* alternatives shown after the chosen layout */
#define UNSET INT_MIN  /* a cluster flag not given (0 and negatives go to the planner) */

struct plan_opts {
    const char *manifest;
    const char *model;
    int width, height, frames;
    int nodes, per_node; /* UNSET when not given */
    int gpus, cpu_ranks;
    int exact, no_cfg, json;
    double mem_gb;
    const char *configs;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ditfarm plan MANIFEST [CLUSTER] [--json]\n"
            "       ditfarm plan --model NAME --width W --height H --frames F [CLUSTER] [--json]\n"
            "\n"
            "Pick the cfg x ulysses x ring layout of each shot, predict its time per step and\n"
            "say why the next %d alternatives lose.\n"
            "\n"
            "cluster (default: one node of 8 GPUs):\n"
            "  --gpus G                 one node with G GPUs\n"
            "  --nodes N --gpus-per-node G\n"
            "  --cpu-ranks P            P CPU ranks on one machine (CPU cost profile)\n"
            "  --exact                  use every rank (as when mpirun -n P already started them)\n"
            "  --mem-gb X               memory per rank, 1e9 bytes (default: an H100's 80 GB; "
            "CPU: unlimited)\n"
            "shot (without a manifest):\n"
            "  --model NAME|PATH --width W --height H --frames F\n"
            "  --no-cfg                 the shot has no classifier-free guidance (one branch)\n"
            "other:\n"
            "  --configs DIR            where models/<name>.yaml live\n"
            "  --json                   one JSON document on stdout\n",
            PLAN_ALTS);
}

/* Strict integer parse: the whole string, in [INT_MIN, INT_MAX]. */
static int parse_int(const char *flag, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= INT_MIN || v > INT_MAX)
        return cli_usage_error("plan", "%s expects an integer, got '%s'", flag, s);
    *out = (int)v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct plan_opts *o)
{
    enum { O_GPUS = 256, O_NODES, O_PER_NODE, O_CPU, O_EXACT, O_MEM, O_MODEL, O_W, O_H, O_F,
           O_NOCFG, O_CONFIGS, O_JSON, O_HELP };
    static const struct option longs[] = {
        {"gpus", required_argument, NULL, O_GPUS},
        {"nodes", required_argument, NULL, O_NODES},
        {"gpus-per-node", required_argument, NULL, O_PER_NODE},
        {"cpu-ranks", required_argument, NULL, O_CPU},
        {"exact", no_argument, NULL, O_EXACT},
        {"mem-gb", required_argument, NULL, O_MEM},
        {"model", required_argument, NULL, O_MODEL},
        {"width", required_argument, NULL, O_W},
        {"height", required_argument, NULL, O_H},
        {"frames", required_argument, NULL, O_F},
        {"no-cfg", no_argument, NULL, O_NOCFG},
        {"configs", required_argument, NULL, O_CONFIGS},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int ch, rc = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case O_GPUS: rc = parse_int("--gpus", optarg, &o->gpus); break;
        case O_NODES: rc = parse_int("--nodes", optarg, &o->nodes); break;
        case O_PER_NODE: rc = parse_int("--gpus-per-node", optarg, &o->per_node); break;
        case O_CPU: rc = parse_int("--cpu-ranks", optarg, &o->cpu_ranks); break;
        case O_EXACT: o->exact = 1; break;
        case O_MEM: {
            char *end;
            o->mem_gb = strtod(optarg, &end);
            if (end == optarg || *end || !(o->mem_gb > 0))
                rc = cli_usage_error("plan", "--mem-gb expects a positive number, got '%s'", optarg);
            break;
        }
        case O_MODEL: o->model = optarg; break;
        case O_W: rc = parse_int("--width", optarg, &o->width); break;
        case O_H: rc = parse_int("--height", optarg, &o->height); break;
        case O_F: rc = parse_int("--frames", optarg, &o->frames); break;
        case O_NOCFG: o->no_cfg = 1; break;
        case O_CONFIGS: o->configs = optarg; break;
        case O_JSON: o->json = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return 1;
        default:
            return cli_usage_error("plan", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        o->manifest = argv[optind++];
    if (optind < argc)
        return cli_usage_error("plan", "unexpected argument '%s'", argv[optind]);
    if (!o->manifest == !o->model)
        return cli_usage_error("plan", o->model ? "give a MANIFEST or --model, not both"
                                                : "give a MANIFEST, or --model with --width "
                                                  "--height --frames");
    if (o->model && (!o->width || !o->height || !o->frames))
        return cli_usage_error("plan", "--model needs --width, --height and --frames");
    if (o->manifest && (o->width || o->height || o->frames || o->no_cfg))
        return cli_usage_error("plan", "--width/--height/--frames/--no-cfg go with --model "
                                       "(a manifest gives them per shot)");
    int kinds = (o->gpus != UNSET) + (o->nodes != UNSET || o->per_node != UNSET) +
                (o->cpu_ranks != UNSET);
    if (kinds > 1)
        return cli_usage_error("plan", "give one of --gpus, --nodes/--gpus-per-node, --cpu-ranks");
    if ((o->nodes != UNSET) != (o->per_node != UNSET))
        return cli_usage_error("plan", "--nodes and --gpus-per-node go together");
    return 0;
}

static struct cluster_shape cluster_of(const struct plan_opts *o)
{
    struct cluster_shape c = {.nodes = 1, .ranks_per_node = 8, .use_all = o->exact};
    if (o->gpus != UNSET)
        c.ranks_per_node = o->gpus;
    if (o->nodes != UNSET) {
        c.nodes = o->nodes;
        c.ranks_per_node = o->per_node;
    }
    if (o->cpu_ranks != UNSET) {
        c.device = LAYOUT_DEVICE_CPU;
        c.ranks_per_node = o->cpu_ranks;
    }
    c.mem_per_rank = o->mem_gb * 1e9;
    return c;
}

/* ---- one shot ------------------------------------------------------------- */

struct shot_req {
    const struct shot *shot;  /* the manifest's shot, or NULL (a --model question) */
    const char *id;
    const struct model_geom *g;
    const struct model_grid *grid;
    int width, height, frames;
    int cfg_branches;
    int cfg_together;
    int max_gpus;
    const char *manifest;     /* for the step-cache prediction; NULL: none */
    const char *configs;      /* the configs dir the plan used (passed on to the worker) */
    int cached;               /* the shot's cache policy is not off */
};

static void print_layout_text(const struct shot_req *s, const struct layout *l, int n)
{
    char line[256], tb[32], tc[32], tu[32], tr[32], tf[32], map[2048];
    const struct layout *b = &l[0];
    printf("shot %s: %s %dx%d, %d frames -> %dx%dx%d tokens = %lld%s, %s\n", s->id, s->g->name,
           s->width, s->height, s->frames, s->grid->tokens[0], s->grid->tokens[1],
           s->grid->tokens[2], (long long)s->grid->seq_len,
           s->g->joint_text ? " (with text)" : "",
           s->cfg_branches == 2 ? "CFG (2 branches)" : "no CFG");
    layout_describe(b, line, sizeof(line));
    printf("  chosen   %s\n", line);
    layout_fmt_time(b->t_step, tb, sizeof(tb));
    layout_fmt_time(b->t_compute, tc, sizeof(tc));
    layout_fmt_time(b->t_uly, tu, sizeof(tu));
    layout_fmt_time(b->t_ring, tr, sizeof(tr));
    layout_fmt_time(b->t_cfg, tf, sizeof(tf));
    printf("  step     %s predicted (compute %s, all-to-all %s, ring %s exposed, cfg %s)\n", tb,
           tc, tu, tr, tf);
    if (b->pad_tokens)
        printf("  tokens   %lld per rank; %lld + %lld pad = %lld (%.2f%% padding, last rank "
               "%lld real)\n", (long long)b->chunk, (long long)b->seq_len,
               (long long)b->pad_tokens, (long long)b->seq_padded, b->pad_pct,
               (long long)b->last_valid);
    else
        printf("  tokens   %lld per rank, no padding\n", (long long)b->chunk);
    if (b->mem_capacity > 0)
        printf("  memory   %.1f GiB per rank of %.1f GiB\n", b->mem_per_rank / (1 << 30),
               b->mem_capacity / (1 << 30));
    else
        printf("  memory   %.1f GiB per rank\n", b->mem_per_rank / (1 << 30));
    if (s->max_gpus > 0 && b->ranks_offered == s->max_gpus)
        printf("  cap      resources.max_gpus = %d\n", s->max_gpus);
    printf("  why      %s\n", b->why);
    if (b->idle[0])
        printf("  idle     %s\n", b->idle);
    layout_describe_map(b, 4, map, sizeof(map));
    const char *p = map;
    for (int first = 1; *p; first = 0) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        printf("  %-8s %.*s\n", first ? "ranks" : "", len, p);
        p += len + (nl != NULL);
    }
    for (int i = 1; i < n; i++) {
        layout_describe(&l[i], line, sizeof(line));
        printf("  alt %d    %s: %s\n", i, line, l[i].why);
    }
    if (n == 1)
        printf("  alt      none: no other layout is legal here\n");
}

static cJSON *shot_json(const struct shot_req *s, const struct layout *l, int n,
                        const char *error)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "model", s->g ? s->g->name : "");
    cJSON_AddNumberToObject(o, "width", s->width);
    cJSON_AddNumberToObject(o, "height", s->height);
    cJSON_AddNumberToObject(o, "frames", s->frames);
    cJSON_AddNumberToObject(o, "cfg_branches", s->cfg_branches);
    if (s->grid) {
        cJSON_AddNumberToObject(o, "tokens", (double)s->grid->seq_len);
        cJSON *t = cJSON_AddArrayToObject(o, "token_grid");
        for (int i = 0; t && i < 3; i++)
            cJSON_AddItemToArray(t, cJSON_CreateNumber(s->grid->tokens[i]));
    }
    if (error) {
        cJSON_AddStringToObject(o, "error", error);
        return o;
    }
    cJSON_AddItemToObject(o, "chosen", layout_to_json(&l[0]));
    cJSON *alts = cJSON_AddArrayToObject(o, "alternatives");
    for (int i = 1; alts && i < n; i++)
        cJSON_AddItemToArray(alts, layout_to_json(&l[i]));
    return o;
}

/* The step-cache line: the mask's passes and the step time it predicts. */
static void print_cache_text(const struct layout *l, const cJSON *cache, const char *error)
{
    if (error) {
        printf("  cache    no prediction: %s\n", error);
        return;
    }
    if (!cache)
        return;
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(cache, "policy");
    const cJSON *pc = cJSON_GetObjectItemCaseSensitive(cache, "passes_computed");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(cache, "passes_total");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cache, "predicted_speedup");
    if (!cJSON_IsString(pol) || !cJSON_IsNumber(pc) || !cJSON_IsNumber(pt) || !cJSON_IsNumber(sp) ||
        !(sp->valuedouble > 0))
        return;
    char t[32];
    layout_fmt_time(l->t_step / sp->valuedouble, t, sizeof(t));
    printf("  cache    %s: %d of %d passes compute the blocks; predicted %.2fx faster, %s per "
           "step\n",
           pol->valuestring, pc->valueint, pt->valueint, sp->valuedouble, t);
}

/* Plan one shot; prints text or adds to `shots` (JSON).  Returns 0 or -1. */
static int plan_shot(const struct shot_req *s, const struct cluster_shape *base, cJSON *shots)
{
    struct cluster_shape c = *base;
    c.cfg_branches = s->cfg_branches;
    c.cfg_together = s->cfg_together;
    c.max_ranks = s->max_gpus;
    struct layout l[1 + PLAN_ALTS];
    int n = 0;
    struct df_err err = {0};
    /* a shot is planned by the call sbatch, the daemon and job.json use */
    int rc = s->shot ? job_contract_plan(s->shot, base, l, 1 + PLAN_ALTS, &n, &err)
                     : layout_plan(s->g, s->grid, &c, NULL, l, 1 + PLAN_ALTS, &n, &err);
    if (rc < 0)
        fprintf(stderr, "ditfarm plan: shot %s: %s\n", s->id, err.msg);
    cJSON *cache = NULL;
    struct df_err cerr = {0};
    int crc = rc == 0 && s->cached ? plan_cache_predict(s->manifest, s->id, s->configs, &cache, &cerr) : 0;
    if (shots) {
        cJSON *j = shot_json(s, l, n, rc < 0 ? err.msg : NULL);
        if (j && cache)
            cJSON_AddItemToObject(j, "cache", cache), cache = NULL;
        else if (j && crc < 0)
            cJSON_AddStringToObject(j, "cache_error", cerr.msg);
        cJSON_AddItemToArray(shots, j);
    } else if (rc == 0) {
        print_layout_text(s, l, n);
        print_cache_text(l, cache, crc < 0 ? cerr.msg : NULL);
    }
    cJSON_Delete(cache);
    return rc < 0 ? -1 : 0;
}

/* ---- the two sources of shots --------------------------------------------- */

static int plan_model(const struct plan_opts *o, const char *configs,
                      const struct cluster_shape *c, cJSON *shots)
{
    struct model_geom g;
    struct model_grid grid;
    struct df_err err = {0};
    if (model_geom_load(o->model, configs, &g, &err) < 0 ||
        model_geom_grid(&g, o->width, o->height, o->frames, &grid, &err) < 0) {
        fprintf(stderr, "ditfarm plan: %s\n", err.msg);
        return -1;
    }
    struct shot_req s = {.id = "cli", .g = &g, .grid = &grid, .width = o->width,
                         .height = o->height, .frames = o->frames,
                         .cfg_branches = o->no_cfg ? 1 : 2};
    return plan_shot(&s, c, shots);
}

static int plan_manifest(const struct plan_opts *o, const char *configs,
                         const struct cluster_shape *c, cJSON *shots)
{
    struct manifest *m = NULL;
    struct diag_list dl = {0};
    struct df_err err = {0};
    if (manifest_load(o->manifest, configs, &m, &dl, &err) < 0) {
        for (size_t i = 0; i < dl.count; i++) {
            char line[DIAG_LINE_CAP];
            diag_format(&dl.items[i], line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
        if (dl.count == 0)
            fprintf(stderr, "ditfarm plan: %s\n", err.msg);
        diag_list_clear(&dl);
        return -1;
    }
    diag_list_clear(&dl);
    int rc = 0;
    for (size_t i = 0; i < m->n_shots; i++) {
        const struct shot *sh = &m->shots[i];
        struct shot_req s = {.shot = sh, .id = sh->id, .g = &sh->geom, .grid = &sh->grid,
                             .width = sh->width, .height = sh->height, .frames = sh->frames,
                             /* the one guidance rule the worker runs (lib/manifest.h) */
                             .cfg_branches = shot_guided(sh) ? 2 : 1,
                             .cfg_together = layout_shot_cfg_together(sh),
                             .max_gpus = sh->resources.max_gpus,
                             .manifest = o->manifest,
                             .configs = configs,
                             .cached = sh->cache.policy != CACHE_POLICY_OFF};
        if (!shots && i > 0)
            printf("\n");
        if (plan_shot(&s, c, shots) < 0)
            rc = -1;
    }
    manifest_free(m);
    return rc;
}

int cmd_plan(int argc, char **argv, const struct cli_ctx *ctx)
{
    (void)ctx;
    struct plan_opts o = {.nodes = UNSET, .per_node = UNSET, .gpus = UNSET, .cpu_ranks = UNSET};
    int rc = parse_opts(argc, argv, &o);
    if (rc == 1)
        return CLI_EXIT_OK; /* --help */
    if (rc)
        return rc;
    char configs[PATH_MAX];
    struct df_err err = {0};
    if (paths_configs_dir(o.configs, configs, sizeof(configs), &err) < 0) {
        fprintf(stderr, "ditfarm plan: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    struct cluster_shape c = cluster_of(&o);
    cJSON *doc = NULL, *shots = NULL;
    if (o.json) {
        doc = cJSON_CreateObject();
        cJSON *cl = cJSON_AddObjectToObject(doc, "cluster");
        cJSON_AddNumberToObject(cl, "nodes", c.nodes);
        cJSON_AddNumberToObject(cl, "ranks_per_node", c.ranks_per_node);
        cJSON_AddStringToObject(cl, "device", layout_device_name(c.device));
        cJSON_AddBoolToObject(cl, "exact", c.use_all);
        shots = cJSON_AddArrayToObject(doc, "shots");
        if (!shots) {
            cJSON_Delete(doc);
            fprintf(stderr, "ditfarm plan: out of memory\n");
            return CLI_EXIT_FAIL;
        }
    }
    rc = o.model ? plan_model(&o, configs, &c, shots) : plan_manifest(&o, configs, &c, shots);
    if (doc) {
        char *txt = cJSON_Print(doc);
        if (txt)
            printf("%s\n", txt);
        free(txt);
        cJSON_Delete(doc);
    }
    return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
