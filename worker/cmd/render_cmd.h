/* render_cmd.h -- the `ditfarm-worker render` subcommand (render_cmd.c). */
#ifndef DF_RENDER_CMD_H
#define DF_RENDER_CMD_H

#include "log.h"

#include <signal.h>

/* Parse the command line and render one shot.  *stop is the flag the
 * program's SIGUSR1/SIGTERM handler sets.  Returns a worker_exit code. */
int render_cmd_run(int argc, char **argv, struct df_log *log, const volatile sig_atomic_t *stop);

#endif
