/*
 * progress.h -- how far a shot is, read from its job directory: the last
 * "step i/N ... ETA x" line of the worker's log (logs/slurm-<jobid>.out) and,
 * once done, the step-cache hit rate from the output's sidecar JSON.
 *
 *     struct progress p;
 *     progress_read(job_dir, job_id, output_or_empty, &p);
 *     if (p.steps) printf("%d/%d ETA %s", p.step, p.steps, p.eta);
 */
#ifndef DF_PROGRESS_H
#define DF_PROGRESS_H

struct progress {
    int step, steps;  /* last "step i/N" seen; 0/0 when none */
    char eta[32];     /* the ETA text printed with it ("1m05s"), "" when none */
    double cache_hit; /* skipped / (computed + skipped) passes; < 0 when unknown */
};

/* Fill p from the log of job_id in job_dir and the sidecar of `output` (may
 * be "" or NULL).  Missing files leave the fields empty; never fails. */
void progress_read(const char *job_dir, const char *job_id, const char *output, struct progress *p);

/* Parse the last "step i/N" (and "ETA x" after it) in text[0..len).  Returns
 * 1 when found. */
int progress_parse(const char *text, unsigned long len, struct progress *p);

#endif /* DF_PROGRESS_H */
