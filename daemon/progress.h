/*
 * progress.h -- how far a shot is, read from its job directory: the
 * progress.json the worker rewrites after every step (lib/progress_file.h)
 * and, once done, the step-cache hit rate from the output's sidecar JSON.
 * Nothing here reads the worker's log: a daemon restarted mid-shot shows the
 * same progress as before.
 *
 *     struct progress p;
 *     progress_read(job_dir, output_or_empty, &p);
 *     if (p.steps) printf("%d/%d ETA %s", p.step, p.steps, p.eta);
 */
#ifndef DF_PROGRESS_H
#define DF_PROGRESS_H

struct progress {
    int step, steps;      /* steps done of steps; 0/0 when unknown */
    double seconds_per_step; /* mean step time; < 0 when unknown */
    char eta[32];         /* "1m05s", "" when unknown */
    double cache_hit;     /* skipped / (computed + skipped) passes; < 0 when unknown */
    int last_ckpt_step;   /* steps in the newest durable checkpoint, 0: none */
    char state[16];       /* the worker's word: "running", "checkpointed", "done"; "" */
};

/* Fill p from <job_dir>/progress.json and the sidecar of `output` (may be ""
 * or NULL).  Missing or bad files leave the fields empty; never fails. */
void progress_read(const char *job_dir, const char *output, struct progress *p);

#endif /* DF_PROGRESS_H */
