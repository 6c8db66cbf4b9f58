/* cmd_boot.c -- a command joins its job (see cmd_boot.h). */
#include "cmd_boot.h"

int cmd_boot(struct boot *b, struct df_log *log)
{
    struct df_err err = {0};
    if (boot_init(b, &err) < 0) {
        DF_ERROR(log, "%s", err.msg);
        return -1;
    }
    df_log_set_rank(log, b->info.rank);
    return 0;
}
