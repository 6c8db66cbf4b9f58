/*
 * job.h -- one shot as the daemon tracks it: its state machine and record.
 *
 * The daemon keeps a `struct job_shot` per shot in the store (store.h); the
 * loop (loop.c) observes the world (sbatch results, squeue, the job directory)
 * and calls the job_on_*() functions below, which change the record in memory
 * and say which event, if any, to notify.  The loop then saves the record.
 * The state diagram is at the top of job.c.
 *
 *     struct job_shot s;             // from store_shots_list()
 *     enum job_event ev = job_on_submitted(&s, "1234", now);
 *     store_shot_save(st, &s, old_state, &err);
 *     if (ev != JOB_EVENT_NONE) ... queue a webhook (notify.h) ...
 */
#ifndef DF_JOB_H
#define DF_JOB_H

#include "err.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

enum job_state {
    JOB_STATE_QUEUED,    /* ready: sbatch at the next submit pass */
    JOB_STATE_WAITING,   /* some `after:` shot is not done yet */
    JOB_STATE_SUBMITTED, /* sbatch gave a job id; pending in Slurm */
    JOB_STATE_RUNNING,   /* Slurm says RUNNING */
    JOB_STATE_RETRYING,  /* sbatch could not reach Slurm; tried again at next_try */
    JOB_STATE_DONE,      /* the worker wrote <job_dir>/ckpt/<shot>.done */
    JOB_STATE_FAILED,    /* gave up: reason says why */
    JOB_STATE_CANCELLED, /* `ditfarm cancel` */
    JOB_STATE_SUBMITTING, /* token saved, sbatch running: its job may exist (see loop.c) */
    JOB_STATE_PREPARING,  /* accepted; its job directory is being written (intake.c) */
    JOB_STATE_COUNT
};
/* "queued", "waiting", ...; "?" out of range. */
const char *job_state_name(enum job_state s);
/* 0, or DF_E_INVAL when `name` is no state (*out untouched). */
int job_state_from_name(const char *name, enum job_state *out);
/* 1 for done, failed, cancelled: nothing will change them again. */
int job_state_terminal(enum job_state s);
/* 1 when the diagram in job.c has an edge from -> to. */
int job_transition_ok(enum job_state from, enum job_state to);

/* What a transition tells the webhooks (the "event" key of the payload). */
enum job_event {
    JOB_EVENT_NONE,
    JOB_EVENT_SUBMITTED, /* "shot.submitted" */
    JOB_EVENT_RUNNING,   /* "shot.running" */
    JOB_EVENT_RETRYING,  /* "shot.retrying": Slurm unreachable, reason = sbatch's words */
    JOB_EVENT_RESUBMIT,  /* "shot.resubmit": ended unfinished with a checkpoint */
    JOB_EVENT_DONE,      /* "shot.done" */
    JOB_EVENT_FAILED,    /* "shot.failed" */
    JOB_EVENT_CANCELLED, /* "shot.cancelled" */
    JOB_EVENT_COUNT
};
const char *job_event_name(enum job_event e);

#define JOB_ID_CAP 64
#define JOB_TEXT_CAP 1024

struct job_shot {
    int64_t row;               /* store key */
    int64_t manifest_row;      /* the submission it belongs to */
    char manifest[JOB_ID_CAP]; /* manifest name */
    char shot[JOB_ID_CAP];     /* shot id */
    enum job_state state;      /* see the diagram in job.c */
    char job_id[32];           /* Slurm job id of the latest submission, "" before */
    char job_dir[PATH_MAX];    /* <jobs_dir>/<manifest>/<shot> */
    char deps[JOB_TEXT_CAP];   /* `after:` shot ids, space-separated */
    char notify[JOB_TEXT_CAP]; /* webhook URLs, space-separated */
    int priority;              /* higher is submitted first */
    int attempts;              /* submissions that got a job id */
    int submit_tries;          /* sbatch failures in a row (retrying) */
    int64_t next_try;          /* unix time of the next sbatch attempt */
    char reason[JOB_TEXT_CAP]; /* why failed/retrying/resubmitted ("" otherwise) */
    char output[PATH_MAX];     /* the video, once done */
    int64_t updated;           /* unix time of the last change */
    char token[64];            /* submission token (sbatch --comment) of the last submit */
};

/* ---- transitions (each names its edge of the diagram) --------------------- */

/* Intake: new record -> waiting when it has deps, else queued (also
 * preparing -> waiting|queued once the job directory is written). */
enum job_event job_on_intake(struct job_shot *s, int64_t now);
/* New record -> preparing: its job directory is written by a later tick. */
enum job_event job_on_preparing(struct job_shot *s, int64_t now);
/* preparing -> failed: the job directory could not be written (msg says why). */
enum job_event job_on_prepare_error(struct job_shot *s, const char *msg, int64_t now);
/* waiting -> queued (every dep done) or failed (a dep failed or was
 * cancelled: `dep` names it).  n_done deps of n_deps are done. */
enum job_event job_on_deps(struct job_shot *s, int n_deps, int n_done, const char *dep_failed,
                           int64_t now);
/* queued|retrying -> submitting: `token` (an identifier, unique per submit)
 * is saved before sbatch runs with --comment=token. */
enum job_event job_on_submitting(struct job_shot *s, const char *token, int64_t now);
/* submitting (or queued|retrying) -> submitted: sbatch printed job_id, or a
 * restarted daemon found the job carrying the shot's token. */
enum job_event job_on_submitted(struct job_shot *s, const char *job_id, int64_t now);
/* submitting -> queued: Slurm has no job with the shot's token (the sbatch
 * of a daemon that died never made one): submit again. */
enum job_event job_on_submit_lost(struct job_shot *s, int64_t now);
/* queued|retrying|submitting -> retrying (Slurm unreachable: next try after
 * backoff) or failed (Slurm refused the job: the message is final). */
enum job_event job_on_submit_error(struct job_shot *s, const char *msg, int retry_base_s,
                                   int retry_max_s, int64_t now);
/* 1 when sbatch's message means "the controller did not answer" (retry)
 * rather than "the job is refused" (fail). */
int job_submit_error_transient(const char *msg);

/* What the job directory says about a job that Slurm no longer runs. */
struct job_end {
    int done;              /* the done marker exists */
    char output[PATH_MAX]; /* what it names */
    int has_ckpt;          /* a checkpoint of the shot is in ckpt/ */
    char last_line[512];   /* the batch script's last "ditfarm: ..." line, or "" */
};
/* Read <job_dir>/ckpt/<shot>.done, look for ckpt-<shot>-* files and the last
 * "ditfarm:" line of logs/slurm-<job_id>.out.  Returns 0 (missing files are
 * not errors), DF_E_IO when the directory cannot be read. */
int job_inspect_end(const struct job_shot *s, struct job_end *out, struct df_err *err);

/* submitted|running -> running|submitted: Slurm's state of a live job
 * (RUNNING/COMPLETING -> running; PENDING/REQUEUED... -> submitted). */
enum job_event job_on_slurm_state(struct job_shot *s, const char *slurm_state, int64_t now);
/* 1 when `slurm_state` means the job is over (COMPLETED, CANCELLED, ...). */
int job_slurm_state_final(const char *slurm_state);
/* submitted|running -> done (marker), queued (unfinished, checkpoint left,
 * attempts < max_attempts: resubmit, the worker resumes) or failed.
 * slurm_state is Slurm's last word ("" when Slurm forgot the job). */
enum job_event job_on_job_end(struct job_shot *s, const struct job_end *end,
                              const char *slurm_state, int max_attempts, int64_t now);
/* any non-terminal -> cancelled.  Returns JOB_EVENT_NONE when already terminal. */
enum job_event job_on_cancel(struct job_shot *s, int64_t now);
/* failed|cancelled -> waiting (it has deps) or queued: an operator's retry
 * (attempts start again; its checkpoints stay, so it resumes).  Returns
 * JOB_EVENT_NONE and leaves s alone in any other state. */
enum job_event job_on_retry(struct job_shot *s, int64_t now);

#endif /* DF_JOB_H */
