/*
 * cli.h -- the `ditfarm` command table.
 *
 * Each subcommand lives in its own file (cmd_<name>.c) and exports one
 * `int cmd_<name>(int argc, char **argv, const struct cli_ctx *ctx)`; the table
 * in cli.c names them.  argv[0] is the subcommand name, so getopt works as usual.
 *
 * Exit codes (for scripts and CI): CLI_EXIT_OK, CLI_EXIT_FAIL when the work
 * failed or the input is invalid, CLI_EXIT_USAGE for a bad command line.
 */
#ifndef DF_CLI_H
#define DF_CLI_H

#include "log.h"

#include <stddef.h>
#include <stdio.h>

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,
    CLI_EXIT_USAGE = 2,
};

struct cli_ctx {
    struct df_log *log; /* program logger (stderr) */
    const char *argv0;  /* how the program was invoked, for finding siblings */
};

typedef int (*cli_cmd_fn)(int argc, char **argv, const struct cli_ctx *ctx);

struct cli_cmd {
    const char *name;    /* "validate" */
    const char *args;    /* "FILE..." for the usage line */
    const char *summary; /* one line for `ditfarm --help` */
    cli_cmd_fn run;
};

/* The command table, terminated by an entry whose name is NULL. */
extern const struct cli_cmd cli_commands[];

const struct cli_cmd *cli_find(const char *name);
void cli_print_help(FILE *out);

struct manifest;

/* Resolve the configs directory (configs_opt, or paths_configs_dir's search),
 * optionally copied to configs_out[cap], and load the manifest at `path`.  On
 * failure every diagnostic goes to stderr, one per line, then
 * "ditfarm <cmd>: <summary>", and the result is -1; else 0 and *out (free
 * with manifest_free). */
int cli_load_manifest(const char *cmd, const char *path, const char *configs_opt,
                      char *configs_out, size_t cap, struct manifest **out);

/* Report a usage error for `cmd` and return CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* DF_CLI_H */
