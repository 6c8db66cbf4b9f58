/* main_worker.c -- `ditfarm-worker`: one rank of a shot's render. */
#include "df_version.h"
#include "kern_build.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    struct df_log log;
    df_log_init(&log, "worker", stderr);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("ditfarm-worker %s (backends: %s)\n", DITFARM_VERSION, kern_build_backends());
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: ditfarm-worker [--help] [--version]\n");
            return 0;
        }
        fprintf(stderr, "ditfarm-worker: unknown option '%s' (try --help)\n", argv[i]);
        return 2;
    }
    DF_ERROR(&log, "the renderer is not implemented yet; nothing was rendered");
    return 1;
}
