/*
 * slurmq.h -- what the daemon asks Slurm: job states (squeue), node states
 * (sinfo), cancel (scancel).  Each call runs the command with a time limit
 * and parses its plain-text output defensively (one "a b" pair per line;
 * anything else is skipped), which works across Slurm versions where the
 * --json schemas do not.
 *
 *     struct slurmq_item *jobs; size_t n;
 *     if (slurmq_jobs(30, &jobs, &n, &err) < 0) ... Slurm unreachable: skip this round ...
 *     const char *st = slurmq_lookup(jobs, n, "1234");   // "RUNNING" or NULL
 *     free(jobs);
 */
#ifndef DF_SLURMQ_H
#define DF_SLURMQ_H

#include "err.h"

#include <stddef.h>

struct slurmq_item {
    char name[64];  /* job id, or node name */
    char state[48]; /* "RUNNING", "PENDING", "COMPLETED"...; "idle", "drained"... */
};

/* The argument vectors the daemon runs in the background (daemon/proc.h; no
 * shell, see subproc.h) -- every job slurmctld still knows (`squeue -h -t all
 * -o "%i %T"`), every node once (`sinfo -h -N -o "%N %T"`, states as sinfo
 * spells them: "idle", "drained", "down*"...) -- their names in messages, and
 * the parser of their answers: `status` is the exit code (124: timed out),
 * `text` the output (modified).  Returns 0 with *out (caller frees), or
 * DF_E_SLURM with the command's words. */
extern const char *const slurmq_jobs_argv[];
extern const char *const slurmq_nodes_argv[];
#define SLURMQ_JOBS_CMD "squeue -h -t all -o '%i %T'"
#define SLURMQ_NODES_CMD "sinfo -h -N -o '%N %T'"
int slurmq_parse(const char *cmd, int status, char *text, struct slurmq_item **out, size_t *n,
                 struct df_err *err);

/* The state of `name` in items, or NULL when absent. */
const char *slurmq_lookup(const struct slurmq_item *items, size_t n, const char *name);

/* `scancel JOB_ID`.  Returns 0 or DF_E_SLURM with scancel's words. */
int slurmq_cancel(const char *job_id, int timeout_s, struct df_err *err);
/* `scontrol update JobId=ID Nice=N` (a negative N needs an operator or
 * admin in Slurm).  Returns 0 or DF_E_SLURM with scontrol's words. */
int slurmq_nice(const char *job_id, int nice, int timeout_s, struct df_err *err);

/* 1 when a node state (sinfo %T) means the node takes no new work: drain*,
 * down*, fail*, inval, maint, unknown... */
int slurmq_node_bad(const char *state);

#endif /* DF_SLURMQ_H */
