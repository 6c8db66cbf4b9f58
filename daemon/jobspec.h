/*
 * jobspec.h -- a shot becomes a Slurm job: job directory, normalized manifest,
 * batch script (from slurm/shot.sbatch.in), and the sbatch call that submits it.
 *
 * Shared by `ditfarm sbatch` and the daemon, so a shot submitted either way
 * gets the very same job directory <jobs_dir>/<manifest>/<shot>/:
 *   job.json       the shot resolved for the worker (lib/job_contract.h): what
 *                  the worker reads, and where a drawn seed is kept for good
 *   progress.json  written by the worker while it renders (docs/architecture.md)
 *   job.sbatch     the batch script
 * next to the normalized manifest, written once per manifest (defaults
 * applied, seeds drawn): <jobs_dir>/<manifest>/manifest.json.
 *   logs/          slurm-<jobid>.out (the worker's log; "step i/N" lines)
 *   ckpt/          checkpoints and the <shot>.done marker (names the output)
 * A resubmitted shot reuses the directory and resumes from ckpt/.
 *
 *     struct jobspec_opts o;
 *     jobspec_opts_init(&o);
 *     o.cpu_ranks = 2;
 *     struct jobspec js;
 *     if (jobspec_write(&o, m, &m->shots[i], "2026-11-23", "jobs", &js, &err) < 0) ...
 *     char id[32];
 *     if (jobspec_submit("", js.script, id, sizeof(id), &err) < 0) ... err.msg is sbatch's words
 */
#ifndef DF_JOBSPEC_H
#define DF_JOBSPEC_H

#include "err.h"
#include "layout.h"
#include "manifest.h"

#include <limits.h>
#include <stddef.h>

struct jobspec_opts {
    int gpus;               /* one node with this many GPUs (0: see below) */
    int nodes, per_node;    /* or nodes x GPUs per node */
    int cpu_ranks;          /* or this many CPU ranks on one node */
    const char *backend;    /* "cpu"/"cuda"; NULL: cuda for GPUs, cpu for CPU ranks */
    const char *worker;     /* absolute path of ditfarm-worker */
    int grace_s;            /* USR1 warning before the time limit; 0: 120 s */
    int cpus_per_task;      /* 0: 4 per GPU rank, 1 per CPU rank */
    const char *configs_dir; /* absolute configs directory, written into job.json */
    const char *output_roots; /* ':'-separated output roots (job.json output.root); NULL: none */
    char worker_args[1024]; /* extra worker arguments, each quoted by shellq_append */
};

struct jobspec {
    char dir[PATH_MAX];         /* absolute job directory */
    char script[PATH_MAX + 16]; /* <dir>/job.sbatch */
    struct layout lay;          /* the planned layout */
};

/* Defaults: one node with 8 GPUs, worker "ditfarm-worker" from PATH. */
void jobspec_opts_init(struct jobspec_opts *o);

/* Append ARG, quoted for the batch shell (shellq_append), to o->worker_args.
 * Returns 0, DF_E_INVAL (a newline or control character), or DF_E_RANGE
 * when the arguments no longer fit. */
int jobspec_add_worker_arg(struct jobspec_opts *o, const char *arg, struct df_err *err);

/* The cluster shape the options describe (one node of 8 GPUs by default). */
struct cluster_shape jobspec_cluster(const struct jobspec_opts *o);

/* Plan shot `s` for the cluster shape in `o`.  Returns 0 or the planner's error
 * (prefixed with the shot id). */
int jobspec_plan(const struct jobspec_opts *o, const struct shot *s, struct layout *out,
                 struct df_err *err);

/* Write the normalized manifest once for all its shots (for people; the
 * worker reads job.json): <jobs_dir>/<manifest>/manifest.json (jobs_dir is
 * created as needed; no link below it is followed, the file is replaced
 * atomically).  Call it before jobspec_write.  A drawn seed (`seed: random`)
 * that a job.json of an earlier submission kept is taken into m first
 * (job_contract_keep_seed): job.json is the authority, manifest.json never
 * disagrees with it.  Returns 0, DF_E_INVAL (bad name, a planted link),
 * DF_E_IO. */
int jobspec_write_manifest(struct manifest *m, const char *jobs_dir, struct df_err *err);

/* Make the job directory of `s` under jobs_dir (created as needed, no link
 * followed) and write job.json and job.sbatch (every value in it quoted, see
 * shellq.h); `date` (YYYY-MM-DD) fills {date} in outputs.  Returns 0 and
 * fills *out, or DF_E_INVAL (an id, the worker path or an argument a script
 * cannot carry), DF_E_IO, the planner's error. */
int jobspec_write(const struct jobspec_opts *o, const struct manifest *m, const struct shot *s,
                  const char *date, const char *jobs_dir, struct jobspec *out, struct df_err *err);

/* Shots whose scripts would differ only in the shot can share one job array:
 * this writes the knobs that must agree (resources, layout degrees, worker)
 * into dst.  Returns 0, or -1 when cap is too small. */
int jobspec_array_key(const struct jobspec_opts *o, const struct manifest *m, const struct shot *s,
                      const struct layout *l, char *dst, size_t cap);

/* One array job for n_shots shots already written with jobspec_write (their
 * job dirs share a parent): <jobs>/<manifest>/array-<first shot>.sbatch with
 * --array=0-(n-1)[%throttle]; task i renders shots[i] in its own job dir and
 * logs to <jobs>/<manifest>/logs/slurm-<array id>_<i>.out.  Task i's job id
 * for dependencies is "<array id>_<i>".  Returns 0 and the script path, or
 * DF_E_IO / DF_E_RANGE. */
int jobspec_write_array(const struct jobspec_opts *o, const struct manifest *m,
                        const struct shot *const *shots, const struct jobspec *jobs, int n_shots,
                        int throttle, const char *date, char *script, size_t script_cap,
                        struct df_err *err);

/* The warning time (--signal=B:USR1@N) the script of shot s asks for: the
 * grace asked for (o->grace_s, 0: 120 s) clamped to half the shot's time
 * limit.  When it clamps and note is not NULL, note says so in one line
 * (else note is ""). */
int jobspec_grace(const struct jobspec_opts *o, const struct shot *s, char *note, size_t cap);

/* sbatch's argument vector for SCRIPT (run without a shell, see subproc.h):
 * --parsable, then for a non-empty `deps` (job ids joined by ':')
 * --dependency=afterok:DEPS --kill-on-invalid-dep=yes, then --comment=TOKEN
 * when token is not NULL (an identifier: the daemon finds the job by it after
 * a crash), then SCRIPT.  Returns 0 or DF_E_INVAL / DF_E_RANGE. */
struct jobspec_sbatch {
    const char *argv[8]; /* NULL-terminated; points into this struct and at script */
    char dep[1024];
    char comment[96];
};
int jobspec_submit_argv(const char *deps, const char *token, const char *script,
                        struct jobspec_sbatch *a, struct df_err *err);

/* Run sbatch for SCRIPT (jobspec_submit_argv without a token) and wait for
 * it.  Returns 0 and the job id in id[id_cap], or DF_E_SLURM with Slurm's own
 * message verbatim in err ("sbatch SCRIPT: sbatch: error: ..."). */
int jobspec_submit(const char *deps, const char *script, char *id, size_t id_cap,
                   struct df_err *err);

/* For callers that run sbatch themselves (the daemon, in the background):
 * its output (out is modified: trailing blanks trimmed) and exit status read
 * as above. */
int jobspec_submit_parse(const char *script, int status, int timed_out, char *out, char *id,
                         size_t id_cap, struct df_err *err);

/* Where ditfarm-worker is: `given` resolved, else next to this program or in
 * ../worker/ (build tree), else "ditfarm-worker" (from PATH).  Never fails. */
void jobspec_find_worker(const char *given, char *dst, size_t cap);


#endif /* DF_JOBSPEC_H */
