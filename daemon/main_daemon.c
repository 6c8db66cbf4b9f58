/* main_daemon.c -- `ditfarmd`: the controller daemon. */
#include "df_version.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: ditfarmd [--help] [--version]\n\n"
                 "The ditfarm controller daemon: tracks shots on Slurm, resumes preempted jobs\n"
                 "and sends webhooks.  Not implemented yet: use `ditfarm` to validate, plan\n"
                 "and render manifests.\n");
}

int main(int argc, char **argv)
{
    struct df_log log;
    df_log_init(&log, "ditfarmd", stderr);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("ditfarmd %s\n", DITFARM_VERSION);
            return 0;
        }
        fprintf(stderr, "ditfarmd: unknown option '%s' (try --help)\n", argv[i]);
        return 2;
    }
    DF_ERROR(&log, "the daemon loop is not implemented yet; nothing was started");
    return 1;
}
