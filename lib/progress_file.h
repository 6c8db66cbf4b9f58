/*
 * progress_file.h -- <job_dir>/progress.json: how far a shot's render is, as
 * the worker (rank 0) last wrote it.  The worker rewrites it atomically after
 * every step (temp + rename, jsonfile.h), so the daemon and `ditfarm status`
 * read a whole file at any moment -- also a daemon restarted mid-shot --
 * without scraping the log.
 *
 * JSON (version 1; keys are never renamed, new ones may appear):
 *   progress_version 1, shot, state ("running", "checkpointed", "done"),
 *   step (steps done), steps (N), seconds_per_step (mean since start or
 *   resume), eta_s, cache {computed, skipped, hit_rate} (denoiser passes so
 *   far: a skipped pass reused the cache), last_checkpoint_step (0: none),
 *   updated (unix seconds)
 *
 *     struct progress_file p = {.shot = "s1", .step = 3, .steps = 20, ...};
 *     progress_file_write("/jobs/m/s1/progress.json", &p, &err);
 *     progress_file_read("/jobs/m/s1/progress.json", &p, &err);
 */
#ifndef DF_PROGRESS_FILE_H
#define DF_PROGRESS_FILE_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#define PROGRESS_FILE_VERSION 1
#define PROGRESS_FILE_NAME "progress.json"

struct progress_file {
    char shot[64];
    char state[16];          /* "running", "checkpointed", "done" */
    int step, steps;         /* steps done of steps */
    double seconds_per_step; /* < 0: unknown */
    double eta_s;            /* < 0: unknown */
    int64_t cache_computed;  /* denoiser passes computed so far */
    int64_t cache_skipped;   /* passes a step cache skipped so far */
    int last_ckpt_step;      /* steps in the newest durable checkpoint, 0: none */
    int64_t updated;         /* unix seconds of the write */
};

/* Write p to path atomically.  Returns 0 or DF_E_IO/DF_E_NOMEM. */
int progress_file_write(const char *path, const struct progress_file *p, struct df_err *err);

/* Read path into *p (missing keys: 0, times -1).  Returns 0, DF_E_NOTFOUND
 * when there is no file yet, DF_E_PARSE/DF_E_INVAL for a bad one. */
int progress_file_read(const char *path, struct progress_file *p, struct df_err *err);

/* The same from text[0..len) (`name` stands for the file in messages). */
int progress_file_parse(const char *name, const char *text, size_t len, struct progress_file *p,
                        struct df_err *err);

/* A duration for people, as the worker's log and `ditfarm status` print it:
 * "0.512s", "12.3s", "4m05s", "2h10m". */
void progress_file_fmt_duration(double seconds, char *buf, size_t cap);

/* skipped / (computed + skipped), or -1 when nothing ran yet. */
double progress_file_hit_rate(const struct progress_file *p);

#endif /* DF_PROGRESS_FILE_H */
