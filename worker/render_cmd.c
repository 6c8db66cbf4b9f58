/* render_cmd.c -- `ditfarm-worker render MANIFEST [--shot ID] ...`: render one
 * shot on this process (see render.h). */
#include "render.h"
#include "worker_cmd.h"
#include "worker_exit.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ditfarm-worker render MANIFEST [--shot ID] [--backend cpu|cuda]\n"
            "                             [--threads N] [--output PATH] [--date YYYY-MM-DD]\n"
            "                             [--configs DIR] [--latent-out FILE] [--no-video]\n");
}

int cmd_render(int argc, char **argv, struct df_log *log)
{
    static const struct option opts[] = {
        {"shot", required_argument, 0, 's'},    {"backend", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"output", required_argument, 0, 'o'},
        {"date", required_argument, 0, 'd'},    {"configs", required_argument, 0, 'c'},
        {"latent-out", required_argument, 0, 'l'}, {"no-video", no_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    struct render_opts o;
    render_opts_init(&o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': o.shot_id = optarg; break;
        case 'b': o.backend = optarg; break;
        case 't': o.threads = atoi(optarg); break;
        case 'o': o.output = optarg; break;
        case 'd': o.date = optarg; break;
        case 'c': o.configs_dir = optarg; break;
        case 'l': o.latent_out = optarg; break;
        case 'n': o.no_video = 1; break;
        case 'h': usage(stdout); return WORKER_EXIT_DONE;
        default: usage(stderr); return WORKER_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ditfarm-worker render: expected one MANIFEST argument\n");
        usage(stderr);
        return WORKER_EXIT_USAGE;
    }
    o.manifest = argv[optind];
    struct df_err err = {0};
    if (render_run(&o, log, &err) < 0) {
        DF_ERROR(log, "%s", err.msg);
        return WORKER_EXIT_FAILED;
    }
    return WORKER_EXIT_DONE;
}
