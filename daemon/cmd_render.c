/*
 * cmd_render.c -- `ditfarm render MANIFEST`: render every shot (or the named
 * ones) on this machine, without a cluster.
 *
 * Each shot runs in its own ditfarm-worker process -- one rank, or P ranks
 * under mpirun with --ranks P -- in dependency order (`after:`), higher
 * priority first among shots that are ready.  A shot whose dependency failed
 * is skipped and says so.  The CLI never links the kernels: the worker does
 * the rendering, the CLI plans the order and reports where each video went.
 */
#include "cli.h"
#include "backend_desc.h"
#include "depsched.h"
#include "job_contract.h"
#include "jobspec.h"
#include "manifest.h"
#include "paths.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct render_cli {
    const char *manifest;
    const char *backend;
    const char *threads;
    const char *configs;
    int ranks;
    char date[16];
    char worker[PATH_MAX];
    char configs_abs[PATH_MAX]; /* written into each job.json (step-cache tables) */
    char tmp[PATH_MAX];         /* a private directory for the job.json files */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ditfarm render [--local] MANIFEST [--shot ID]... [--ranks P]\n"
            "                      [--backend cpu|cuda] [--threads N] [--configs DIR]\n\n"
            "Render the manifest's shots on this machine (no cluster), one worker process\n"
            "per shot (P ranks under mpirun with --ranks P), in dependency order, and print\n"
            "where each video went.  For a Slurm cluster use `ditfarm sbatch`.\n");
}

/* Resolve shot s into <tmp>/<shot>.json for the worker: the plan for --ranks
 * ranks, the seed, the output path.  Returns 0 or -1 (message printed). */
static int write_job(const struct render_cli *rc, const struct manifest *m, const struct shot *s,
                     struct job_contract *jc, char *path, size_t cap)
{
    struct job_contract_opts co;
    job_contract_opts_init(&co);
    const struct backend_desc *bd = backend_desc_find(rc->backend ? rc->backend : "cpu");
    int gpu = bd && bd->device == LAYOUT_DEVICE_GPU;
    co.cluster = (struct cluster_shape){.nodes = 1, .ranks_per_node = rc->ranks, .use_all = 1,
                                        .device = gpu ? LAYOUT_DEVICE_GPU : LAYOUT_DEVICE_CPU};
    co.backend = rc->backend ? rc->backend : "cpu";
    co.date = rc->date;
    co.configs_dir = rc->configs_abs;
    struct df_err err = {0};
    snprintf(path, cap, "%s/%s.json", rc->tmp, s->id);
    if (job_contract_resolve(m, s, &co, jc, &err) < 0 ||
        job_contract_write(jc, path, &err) < 0) {
        fprintf(stderr, "ditfarm render: %s\n", err.msg);
        job_contract_free(jc);
        return -1;
    }
    return 0;
}

/* Run one shot from its job.json; returns the worker's exit status (or -1
 * when it could not start). */
static int run_worker(const struct render_cli *rc, const char *job)
{
    const char *argv[32];
    int n = 0;
    char ranks[16];
    if (rc->ranks > 1) {
        snprintf(ranks, sizeof(ranks), "%d", rc->ranks);
        argv[n++] = "mpirun";
        argv[n++] = "--oversubscribe";
        if (geteuid() == 0)
            argv[n++] = "--allow-run-as-root";
        argv[n++] = "-n";
        argv[n++] = ranks;
    }
    argv[n++] = rc->worker;
    argv[n++] = "render";
    argv[n++] = "--job";
    argv[n++] = job;
    if (rc->threads)
        argv[n++] = "--threads", argv[n++] = rc->threads;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "ditfarm render: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Say why each newly skipped shot will not run. */
static void report_skipped(const struct manifest *m, const struct dep_node *n, const char *failed,
                           const int *skipped, size_t n_skipped)
{
    for (size_t k = 0; k < n_skipped; k++) {
        int i = skipped[k], d = depsched_check(n, m->n_shots, (size_t)i).blocker;
        fprintf(stderr, "ditfarm render: skipping shot %s: it needs shot %s, which %s\n",
                m->shots[i].id, d >= 0 ? m->shots[d].id : "?",
                d >= 0 && failed[d] ? "failed" : "was skipped");
    }
}

/* Load the manifest, find the worker, make the private job.json directory,
 * fix today's date.  Returns 0 or -1 (message printed). */
static int prepare(struct render_cli *rc, struct manifest **m)
{
    char configs[PATH_MAX];
    if (cli_load_manifest("render", rc->manifest, rc->configs, configs, sizeof(configs), m) < 0)
        return -1;
    if (!realpath(configs, rc->configs_abs))
        snprintf(rc->configs_abs, sizeof(rc->configs_abs), "%s", configs);
    const char *tmpdir = getenv("TMPDIR");
    snprintf(rc->tmp, sizeof(rc->tmp), "%s/ditfarm-render-XXXXXX",
             tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(rc->tmp)) {
        fprintf(stderr, "ditfarm render: cannot make a directory %s: %s\n", rc->tmp,
                strerror(errno));
        manifest_free(*m);
        *m = NULL;
        return -1;
    }
    const char *env_worker = getenv("DITFARM_WORKER");
    jobspec_find_worker(env_worker && *env_worker ? env_worker : NULL, rc->worker,
                        sizeof(rc->worker));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(rc->date, sizeof(rc->date), "%Y-%m-%d", &tm);
    return 0;
}

/* Every selected shot, in the order of the one `after:` scheduler
 * (lib/depsched.h): a shot whose dependency failed is skipped and says so.
 * Returns the command's exit code. */
static int run_shots(const struct render_cli *rc, const struct manifest *m,
                     const char *const *only, int n_only, const struct cli_ctx *ctx)
{
    size_t ns = m->n_shots ? m->n_shots : 1;
    struct dep_node *st = calloc(ns, sizeof(*st));
    char *failed = calloc(ns, 1);
    int *skipped = calloc(ns, sizeof(int));
    int bad = 0;
    if (!st || !failed || !skipped) {
        fprintf(stderr, "ditfarm render: out of memory\n");
        bad = 1;
    } else {
        depsched_from_manifest(m, st);
    }
    for (int k = 0; !bad && k < n_only; k++)
        if (manifest_find_shot(m, only[k]) < 0) {
            fprintf(stderr, "ditfarm render: %s has no shot '%s'\n", rc->manifest, only[k]);
            bad = 1;
        }
    if (n_only && !bad)
        for (size_t i = 0; i < m->n_shots; i++) {
            st[i].state = DEP_STATE_IGNORED;
            for (int k = 0; k < n_only; k++)
                if (strcmp(m->shots[i].id, only[k]) == 0)
                    st[i].state = DEP_STATE_PENDING;
        }
    int n_done = 0, n_failed = 0;
    size_t n_sk = 0;
    for (;;) {
        int i = bad ? -1 : depsched_next(st, m->n_shots, skipped, &n_sk);
        if (!bad)
            report_skipped(m, st, failed, skipped, n_sk);
        if (i < 0)
            break;
        const struct shot *s = &m->shots[i];
        DF_INFO(ctx->log, "rendering shot %s (%s, %dx%d, %d frames, %d steps) on %d rank%s",
                s->id, s->model, s->width, s->height, s->frames, s->steps, rc->ranks,
                rc->ranks > 1 ? "s" : "");
        struct job_contract jc;
        char job[PATH_MAX + 80];
        int code = write_job(rc, m, s, &jc, job, sizeof(job)) < 0 ? -1 : run_worker(rc, job);
        remove(job);
        if (code == 0) {
            char abs[PATH_MAX];
            printf("%s: %s\n", s->id, realpath(jc.output, abs) ? abs : jc.output);
            st[i].state = DEP_STATE_DONE;
            n_done++;
        } else {
            fprintf(stderr, "ditfarm render: shot %s failed (worker exit %d)\n", s->id, code);
            st[i].state = DEP_STATE_FAILED;
            failed[i] = 1;
            n_failed++;
        }
        job_contract_free(&jc);
    }
    size_t n_skipped = 0;
    for (size_t i = 0; !bad && i < m->n_shots; i++)
        n_skipped += (st[i].state == DEP_STATE_FAILED && !failed[i]) ||
                     st[i].state == DEP_STATE_PENDING;
    if (!bad)
        fprintf(stderr, "ditfarm render: %d shot%s rendered, %d failed, %zu skipped\n", n_done,
                n_done == 1 ? "" : "s", n_failed, n_skipped);
    free(st);
    free(failed);
    free(skipped);
    return bad ? CLI_EXIT_USAGE : (n_failed || n_skipped) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cmd_render(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        {"local", no_argument, 0, 'L'},          {"shot", required_argument, 0, 's'},
        {"ranks", required_argument, 0, 'r'},    {"backend", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'},  {"configs", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    struct render_cli rc = {.ranks = 1};
    const char *only[256];
    int n_only = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'L': break; /* local is what this command does; the flag documents intent */
        case 's':
            if (n_only == 256)
                return cli_usage_error("render", "too many --shot options");
            only[n_only++] = optarg;
            break;
        case 'r':
            rc.ranks = atoi(optarg);
            if (rc.ranks < 1 || rc.ranks > 1024)
                return cli_usage_error("render", "--ranks must be 1..1024, got '%s'", optarg);
            break;
        case 'b': rc.backend = optarg; break;
        case 't': rc.threads = optarg; break;
        case 'c': rc.configs = optarg; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("render", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("render", "expected one MANIFEST argument");
    rc.manifest = argv[optind];

    struct manifest *m = NULL;
    if (prepare(&rc, &m) < 0)
        return CLI_EXIT_FAIL;
    int rv = run_shots(&rc, m, only, n_only, ctx);
    rmdir(rc.tmp);
    manifest_free(m);
    return rv;
}
