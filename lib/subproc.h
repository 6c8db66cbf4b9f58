/*
 * subproc.h -- run a program with an argument vector (posix_spawnp), never
 * through a shell: how sbatch, squeue, sinfo, scancel and the plan helper are
 * started.  A value in argv reaches the program as one argument whatever
 * bytes it holds, so no quoting can go wrong.
 *
 * The child gets stdin from /dev/null, stdout into a pipe (stderr into the
 * same pipe, the caller's stderr, or /dev/null), default SIGPIPE, and its own
 * process group, so a deadline kills the whole group (a Slurm client's
 * children too).
 *
 *     const char *argv[] = {"squeue", "-h", "-o", "%i %T", NULL};
 *     char *out; int status;
 *     if (subproc_run(argv, SUBPROC_STDERR_MERGE, 30000, 1 << 20, &out, &status, &err) < 0) ...
 *     ... status is the exit code, SUBPROC_TIMED_OUT when killed at the deadline ...
 *     free(out);
 */
#ifndef DF_SUBPROC_H
#define DF_SUBPROC_H

#include "err.h"

#include <stddef.h>
#include <sys/types.h>

#define SUBPROC_TIMED_OUT 124 /* status of a command killed at its deadline (as timeout(1)) */

enum subproc_stderr {
    SUBPROC_STDERR_MERGE,   /* into the stdout pipe (error words read with the output) */
    SUBPROC_STDERR_INHERIT, /* the caller's stderr (a helper's warnings reach the user) */
    SUBPROC_STDERR_NULL,    /* dropped */
    SUBPROC_STDERR_PIPE,    /* its own pipe (subproc_run: *err_text), never mixed with stdout */
    SUBPROC_STDERR_COUNT
};

/* Start argv[0] (PATH lookup).  Returns 0 with *pid and *out_fd (the read
 * end, close-on-exec, blocking) and, for SUBPROC_STDERR_PIPE, *err_fd (else
 * err_fd may be NULL), or DF_E_NOTFOUND / DF_E_IO naming the program. */
int subproc_start(const char *const *argv, enum subproc_stderr se, pid_t *pid, int *out_fd,
                  int *err_fd, struct df_err *err);

/* Start, read stdout until EOF (keeping at most max_out bytes, the rest is
 * read and dropped), wait.  The child is killed (its group) once timeout_ms
 * pass.  Returns 0 with *out (malloc'd, NUL-terminated, caller frees) and
 * *status (exit code, 128 + signal, or SUBPROC_TIMED_OUT), or subproc_start's
 * error.  se must not be SUBPROC_STDERR_PIPE (see subproc_run2). */
int subproc_run(const char *const *argv, enum subproc_stderr se, int timeout_ms, size_t max_out,
                char **out, int *status, struct df_err *err);

/* subproc_run with stderr in its own pipe: *err_text (malloc'd, at most
 * max_out bytes kept) holds what the program wrote there. */
int subproc_run2(const char *const *argv, int timeout_ms, size_t max_out, char **out,
                 char **err_text, int *status, struct df_err *err);

/* The exit status of a waitpid() result as subproc_run reports it. */
int subproc_status(int wait_status);

/* argv joined by spaces (for messages only: never run). */
void subproc_describe(const char *const *argv, char *dst, size_t cap);

#endif /* DF_SUBPROC_H */
