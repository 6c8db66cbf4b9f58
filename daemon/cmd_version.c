/* cmd_version.c -- `ditfarm version`: version and build features. */
#include "cli.h"
#include "df_version.h"

#include <stdio.h>
#include <string.h>

int cmd_version(int argc, char **argv, const struct cli_ctx *ctx)
{
    (void)ctx;
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: ditfarm version\n");
        return CLI_EXIT_OK;
    }
    if (argc > 1)
        return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("ditfarm %s\n", DITFARM_VERSION);
    return CLI_EXIT_OK;
}
