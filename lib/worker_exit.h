/*
 * worker_exit.h -- the worker's exit codes: the contract with the batch script
 * (slurm/) and the daemon.  Values never change once assigned.
 */
#ifndef DF_WORKER_EXIT_H
#define DF_WORKER_EXIT_H

enum worker_exit {
    WORKER_EXIT_DONE = 0,         /* the shot is finished and its output written */
    WORKER_EXIT_FAILED = 1,       /* an error that a retry will not fix (bad input, ...) */
    WORKER_EXIT_USAGE = 2,        /* bad command line */
    WORKER_EXIT_CHECKPOINTED = 3, /* stopped on a signal after a durable checkpoint: requeue */
    WORKER_EXIT_RETRY = 4,        /* transient failure (peer died, I/O): requeue and resume */
    WORKER_EXIT_COUNT
};

/* "done", "failed", ...; never NULL. */
const char *worker_exit_name(int code);

/* The done marker: <job_dir>/ckpt/<shot>.done, one line naming the output,
 * written by the worker last (after the video and its sidecar).  The batch
 * script trusts exit 0 only when it exists; the daemon reads it as the
 * source of truth.  One definition: the worker, the daemon and the script
 * template (@DONE_MARKER@) all take it from here. */
#define WORKER_DONE_SUFFIX ".done"
/* <ckpt_dir>/<shot>.done into dst[cap]; returns 0 or -1 when it does not fit. */
int worker_done_path(const char *ckpt_dir, const char *shot, char *dst, unsigned long cap);

#endif
