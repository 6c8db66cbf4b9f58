/* gc.c -- checkpoint retention of finished shots (see gc.h). */
#include "gc.h"

#include "ckpt.h"
#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Hours a terminal shot keeps its checkpoints (0: forever, -1: not terminal). */
static int keep_hours(const struct config *c, enum job_state s)
{
    if (s == JOB_STATE_DONE)
        return c->ckpt_keep_done_hours;
    if (s == JOB_STATE_FAILED || s == JOB_STATE_CANCELLED)
        return c->ckpt_keep_failed_hours;
    return -1;
}

static void remove_shot_ckpts(const struct job_shot *s, struct gc_report *r)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%.4000s/ckpt", s->job_dir);
    struct ckpt_dir_entry *ents = NULL;
    size_t n = 0;
    struct df_err e = {0};
    if (ckpt_dir_list(dir, s->shot, &ents, &n, &e) < 0) {
        if (!strstr(e.msg, "No such file"))
            r->errors++, snprintf(r->last_error, sizeof(r->last_error), "%s", e.msg);
        return;
    }
    int dfd = n ? open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    int removed = 0;
    for (size_t i = 0; dfd >= 0 && i < n; i++) {
        struct stat st;
        if (fstatat(dfd, ents[i].name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue; /* only regular files of ours */
        if (unlinkat(dfd, ents[i].name, 0) != 0) {
            r->errors++;
            snprintf(r->last_error, sizeof(r->last_error), "cannot remove %.600s/%.200s: %.100s", dir,
                     ents[i].name, strerror(errno));
            continue;
        }
        removed++;
        r->files++;
        r->bytes += (int64_t)st.st_size;
    }
    if (n && dfd < 0) {
        r->errors++;
        snprintf(r->last_error, sizeof(r->last_error), "cannot open %.600s: %.100s", dir,
                 strerror(errno));
    }
    if (dfd >= 0)
        close(dfd);
    r->shots += removed > 0;
    free(ents);
}

int gc_run(store_t *st, const struct config *c, int64_t now, struct gc_report *r,
           struct df_err *err)
{
    memset(r, 0, sizeof(*r));
    struct job_shot *all = NULL;
    size_t n = 0;
    DF_TRY(store_shots_list(st, STORE_ALL, &all, &n, err));
    for (size_t i = 0; i < n; i++) {
        int h = keep_hours(c, all[i].state);
        if (h <= 0 || now - all[i].updated < (int64_t)h * 3600)
            continue;
        /* a later submission of the same manifest reuses the job dir: only
         * the newest record of a directory decides */
        int newer = 0;
        for (size_t k = i + 1; k < n && !newer; k++)
            newer = strcmp(all[k].job_dir, all[i].job_dir) == 0;
        if (!newer)
            remove_shot_ckpts(&all[i], r);
    }
    free(all);
    return 0;
}
