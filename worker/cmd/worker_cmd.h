/*
 * worker_cmd.h -- subcommands of the `ditfarm-worker` program.
 *
 * Each subcommand is one function in its own file (worker/cmd_<name>.c); the
 * table in main_worker.c names them.  argv[0] is the subcommand name.  Return a
 * worker_exit code (worker_exit.h).
 */
#ifndef DF_WORKER_CMD_H
#define DF_WORKER_CMD_H

#include "log.h"

struct worker_cmd {
    const char *name;    /* "render" */
    const char *summary; /* one line for --help */
    int (*run)(int argc, char **argv, struct df_log *log);
};

#endif
