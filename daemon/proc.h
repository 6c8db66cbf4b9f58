/*
 * proc.h -- a command run in the background, its output collected
 * without blocking: how the daemon calls sbatch, squeue and sinfo.  A Slurm
 * client whose controller is down retries for MessageTimeout seconds (20 s
 * on the dev cluster) before it gives up; run in the foreground, that would
 * stall the loop and every `ditfarm status` with it.
 *
 *     struct proc p;
 *     const char *argv[] = {"squeue", "-h", NULL};
 *     proc_start(&p, argv, 30000, &err);
 *     ... each tick: if (proc_poll(&p)) { use p.out, p.status; proc_free(&p); }
 */
#ifndef DF_PROC_H
#define DF_PROC_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_TIMED_OUT 124 /* status of a command killed at its deadline (as timeout(1)) */

struct proc {
    pid_t pid;           /* the command (its own process group); 0 when none runs */
    int fd;              /* read end of its stdout+stderr, -1 once closed */
    char *out;           /* what it printed so far, NUL-terminated (malloc'd) */
    size_t len, cap;     /* bytes in out, capacity */
    int64_t deadline_ms; /* CLOCK_MONOTONIC ms after which it is killed */
    int status;          /* exit code once done (PROC_TIMED_OUT when killed) */
    int done;            /* 1 when finished and reaped */
};

/* Start argv[0] with the argument vector argv (NULL-terminated; no shell, see
 * spawn.h), stdout and stderr into a pipe.  Returns 0, or DF_E_NOTFOUND /
 * DF_E_IO naming the program. */
int proc_start(struct proc *p, const char *const *argv, int timeout_ms, struct df_err *err);
/* Read what is there; reap when finished; kill past the deadline.  Returns 1
 * when done (p->out, p->status final), 0 while running.  Never blocks. */
int proc_poll(struct proc *p);
/* 1 while started and not yet freed. */
int proc_active(const struct proc *p);
/* Kill if still running, reap, free the output; the struct is reusable. */
void proc_free(struct proc *p);

#endif /* DF_PROC_H */
