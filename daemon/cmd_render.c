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

enum shot_state { SHOT_PENDING, SHOT_DONE, SHOT_FAILED, SHOT_SKIPPED, SHOT_UNSELECTED };

struct render_cli {
    const char *manifest;
    const char *backend;
    const char *threads;
    const char *configs;
    int ranks;
    char date[16];
    char worker[PATH_MAX];
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

/* Run one shot; returns the worker's exit status (or -1 when it could not start). */
static int run_worker(const struct render_cli *rc, const char *shot)
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
    argv[n++] = rc->manifest;
    argv[n++] = "--shot";
    argv[n++] = shot;
    argv[n++] = "--date";
    argv[n++] = rc->date;
    if (rc->backend)
        argv[n++] = "--backend", argv[n++] = rc->backend;
    if (rc->threads)
        argv[n++] = "--threads", argv[n++] = rc->threads;
    if (rc->configs)
        argv[n++] = "--configs", argv[n++] = rc->configs;
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

/* Next shot to run: pending, every dependency done, highest priority, then
 * manifest order.  Marks shots whose dependency failed as skipped.  -1 when
 * nothing is runnable. */
static int next_shot(const struct manifest *m, enum shot_state *st)
{
    int best = -1;
    for (size_t i = 0; i < m->n_shots; i++) {
        if (st[i] != SHOT_PENDING)
            continue;
        int ready = 1;
        for (size_t k = 0; k < m->shots[i].n_after; k++) {
            int d = manifest_find_shot(m, m->shots[i].after[k]);
            if (d < 0 || st[d] == SHOT_DONE || st[d] == SHOT_UNSELECTED)
                continue;
            if (st[d] == SHOT_FAILED || st[d] == SHOT_SKIPPED) {
                st[i] = SHOT_SKIPPED;
                fprintf(stderr, "ditfarm render: skipping shot %s: it needs shot %s, which %s\n",
                        m->shots[i].id, m->shots[d].id,
                        st[d] == SHOT_FAILED ? "failed" : "was skipped");
                return next_shot(m, st);
            }
            ready = 0;
        }
        if (ready && (best < 0 || m->shots[i].priority > m->shots[best].priority))
            best = (int)i;
    }
    return best;
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

    struct df_err err = {0};
    struct manifest *m = NULL;
    if (cli_load_manifest("render", rc.manifest, rc.configs, NULL, 0, &m) < 0)
        return CLI_EXIT_FAIL;
    const char *env_worker = getenv("DITFARM_WORKER");
    jobspec_find_worker(env_worker && *env_worker ? env_worker : NULL, rc.worker,
                        sizeof(rc.worker));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(rc.date, sizeof(rc.date), "%Y-%m-%d", &tm);

    enum shot_state *st = calloc(m->n_shots ? m->n_shots : 1, sizeof(*st));
    int bad = 0;
    for (int k = 0; k < n_only; k++)
        if (manifest_find_shot(m, only[k]) < 0) {
            fprintf(stderr, "ditfarm render: %s has no shot '%s'\n", rc.manifest, only[k]);
            bad = 1;
        }
    if (n_only)
        for (size_t i = 0; i < m->n_shots; i++) {
            st[i] = SHOT_UNSELECTED;
            for (int k = 0; k < n_only; k++)
                if (strcmp(m->shots[i].id, only[k]) == 0)
                    st[i] = SHOT_PENDING;
        }
    int n_done = 0, n_failed = 0;
    for (int i; !bad && (i = next_shot(m, st)) >= 0;) {
        const struct shot *s = &m->shots[i];
        DF_INFO(ctx->log, "rendering shot %s (%s, %dx%d, %d frames, %d steps) on %d rank%s",
                s->id, s->model, s->width, s->height, s->frames, s->steps, rc.ranks,
                rc.ranks > 1 ? "s" : "");
        int code = run_worker(&rc, s->id);
        char out[PATH_MAX];
        if (code == 0 && manifest_output_path(m, s, rc.date, out, sizeof(out), &err) == 0) {
            char abs[PATH_MAX];
            printf("%s: %s\n", s->id, realpath(out, abs) ? abs : out);
            st[i] = SHOT_DONE;
            n_done++;
        } else {
            fprintf(stderr, "ditfarm render: shot %s failed (worker exit %d)\n", s->id, code);
            st[i] = SHOT_FAILED;
            n_failed++;
        }
    }
    size_t n_skipped = 0;
    for (size_t i = 0; i < m->n_shots; i++)
        n_skipped += st[i] == SHOT_SKIPPED || st[i] == SHOT_PENDING;
    if (!bad)
        fprintf(stderr, "ditfarm render: %d shot%s rendered, %d failed, %zu skipped\n", n_done,
                n_done == 1 ? "" : "s", n_failed, n_skipped);
    free(st);
    manifest_free(m);
    return bad ? CLI_EXIT_USAGE : (n_failed || n_skipped) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
