/*
 * gc.h -- checkpoint retention: finished job directories do not keep their
 * checkpoints forever (a season of overnight runs would fill the disk).
 *
 * Policy (ditfarmd.conf):
 *   ckpt-keep-done-hours    checkpoints of a `done` shot are removed this long
 *                           after it finished (default 24: the video and its
 *                           sidecar exist; a re-render of the last steps is
 *                           rarely wanted after a day);
 *   ckpt-keep-failed-hours  the same for `failed` and `cancelled` shots
 *                           (default 168: an operator's retry resumes from
 *                           them, so they are kept a week);
 *   0 keeps checkpoints forever.
 * Only checkpoint and checkpoint-temp files of the shot (lib/ckpt.h names)
 * in <job_dir>/ckpt/ are removed; the done marker, logs, job.json and the
 * output are never touched.  Removal never follows links (unlinkat).
 *
 *     struct gc_report r;
 *     gc_run(store, &cfg, time(NULL), &r, &err);   // from daemon_tick, hourly
 */
#ifndef DF_GC_H
#define DF_GC_H

#include "config.h"
#include "err.h"
#include "store.h"

#include <stdint.h>

struct gc_report {
    int shots;         /* shots whose checkpoints were removed */
    int files;         /* files removed */
    int64_t bytes;     /* their size */
    int errors;        /* files that could not be removed */
    char last_error[DF_ERR_MSG_CAP];
};

/* Remove the checkpoints the policy no longer keeps.  Returns 0 or the
 * store's error (a file that cannot be removed is counted in r). */
int gc_run(store_t *st, const struct config *c, int64_t now, struct gc_report *r,
           struct df_err *err);

#endif /* DF_GC_H */
