/* main_cli.c -- `ditfarm`: the command-line front end (see cli.h for the table). */
#include "cli.h"
#include "df_version.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    struct df_log log;
    df_log_init(&log, "ditfarm", stderr);
    struct cli_ctx ctx = {.log = &log, .argv0 = argv[0]};

    if (argc < 2) {
        cli_print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *a = argv[1];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0) {
        cli_print_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
        printf("ditfarm %s\n", DITFARM_VERSION);
        return CLI_EXIT_OK;
    }
    if (a[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", a);
    const struct cli_cmd *cmd = cli_find(a);
    if (!cmd)
        return cli_usage_error(NULL, "unknown command '%s'", a);
    return cmd->run(argc - 1, argv + 1, &ctx);
}
