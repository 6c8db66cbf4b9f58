/*
 * cmd_sbatch.c -- `ditfarm sbatch MANIFEST`: one Slurm batch job per shot.
 *
 * For each shot: plan its layout for the cluster shape (lib/layout.h), make a
 * job directory <jobs-dir>/<manifest>/<shot>/ holding job.json (the shot
 * resolved for the worker, lib/job_contract.h: a drawn seed is kept there, so
 * a requeued job or a second sbatch renders the very same shot), the batch
 * script (job.sbatch, from slurm/shot.sbatch.in), logs/ and ckpt/, next to the
 * normalized manifest written once for all shots (<jobs-dir>/<manifest>/
 * manifest.json).  Output paths are confined to the output roots (roots.h).
 * Without --submit it prints a submit script that works
 * with plain sbatch (dependencies chained through job ids); with --submit it
 * runs sbatch itself and prints the job ids, or Slurm's own error verbatim.
 */
#include "cli.h"
#include "depsched.h"
#include "jobspec.h"
#include "layout.h"
#include "manifest.h"
#include "paths.h"
#include "roots.h"
#include "shellq.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const char sbatch_template[]; /* generated from slurm/shot.sbatch.in */

struct sbatch_opts {
    const char *manifest;
    const char *jobs_dir;     /* NULL: roots_jobs_default */
    const char *output_roots; /* NULL: roots_output_default */
    const char *configs;
    const char *worker;
    int submit;
    int array;              /* group independent shots with equal resources into job arrays */
    int throttle;           /* --array=...%throttle: tasks running at once (0: no limit) */
    int max_shots;          /* a bigger manifest is refused (--max-shots) */
    const char *only[256];
    int n_only;
    struct jobspec_opts js; /* cluster shape, backend, grace, worker arguments */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ditfarm sbatch MANIFEST [--submit] [--jobs-dir DIR] [--output-root DIR[:DIR]...]\n"
            "                      [--shot ID]... [--max-shots N]\n"
            "                      [--gpus G | --nodes N --gpus-per-node G | --cpu-ranks P]\n"
            "                      [--backend cpu|cuda] [--worker PATH] [--grace SECONDS]\n"
            "                      [--array [--throttle N]]\n"
            "                      [--cpus-per-task N] [--configs DIR] [--worker-arg ARG]...\n\n"
            "Write one Slurm batch job per shot (job directory, normalized manifest, script)\n"
            "and print a submit script that works with plain sbatch; --submit runs sbatch.\n"
            "Default cluster: one node with 8 GPUs; --cpu-ranks P plans CPU ranks instead.\n"
            "Job directories go under --jobs-dir, else $DITFARM_JOBS_DIR, else\n"
            "<state-dir>/jobs; outputs must lie under --output-root, else\n"
            "$DITFARM_OUTPUT_ROOTS, else the current directory (relative paths go there).\n"
            "A manifest of more than --max-shots shots (10000) is refused.\n");
}

static int parse_pos(const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi)
        return cli_usage_error("sbatch", "%s must be an integer in %d..%d, got '%s'", opt, lo,
                               hi, v);
    *out = (int)x;
    return 0;
}

static int parse_args(int argc, char **argv, struct sbatch_opts *o)
{
    enum { O_SUBMIT = 256, O_JOBS, O_SHOT, O_GPUS, O_NODES, O_PER, O_CPU, O_BACKEND, O_WORKER,
           O_GRACE, O_CPT, O_CONFIGS, O_WARG, O_ARRAY, O_THROTTLE, O_OUTROOT, O_MAXSHOTS, O_HELP };
    static const struct option longs[] = {
        {"submit", no_argument, 0, O_SUBMIT},          {"jobs-dir", required_argument, 0, O_JOBS},
        {"shot", required_argument, 0, O_SHOT},        {"gpus", required_argument, 0, O_GPUS},
        {"nodes", required_argument, 0, O_NODES},      {"gpus-per-node", required_argument, 0, O_PER},
        {"cpu-ranks", required_argument, 0, O_CPU},    {"backend", required_argument, 0, O_BACKEND},
        {"worker", required_argument, 0, O_WORKER},    {"grace", required_argument, 0, O_GRACE},
        {"cpus-per-task", required_argument, 0, O_CPT}, {"configs", required_argument, 0, O_CONFIGS},
        {"worker-arg", required_argument, 0, O_WARG},  {"help", no_argument, 0, O_HELP},
        {"array", no_argument, 0, O_ARRAY},            {"throttle", required_argument, 0, O_THROTTLE},
        {"output-root", required_argument, 0, O_OUTROOT},
        {"max-shots", required_argument, 0, O_MAXSHOTS},
        {0, 0, 0, 0},
    };
    int ch, rc = 0;
    optind = 1;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case O_SUBMIT: o->submit = 1; break;
        case O_JOBS: o->jobs_dir = optarg; break;
        case O_OUTROOT: o->output_roots = optarg; break;
        case O_MAXSHOTS: rc = parse_pos("--max-shots", optarg, 1, 1000000, &o->max_shots); break;
        case O_SHOT:
            if (o->n_only == 256)
                return cli_usage_error("sbatch", "too many --shot options");
            o->only[o->n_only++] = optarg;
            break;
        case O_GPUS: rc = parse_pos("--gpus", optarg, 1, LAYOUT_MAX_RANKS, &o->js.gpus); break;
        case O_NODES: rc = parse_pos("--nodes", optarg, 1, LAYOUT_MAX_NODES, &o->js.nodes); break;
        case O_PER: rc = parse_pos("--gpus-per-node", optarg, 1, LAYOUT_MAX_RANKS_PER_NODE, &o->js.per_node); break;
        case O_CPU: rc = parse_pos("--cpu-ranks", optarg, 1, LAYOUT_MAX_RANKS, &o->js.cpu_ranks); break;
        case O_BACKEND: o->js.backend = optarg; break;
        case O_WORKER: o->worker = optarg; break;
        case O_GRACE: rc = parse_pos("--grace", optarg, 10, 65535, &o->js.grace_s); break;
        case O_CPT: rc = parse_pos("--cpus-per-task", optarg, 1, 1024, &o->js.cpus_per_task); break;
        case O_CONFIGS: o->configs = optarg; break;
        case O_ARRAY: o->array = 1; break;
        case O_THROTTLE:
            rc = parse_pos("--throttle", optarg, 1, 100000, &o->throttle);
            o->array = 1;
            break;
        case O_WARG: {
            struct df_err e = {0};
            if (jobspec_add_worker_arg(&o->js, optarg, &e) < 0)
                return cli_usage_error("sbatch", "--worker-arg: %s", e.msg);
            break;
        }
        case 'h':
        case O_HELP: usage(stdout); return 1;
        default: return cli_usage_error("sbatch", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind != argc - 1)
        return cli_usage_error("sbatch", "expected one MANIFEST argument");
    o->manifest = argv[optind];
    if ((o->js.gpus != 0) + (o->js.nodes != 0 || o->js.per_node != 0) + (o->js.cpu_ranks != 0) > 1)
        return cli_usage_error("sbatch", "give one of --gpus, --nodes/--gpus-per-node, --cpu-ranks");
    if ((o->js.nodes != 0) != (o->js.per_node != 0))
        return cli_usage_error("sbatch", "--nodes and --gpus-per-node go together");
    return 0;
}

/* ---- submission ------------------------------------------------------------ */

/* Shots in an order where every dependency comes first, so its job id exists
 * (lib/depsched.h; the manifest has no cycles: the loader refuses them); ties
 * keep manifest order. */
static size_t topo_order(const struct manifest *m, const int *selected, int *order)
{
    struct dep_node *n = calloc(m->n_shots ? m->n_shots : 1, sizeof(*n));
    if (!n)
        return 0;
    depsched_from_manifest(m, n);
    for (size_t i = 0; i < m->n_shots; i++)
        if (!selected[i])
            n[i].state = DEP_STATE_IGNORED;
    size_t count = depsched_order(n, m->n_shots, order);
    free(n);
    return count;
}

/* The dependencies of s among the selected shots: for the printed script,
 * "--dependency=afterok:$job_1:$job_4 --kill-on-invalid-dep=yes" (shell
 * variables named by manifest index: our own names, never a shot id); for
 * --submit, the job ids joined by ':' (jobspec_submit_argv adds the flags). */
static void dependency_flag(const struct manifest *m, const struct shot *s, const int *selected,
                            char ids[][32], int as_vars, char *dst, size_t cap)
{
    size_t len = 0;
    dst[0] = '\0';
    for (size_t k = 0; k < s->n_after; k++) {
        int d = manifest_find_shot(m, s->after[k]);
        if (d < 0 || !selected[d])
            continue;
        if (as_vars)
            len += (size_t)snprintf(dst + len, cap - len, "%s$job_%d",
                                    len ? ":" : "--dependency=afterok:", d);
        else
            len += (size_t)snprintf(dst + len, cap - len, "%s%s", len ? ":" : "", ids[d]);
        if (len >= cap)
            break;
    }
    if (as_vars && len && len < cap)
        snprintf(dst + len, cap - len, " --kill-on-invalid-dep=yes");
}

/* ---- job arrays ------------------------------------------------------------ */

/* Shots without (selected) dependencies whose batch scripts would differ only
 * in the shot share one array job: Slurm schedules them as one submission and
 * --throttle caps how many run at once. */
struct array_group {
    int n;                          /* members */
    int *shot;                      /* [n] manifest indexes, in submit order */
    char script[PATH_MAX + 64];     /* the array's batch script */
};

struct array_member {
    struct array_group *g; /* NULL: submitted alone */
    int idx;               /* task index in g */
};

static int has_selected_deps(const struct manifest *m, const struct shot *s, const int *selected)
{
    for (size_t k = 0; k < s->n_after; k++) {
        int d = manifest_find_shot(m, s->after[k]);
        if (d >= 0 && selected[d])
            return 1;
    }
    return 0;
}

static int group_arrays(const struct sbatch_opts *o, const struct manifest *m, const int *selected,
                        const int *order, size_t n, const struct jobspec *jobs, const char *date,
                        struct array_member *mem, struct df_err *err)
{
    char *keys = calloc(n ? n : 1, 1024);
    DF_FAIL_IF(!keys, err, DF_E_NOMEM, "out of memory");
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        int i = order[k];
        if (mem[i].g || has_selected_deps(m, &m->shots[i], selected))
            continue;
        jobspec_array_key(&o->js, m, &m->shots[i], &jobs[i].lay, keys + k * 1024, 1024);
        /* gather every later shot with the same key */
        int members = 1;
        for (size_t q = k + 1; q < n; q++) {
            int jq = order[q];
            if (mem[jq].g || has_selected_deps(m, &m->shots[jq], selected))
                continue;
            jobspec_array_key(&o->js, m, &m->shots[jq], &jobs[jq].lay, keys + q * 1024, 1024);
            members += strcmp(keys + k * 1024, keys + q * 1024) == 0;
        }
        if (members < 2)
            continue;
        struct array_group *g = calloc(1, sizeof(*g));
        int *idx = g ? calloc((size_t)members, sizeof(int)) : NULL;
        const struct shot **shots = idx ? calloc((size_t)members, sizeof(*shots)) : NULL;
        struct jobspec *js = shots ? calloc((size_t)members, sizeof(*js)) : NULL;
        if (!js) {
            free(g), free(idx), free(shots);
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
            break;
        }
        g->shot = idx;
        for (size_t q = k; q < n; q++) {
            int jq = order[q];
            if (q != k && (mem[jq].g || has_selected_deps(m, &m->shots[jq], selected) ||
                           strcmp(keys + k * 1024, keys + q * 1024) != 0))
                continue;
            mem[jq].g = g;
            mem[jq].idx = g->n;
            shots[g->n] = &m->shots[jq];
            js[g->n] = jobs[jq];
            g->shot[g->n++] = jq;
        }
        rc = jobspec_write_array(&o->js, m, shots, js, g->n, o->throttle, date, g->script,
                                 sizeof(g->script), err);
        free(shots);
        free(js);
        if (rc < 0)
            break;
    }
    free(keys);
    return rc;
}

/* Submit (or print) one array; members' job ids become "<array>_<task>". */
static int submit_array(const struct sbatch_opts *o, const struct manifest *m,
                        struct array_group *g, char ids[][32], struct df_err *err)
{
    if (!o->submit) {
        char q[PATH_MAX + 128];
        DF_TRY(shellq_quote(g->script, q, sizeof(q), err));
        printf("# job array: %d shots\narr_%d=$(sbatch --parsable %s)\n", g->n, g->shot[0], q);
        for (int t = 0; t < g->n; t++)
            printf("job_%d=\"${arr_%d}_%d\"; echo \"%s: job $job_%d\"\n", g->shot[t], g->shot[0],
                   t, m->shots[g->shot[t]].id, g->shot[t]);
        return 0;
    }
    char aid[32];
    DF_TRY(jobspec_submit("", g->script, aid, sizeof(aid), err));
    for (int t = 0; t < g->n; t++) {
        snprintf(ids[g->shot[t]], sizeof(ids[0]), "%.20s_%d", aid, t);
        printf("%s: job %s (array task %d of %d)\n", m->shots[g->shot[t]].id, ids[g->shot[t]], t,
               g->n);
    }
    return 0;
}

static void free_arrays(struct array_member *mem, size_t n)
{
    if (!mem)
        return;
    for (size_t i = 0; i < n; i++) {
        struct array_group *g = mem[i].g;
        if (!g || mem[i].idx != 0)
            continue;
        free(g->shot);
        free(g);
    }
}

/* Submit the written jobs in dependency order (or, without --submit, print
 * the sh script that would); arrays go with their first shot.  Prints what
 * failed.  Returns a CLI exit code. */
static int submit_all(const struct sbatch_opts *o, const struct manifest *m, const int *selected,
                      const int *order, size_t n, const struct jobspec *jobs, char (*ids)[32],
                      const struct array_member *groups)
{
    struct df_err err = {0};
    if (!o->submit)
        printf("#!/bin/sh\n# Submit manifest %s (%zu shot%s) with plain sbatch.\nset -e\n", m->name,
               n, n == 1 ? "" : "s");
    for (size_t k = 0; k < n; k++) {
        const struct shot *s = &m->shots[order[k]];
        const struct jobspec *j = &jobs[order[k]];
        struct array_group *g = groups[order[k]].g;
        char deps[1024], desc[256];
        layout_describe(&j->lay, desc, sizeof(desc));
        if (g && groups[order[k]].idx > 0)
            continue; /* submitted with the first shot of its array */
        if (g) {
            if (submit_array(o, m, g, ids, &err) < 0) {
                fprintf(stderr, "ditfarm sbatch: %s\n", err.msg);
                return CLI_EXIT_FAIL;
            }
            continue;
        }
        dependency_flag(m, s, selected, ids, !o->submit, deps, sizeof(deps));
        if (!o->submit) {
            /* ids are identifiers (ident.h); the path is quoted */
            char q[PATH_MAX + 128];
            if (shellq_quote(j->script, q, sizeof(q), &err) < 0) {
                fprintf(stderr, "ditfarm sbatch: %s\n", err.msg);
                return CLI_EXIT_FAIL;
            }
            printf("# %s: %s\njob_%d=$(sbatch --parsable %s %s)\necho \"%s: job $job_%d\"\n",
                   s->id, desc, order[k], deps, q, s->id, order[k]);
            continue;
        }
        if (jobspec_submit(deps, j->script, ids[order[k]], sizeof(ids[0]), &err) < 0) {
            fprintf(stderr, "ditfarm sbatch: shot %s: %s\n", s->id, err.msg);
            return CLI_EXIT_FAIL;
        }
        printf("%s: job %s (%s) %s\n", s->id, ids[order[k]], desc, j->dir);
    }
    return CLI_EXIT_OK;
}

int cmd_sbatch(int argc, char **argv, const struct cli_ctx *ctx)
{
    (void)ctx;
    struct sbatch_opts o = {.max_shots = 10000};
    jobspec_opts_init(&o.js);
    int prc = parse_args(argc, argv, &o);
    if (prc)
        return prc == 1 ? CLI_EXIT_OK : prc;

    char worker[PATH_MAX], jobs_dir[PATH_MAX], out_roots[4096];
    struct df_err err = {0};
    struct manifest *m = NULL;
    if ((!o.jobs_dir && roots_jobs_default(jobs_dir, sizeof(jobs_dir), &err) < 0) ||
        (!o.output_roots && roots_output_default(out_roots, sizeof(out_roots), &err) < 0)) {
        fprintf(stderr, "ditfarm sbatch: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    if (o.jobs_dir)
        snprintf(jobs_dir, sizeof(jobs_dir), "%s", o.jobs_dir);
    if (o.output_roots)
        snprintf(out_roots, sizeof(out_roots), "%s", o.output_roots);
    o.jobs_dir = jobs_dir;
    char configs[PATH_MAX], configs_abs[PATH_MAX];
    if (cli_load_manifest("sbatch", o.manifest, o.configs, configs, sizeof(configs), &m) < 0)
        return CLI_EXIT_FAIL;
    /* job.json names it for the step cache's calibration tables */
    o.js.configs_dir = realpath(configs, configs_abs) ? configs_abs : configs;
    jobspec_find_worker(o.worker, worker, sizeof(worker));
    o.js.worker = worker;
    o.js.output_roots = out_roots;

    if (m->n_shots > (size_t)o.max_shots) {
        fprintf(stderr, "ditfarm sbatch: %s: %zu shots, more than --max-shots (%d)\n", o.manifest,
                m->n_shots, o.max_shots);
        manifest_free(m);
        return CLI_EXIT_FAIL;
    }
    int rc = CLI_EXIT_OK;
    size_t ns = m->n_shots ? m->n_shots : 1;
    int *selected = calloc(ns, sizeof(int)), *order = calloc(ns, sizeof(int));
    struct jobspec *jobs = calloc(ns, sizeof(*jobs));
    char(*ids)[32] = calloc(ns, sizeof(*ids));
    struct array_member *groups = calloc(ns, sizeof(*groups));
    if (!selected || !order || !jobs || !ids || !groups) {
        fprintf(stderr, "ditfarm sbatch: out of memory\n");
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    for (size_t i = 0; i < m->n_shots; i++)
        selected[i] = o.n_only == 0;
    for (int k = 0; k < o.n_only; k++) {
        int i = manifest_find_shot(m, o.only[k]);
        if (i < 0) {
            fprintf(stderr, "ditfarm sbatch: %s has no shot '%s'\n", o.manifest, o.only[k]);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        selected[i] = 1;
    }
    char date[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    size_t n = topo_order(m, selected, order);
    if (roots_confine_outputs(m, out_roots, date, 1, &err) < 0 ||
        jobspec_write_manifest(m, o.jobs_dir, &err) < 0) {
        fprintf(stderr, "ditfarm sbatch: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        char note[512];
        jobspec_grace(&o.js, &m->shots[order[k]], note, sizeof(note));
        if (note[0])
            fprintf(stderr, "ditfarm sbatch: %s\n", note);
    }
    for (size_t k = 0; k < n; k++) {
        const struct shot *s = &m->shots[order[k]];
        if (jobspec_write(&o.js, m, s, date, o.jobs_dir, &jobs[order[k]], &err) < 0) {
            fprintf(stderr, "ditfarm sbatch: %s\n", err.msg);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    }
    if (o.array && group_arrays(&o, m, selected, order, n, jobs, date, groups, &err) < 0) {
        fprintf(stderr, "ditfarm sbatch: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    rc = submit_all(&o, m, selected, order, n, jobs, ids, groups);
done:
    free_arrays(groups, ns);
    free(groups);
    free(selected);
    free(order);
    free(jobs);
    free(ids);
    manifest_free(m);
    return rc;
}
