/*
 * intake.h -- writing a big manifest's job directories without holding the
 * loop.  serve_submit writes job directories while it has time (a few tens
 * of milliseconds), stores the rest of the shots as `preparing`, and hands
 * the manifest here; every tick then writes some more (INTAKE_BUDGET_MS),
 * moving each shot on to waiting/queued, so `ditfarm status` and the other
 * clients are answered meanwhile.  A daemon stopped during an intake finds
 * shots still `preparing` at start: they fail with a reason saying to submit
 * the manifest again (their job directories may be half written).
 */
#ifndef DF_INTAKE_H
#define DF_INTAKE_H

#include "err.h"
#include "jobspec.h"
#include "manifest.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define INTAKE_BUDGET_MS 40 /* job-directory writing per tick (and at submit) */

struct daemon;

struct intake {
    int64_t mrow;                  /* the manifest's store row */
    struct manifest *m;            /* owned */
    struct jobspec_opts jo;        /* its strings point into this struct: */
    char configs[PATH_MAX], worker[PATH_MAX], backend[32];
    char date[16];                 /* {date} of its outputs */
    size_t next;                   /* the next shot to write */
    struct intake *link;           /* queue */
};

/* Queue manifest m (ownership taken, also on error) whose shots from index
 * `next` on are `preparing`.  Returns 0 or DF_E_NOMEM. */
int intake_start(struct daemon *d, int64_t mrow, struct manifest *m,
                 const struct jobspec_opts *jo, const char *date, size_t next,
                 struct df_err *err);
/* Write job directories for at most budget_ms (from the head of the queue). */
void intake_step(struct daemon *d, int budget_ms);
/* At start: shots left `preparing` by a stopped daemon fail (see above). */
void intake_abandon(struct daemon *d);
/* Free the queue. */
void intake_free_all(struct daemon *d);

#endif /* DF_INTAKE_H */
