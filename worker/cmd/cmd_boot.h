/*
 * cmd_boot.h -- the start of every ditfarm-worker command that runs as one
 * rank of a job (selftest-comm, vae-decode): join the job through PMIx (or
 * stand alone) and tag the log with the rank.
 */
#ifndef DF_CMD_BOOT_H
#define DF_CMD_BOOT_H

#include "boot.h"
#include "log.h"

/* boot_init(b) and df_log_set_rank.  Returns 0, or -1 after logging why
 * (the command then exits WORKER_EXIT_FAILED; nothing to boot_fini). */
int cmd_boot(struct boot *b, struct df_log *log);

#endif /* DF_CMD_BOOT_H */
