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

#endif
