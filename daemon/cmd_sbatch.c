/*
 * cmd_sbatch.c -- `ditfarm sbatch MANIFEST`: one Slurm batch job per shot.
 *
 * For each shot: plan its layout for the cluster shape (lib/layout.h), make a
 * job directory <jobs-dir>/<manifest>/<shot>/ holding the normalized manifest
 * (manifest.json: defaults applied, seeds drawn, so a requeued job renders the
 * very same shot), the batch script (job.sbatch, from slurm/shot.sbatch.in),
 * logs/ and ckpt/.  Without --submit it prints a submit script that works
 * with plain sbatch (dependencies chained through job ids); with --submit it
 * runs sbatch itself and prints the job ids, or Slurm's own error verbatim.
 */
#include "cli.h"
#include "layout.h"
#include "manifest.h"
#include "paths.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const char sbatch_template[]; /* generated from slurm/shot.sbatch.in */

struct sbatch_opts {
    const char *manifest;
    const char *jobs_dir;
    const char *configs;
    const char *backend;
    const char *worker;
    int gpus, nodes, per_node, cpu_ranks;
    int grace_s;
    int cpus_per_task;
    int submit;
    const char *only[256];
    int n_only;
    char worker_args[1024]; /* extra worker arguments, shell-quoted */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ditfarm sbatch MANIFEST [--submit] [--jobs-dir DIR] [--shot ID]...\n"
            "                      [--gpus G | --nodes N --gpus-per-node G | --cpu-ranks P]\n"
            "                      [--backend cpu|cuda] [--worker PATH] [--grace SECONDS]\n"
            "                      [--cpus-per-task N] [--configs DIR] [--worker-arg ARG]...\n\n"
            "Write one Slurm batch job per shot (job directory, normalized manifest, script)\n"
            "and print a submit script that works with plain sbatch; --submit runs sbatch.\n"
            "Default cluster: one node with 8 GPUs; --cpu-ranks P plans CPU ranks instead.\n");
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
           O_GRACE, O_CPT, O_CONFIGS, O_WARG, O_HELP };
    static const struct option longs[] = {
        {"submit", no_argument, 0, O_SUBMIT},          {"jobs-dir", required_argument, 0, O_JOBS},
        {"shot", required_argument, 0, O_SHOT},        {"gpus", required_argument, 0, O_GPUS},
        {"nodes", required_argument, 0, O_NODES},      {"gpus-per-node", required_argument, 0, O_PER},
        {"cpu-ranks", required_argument, 0, O_CPU},    {"backend", required_argument, 0, O_BACKEND},
        {"worker", required_argument, 0, O_WORKER},    {"grace", required_argument, 0, O_GRACE},
        {"cpus-per-task", required_argument, 0, O_CPT}, {"configs", required_argument, 0, O_CONFIGS},
        {"worker-arg", required_argument, 0, O_WARG},  {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    int ch, rc = 0;
    optind = 1;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case O_SUBMIT: o->submit = 1; break;
        case O_JOBS: o->jobs_dir = optarg; break;
        case O_SHOT:
            if (o->n_only == 256)
                return cli_usage_error("sbatch", "too many --shot options");
            o->only[o->n_only++] = optarg;
            break;
        case O_GPUS: rc = parse_pos("--gpus", optarg, 1, LAYOUT_MAX_RANKS, &o->gpus); break;
        case O_NODES: rc = parse_pos("--nodes", optarg, 1, LAYOUT_MAX_NODES, &o->nodes); break;
        case O_PER: rc = parse_pos("--gpus-per-node", optarg, 1, LAYOUT_MAX_RANKS_PER_NODE, &o->per_node); break;
        case O_CPU: rc = parse_pos("--cpu-ranks", optarg, 1, LAYOUT_MAX_RANKS, &o->cpu_ranks); break;
        case O_BACKEND: o->backend = optarg; break;
        case O_WORKER: o->worker = optarg; break;
        case O_GRACE: rc = parse_pos("--grace", optarg, 10, 65535, &o->grace_s); break;
        case O_CPT: rc = parse_pos("--cpus-per-task", optarg, 1, 1024, &o->cpus_per_task); break;
        case O_CONFIGS: o->configs = optarg; break;
        case O_WARG: {
            /* single-quote for the batch shell; a quote inside becomes '\'' */
            size_t len = strlen(o->worker_args);
            len += (size_t)snprintf(o->worker_args + len, sizeof(o->worker_args) - len, " '");
            for (const char *c = optarg; *c && len + 5 < sizeof(o->worker_args); c++)
                len += (size_t)snprintf(o->worker_args + len, sizeof(o->worker_args) - len, "%s",
                                        *c == '\'' ? "'\\''" : (char[]){*c, 0});
            if (len + 2 >= sizeof(o->worker_args))
                return cli_usage_error("sbatch", "--worker-arg values too long");
            snprintf(o->worker_args + len, sizeof(o->worker_args) - len, "'");
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
    if ((o->gpus != 0) + (o->nodes != 0 || o->per_node != 0) + (o->cpu_ranks != 0) > 1)
        return cli_usage_error("sbatch", "give one of --gpus, --nodes/--gpus-per-node, --cpu-ranks");
    if ((o->nodes != 0) != (o->per_node != 0))
        return cli_usage_error("sbatch", "--nodes and --gpus-per-node go together");
    return 0;
}

/* ---- template ------------------------------------------------------------ */

struct tvar {
    const char *name;
    char value[1024];
};

/* Expand @NAME@ from vars; an unknown or empty name leaves the '@' as is
 * (the script itself contains "USR1@<seconds>"). */
static int expand(const char *tpl, const struct tvar *vars, int n_vars, FILE *out)
{
    for (const char *p = tpl; *p;) {
        if (*p == '@') {
            const char *end = strchr(p + 1, '@');
            int matched = 0;
            for (int i = 0; end && i < n_vars; i++) {
                size_t len = strlen(vars[i].name);
                if ((size_t)(end - p - 1) == len && strncmp(p + 1, vars[i].name, len) == 0) {
                    fputs(vars[i].value, out);
                    p = end + 1;
                    matched = 1;
                    break;
                }
            }
            if (matched)
                continue;
        }
        fputc(*p++, out);
    }
    return ferror(out) ? -1 : 0;
}

/* ---- one shot ------------------------------------------------------------ */

static int mkdirs(const char *path, struct df_err *err)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof(buf), "%s/", path);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return df_err_set(err, DF_E_RANGE, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return df_err_errno(err, DF_E_IO, "cannot create directory %s", buf);
        *p = '/';
    }
    return 0;
}

static int write_manifest_json(const struct manifest *m, const char *path, struct df_err *err)
{
    cJSON *j = manifest_to_json(m);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return df_err_set(err, DF_E_NOMEM, "out of memory writing %s", path);
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = 0;
    if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0 || fclose(f) != 0) {
        rc = df_err_errno(err, DF_E_IO, "cannot write %s", tmp);
        f = NULL;
    } else if (rename(tmp, path) != 0) {
        rc = df_err_errno(err, DF_E_IO, "cannot rename %s to %s", tmp, path);
    }
    free(text);
    if (rc < 0)
        remove(tmp);
    return rc;
}

static void set_var(struct tvar *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_var(struct tvar *v, const char *name, const char *fmt, ...)
{
    va_list ap;
    v->name = name;
    va_start(ap, fmt);
    vsnprintf(v->value, sizeof(v->value), fmt, ap);
    va_end(ap);
}

struct shot_job {
    char dir[PATH_MAX];
    char script[PATH_MAX + 16];
    struct layout lay;
};

static int plan_shot(const struct sbatch_opts *o, const struct shot *s, struct layout *out,
                     struct df_err *err)
{
    struct cluster_shape c = {.nodes = 1, .ranks_per_node = 8};
    if (o->gpus)
        c.ranks_per_node = o->gpus;
    if (o->nodes)
        c.nodes = o->nodes, c.ranks_per_node = o->per_node;
    if (o->cpu_ranks)
        c.device = LAYOUT_DEVICE_CPU, c.ranks_per_node = o->cpu_ranks;
    /* resources.max_gpus caps what the shot may take */
    c.max_ranks = s->resources.max_gpus;
    c.cfg_branches = s->guidance_scale > 1.0 ? 2 : 1;
    int n = 0;
    int rc = layout_plan(&s->geom, &s->grid, &c, NULL, out, 1, &n, err);
    if (rc < 0)
        df_err_prefix(err, "shot %s", s->id);
    return rc;
}

static int write_job(const struct sbatch_opts *o, const struct manifest *m, const struct shot *s,
                     const char *date, const char *worker, struct shot_job *job,
                     struct df_err *err)
{
    DF_TRY(plan_shot(o, s, &job->lay, err));
    const struct layout *l = &job->lay;
    char jobs_abs[PATH_MAX];
    DF_TRY(mkdirs(o->jobs_dir, err));
    if (!realpath(o->jobs_dir, jobs_abs))
        return df_err_errno(err, DF_E_IO, "cannot resolve %s", o->jobs_dir);
    snprintf(job->dir, sizeof(job->dir), "%.2000s/%.1000s/%.500s", jobs_abs, m->name, s->id);
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof(sub), "%s/logs", job->dir);
    DF_TRY(mkdirs(sub, err));
    snprintf(sub, sizeof(sub), "%s/ckpt", job->dir);
    DF_TRY(mkdirs(sub, err));
    snprintf(sub, sizeof(sub), "%s/manifest.json", job->dir);
    DF_TRY(write_manifest_json(m, sub, err));

    int gpu = !o->cpu_ranks;
    struct tvar v[20];
    int n = 0;
    char desc[256];
    layout_describe(l, desc, sizeof(desc));
    set_var(&v[n++], "SHOT", "%s", s->id);
    set_var(&v[n++], "MANIFEST", "%s", m->name);
    set_var(&v[n++], "LAYOUT", "%s; %.1f%% padding", desc, l->pad_pct);
    set_var(&v[n++], "JOB_NAME", "df-%s-%s", m->name, s->id);
    set_var(&v[n++], "NODES", "%d", l->nodes);
    set_var(&v[n++], "TASKS_PER_NODE", "%d", l->ranks_per_node);
    set_var(&v[n++], "CPUS_PER_TASK", "%d", o->cpus_per_task ? o->cpus_per_task : gpu ? 4 : 1);
    /* the warning must come while there is time left to checkpoint: at most
     * half the time limit */
    int grace = o->grace_s ? o->grace_s : 120;
    if (s->resources.time_limit_min > 0 && grace > s->resources.time_limit_min * 30)
        grace = s->resources.time_limit_min * 30;
    set_var(&v[n++], "GRACE", "%d", grace);
    set_var(&v[n++], "JOB_DIR", "%s", job->dir);
    set_var(&v[n++], "WORKER", "%s", worker);
    set_var(&v[n++], "DATE", "%s", date);
    set_var(&v[n++], "BACKEND", "%s", o->backend ? o->backend : gpu ? "cuda" : "cpu");
    char extra[1024] = "";
    size_t e = 0;
    if (gpu)
        e += (size_t)snprintf(extra + e, sizeof(extra) - e, "#SBATCH --gpus-per-node=%d\n",
                              l->ranks_per_node);
    if (s->resources.time_limit_min > 0)
        e += (size_t)snprintf(extra + e, sizeof(extra) - e, "#SBATCH --time=%d\n",
                              s->resources.time_limit_min);
    if (s->resources.partition[0])
        e += (size_t)snprintf(extra + e, sizeof(extra) - e, "#SBATCH --partition=%s\n",
                              s->resources.partition);
    if (s->resources.account[0])
        e += (size_t)snprintf(extra + e, sizeof(extra) - e, "#SBATCH --account=%s\n",
                              s->resources.account);
    if (s->resources.qos[0])
        snprintf(extra + e, sizeof(extra) - e, "#SBATCH --qos=%s\n", s->resources.qos);
    set_var(&v[n++], "SBATCH_EXTRA", "%s", extra);
    set_var(&v[n++], "WORKER_ARGS", "%s", o->worker_args);

    snprintf(job->script, sizeof(job->script), "%s/job.sbatch", job->dir);
    FILE *f = fopen(job->script, "w");
    if (!f)
        return df_err_errno(err, DF_E_IO, "cannot write %s", job->script);
    int rc = expand(sbatch_template, v, n, f);
    if (fclose(f) != 0 || rc < 0)
        return df_err_errno(err, DF_E_IO, "cannot write %s", job->script);
    chmod(job->script, 0755);
    return 0;
}

/* ---- submission ------------------------------------------------------------ */

/* Shots in an order where every dependency comes first (the manifest has no
 * cycles: the loader refuses them); ties keep manifest order. */
static size_t topo_order(const struct manifest *m, const int *selected, int *order)
{
    size_t n = 0;
    char *placed = calloc(m->n_shots ? m->n_shots : 1, 1);
    for (int progress = 1; progress && placed;) {
        progress = 0;
        for (size_t i = 0; i < m->n_shots; i++) {
            if (placed[i] || !selected[i])
                continue;
            int ready = 1;
            for (size_t k = 0; k < m->shots[i].n_after; k++) {
                int d = manifest_find_shot(m, m->shots[i].after[k]);
                if (d >= 0 && selected[d] && !placed[d])
                    ready = 0;
            }
            if (ready)
                placed[i] = 1, order[n++] = (int)i, progress = 1;
        }
    }
    free(placed);
    return n;
}

static void dependency_flag(const struct manifest *m, const struct shot *s, const int *selected,
                            char ids[][32], int as_vars, char *dst, size_t cap)
{
    size_t len = 0;
    dst[0] = '\0';
    for (size_t k = 0; k < s->n_after; k++) {
        int d = manifest_find_shot(m, s->after[k]);
        if (d < 0 || !selected[d])
            continue;
        /* shell variables are named by manifest index: shot ids may hold '-' or '.' */
        if (as_vars)
            len += (size_t)snprintf(dst + len, cap - len, "%s$job_%d",
                                    len ? ":" : "--dependency=afterok:", d);
        else
            len += (size_t)snprintf(dst + len, cap - len, "%s%s",
                                    len ? ":" : "--dependency=afterok:", ids[d]);
        if (len >= cap)
            break;
    }
    if (len && len < cap)
        snprintf(dst + len, cap - len, " --kill-on-invalid-dep=yes");
}

/* Run sbatch; on success write the job id, else copy Slurm's message. */
static int submit_one(const char *deps, const char *script, char *id, size_t id_cap,
                      struct df_err *err)
{
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof(cmd), "sbatch --parsable %s '%s' 2>&1", deps, script);
    FILE *p = popen(cmd, "r");
    if (!p)
        return df_err_errno(err, DF_E_SLURM, "cannot run sbatch");
    char out[2048] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    if (status != 0 || n == 0 || strspn(out, "0123456789;") != n)
        return df_err_set(err, DF_E_SLURM, "sbatch %s: %s", script,
                          n ? out : "failed with no output (is Slurm installed?)");
    char *semi = strchr(out, ';'); /* "id;cluster" on federated setups */
    if (semi)
        *semi = '\0';
    snprintf(id, id_cap, "%s", out);
    return 0;
}

static void find_worker(const char *given, char *dst, size_t cap)
{
    if (given) {
        if (!realpath(given, dst))
            snprintf(dst, cap, "%s", given);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            const char *cands[] = {"%s/ditfarm-worker", "%s/../worker/ditfarm-worker"};
            for (size_t i = 0; i < 2; i++) {
                char path[PATH_MAX + 32];
                int len = snprintf(path, sizeof(path), cands[i], self);
                if (len > 0 && (size_t)len < sizeof(path) && access(path, X_OK) == 0 &&
                    realpath(path, dst))
                    return;
            }
        }
    }
    snprintf(dst, cap, "ditfarm-worker");
}

int cmd_sbatch(int argc, char **argv, const struct cli_ctx *ctx)
{
    (void)ctx;
    struct sbatch_opts o = {.jobs_dir = "ditfarm-jobs"};
    int prc = parse_args(argc, argv, &o);
    if (prc)
        return prc == 1 ? CLI_EXIT_OK : prc;

    char configs[PATH_MAX], worker[PATH_MAX];
    struct df_err err = {0};
    struct diag_list dl = {0};
    struct manifest *m = NULL;
    if (paths_configs_dir(o.configs, configs, sizeof(configs), &err) < 0 ||
        manifest_load(o.manifest, configs, &m, &dl, &err) < 0) {
        for (size_t i = 0; i < dl.count; i++) {
            char line[DIAG_LINE_CAP];
            diag_format(&dl.items[i], line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
        fprintf(stderr, "ditfarm sbatch: %s\n", err.msg);
        diag_list_clear(&dl);
        return CLI_EXIT_FAIL;
    }
    diag_list_clear(&dl);
    find_worker(o.worker, worker, sizeof(worker));

    int rc = CLI_EXIT_OK;
    size_t ns = m->n_shots ? m->n_shots : 1;
    int *selected = calloc(ns, sizeof(int)), *order = calloc(ns, sizeof(int));
    struct shot_job *jobs = calloc(ns, sizeof(*jobs));
    char(*ids)[32] = calloc(ns, sizeof(*ids));
    if (!selected || !order || !jobs || !ids) {
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
    for (size_t k = 0; k < n; k++) {
        const struct shot *s = &m->shots[order[k]];
        if (write_job(&o, m, s, date, worker, &jobs[order[k]], &err) < 0) {
            fprintf(stderr, "ditfarm sbatch: %s\n", err.msg);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    }
    if (!o.submit)
        printf("#!/bin/sh\n# Submit manifest %s (%zu shot%s) with plain sbatch.\nset -e\n", m->name,
               n, n == 1 ? "" : "s");
    for (size_t k = 0; k < n; k++) {
        const struct shot *s = &m->shots[order[k]];
        struct shot_job *j = &jobs[order[k]];
        char deps[1024], desc[256];
        layout_describe(&j->lay, desc, sizeof(desc));
        dependency_flag(m, s, selected, ids, !o.submit, deps, sizeof(deps));
        if (!o.submit) {
            printf("# %s: %s\njob_%d=$(sbatch --parsable %s '%s')\necho \"%s: job $job_%d\"\n",
                   s->id, desc, order[k], deps, j->script, s->id, order[k]);
            continue;
        }
        if (submit_one(deps, j->script, ids[order[k]], sizeof(ids[0]), &err) < 0) {
            fprintf(stderr, "ditfarm sbatch: shot %s: %s\n", s->id, err.msg);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
        printf("%s: job %s (%s) %s\n", s->id, ids[order[k]], desc, j->dir);
    }
done:
    free(selected);
    free(order);
    free(jobs);
    free(ids);
    manifest_free(m);
    return rc;
}
