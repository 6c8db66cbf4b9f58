/* render_cmd.c -- `ditfarm-worker render MANIFEST [--shot ID] ...`: render one
 * shot on this process (see render.h). */
#include "render.h"
#include "render_cmd.h"
#include "worker_cmd.h"
#include "worker_exit.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ditfarm-worker render (--job JOB.json | MANIFEST [--shot ID]) [--backend cpu|cuda]\n"
            "                             [--threads N] [--output PATH] [--date YYYY-MM-DD]\n"
            "                             [--configs DIR] [--latent-out FILE] [--no-video]\n"
            "                             [--ckpt-dir DIR] [--ckpt-every N] [--stop-after N]\n"
            "                             [--layout CFGxULYSSESxRING]\n\n"
            "--job reads the shot the controller resolved (job.json: model, layout, seed,\n"
            "output, backend); with a MANIFEST the shot is resolved here the same way.\n"
            "With --ckpt-dir the shot resumes from its newest valid checkpoint there, writes\n"
            "one every N steps (default: the manifest's checkpoint.every_steps), and on\n"
            "SIGUSR1/SIGTERM writes one at the next step boundary and exits with code 3\n"
            "(checkpointed: requeue me).  --stop-after N does the same after N steps.\n");
}

int render_cmd_run(int argc, char **argv, struct df_log *log, const volatile sig_atomic_t *stop)
{
    static const struct option opts[] = {
        {"shot", required_argument, 0, 's'},    {"backend", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"output", required_argument, 0, 'o'},
        {"date", required_argument, 0, 'd'},    {"configs", required_argument, 0, 'c'},
        {"latent-out", required_argument, 0, 'l'}, {"no-video", no_argument, 0, 'n'},
        {"ckpt-dir", required_argument, 0, 'k'},   {"ckpt-every", required_argument, 0, 'e'},
        {"stop-after", required_argument, 0, 'a'}, {"layout", required_argument, 0, 'y'},
        {"usp-stage", no_argument, 0, 'u'},     {"job", required_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    struct render_opts o;
    render_opts_init(&o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': o.shot_id = optarg; break;
        case 'j': o.job = optarg; break;
        case 'b': o.backend = optarg; break;
        case 't': o.threads = atoi(optarg); break;
        case 'o': o.output = optarg; break;
        case 'd': o.date = optarg; break;
        case 'c': o.configs_dir = optarg; break;
        case 'l': o.latent_out = optarg; break;
        case 'n': o.no_video = 1; break;
        case 'k': o.ckpt_dir = optarg; break;
        case 'e': o.ckpt_every = atoi(optarg); break;
        case 'a': o.stop_after = atoi(optarg); break;
        case 'u': o.usp_stage = 1; break; /* tests: the GPU path's host staging */
        case 'y':
            if (sscanf(optarg, "%dx%dx%d", &o.layout[0], &o.layout[1], &o.layout[2]) != 3 ||
                o.layout[0] < 1 || o.layout[1] < 1 || o.layout[2] < 1) {
                fprintf(stderr, "ditfarm-worker render: --layout wants CFGxULYSSESxRING, e.g. "
                                "2x2x1, got '%s'\n", optarg);
                return WORKER_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return WORKER_EXIT_DONE;
        default: usage(stderr); return WORKER_EXIT_USAGE;
        }
    }
    if (optind != argc - (o.job ? 0 : 1)) {
        fprintf(stderr, "ditfarm-worker render: expected %s\n",
                o.job ? "no MANIFEST with --job" : "one MANIFEST argument (or --job)");
        usage(stderr);
        return WORKER_EXIT_USAGE;
    }
    o.manifest = o.job ? NULL : argv[optind];
    o.stop = stop;
    struct df_err err = {0};
    int rc = render_run(&o, log, &err);
    if (rc == RENDER_CHECKPOINTED)
        return WORKER_EXIT_CHECKPOINTED;
    if (rc < 0) {
        DF_ERROR(log, "%s", err.msg);
        /* transient trouble (I/O, a peer that died) is worth a requeue; bad input is not */
        return rc == DF_E_IO || rc == DF_E_COMM || rc == DF_E_TIMEOUT ? WORKER_EXIT_RETRY
                                                                      : WORKER_EXIT_FAILED;
    }
    return WORKER_EXIT_DONE;
}
