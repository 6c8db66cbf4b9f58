/*
 * job.c -- the state machine of one shot in the daemon (see job.h).
 *
 *                      job_on_intake
 *            +-------------+--------------+
 *            v                            v
 *        WAITING --job_on_deps--> QUEUED <-----------------------------+
 *            |                      |  |                                |
 *   job_on_deps (dep failed)        |  job_on_submit_error (transient)  |
 *            |                      |  v                                |
 *            |                      | RETRYING --job_on_submit_error--+ |
 *            |                      |  |   ^       (transient again)  | |
 *            |                      |  |   +--------------------------+ |
 *            |      job_on_submitted|  |job_on_submitted                |
 *            |                      v  v                                |
 *            |                    SUBMITTED <--job_on_slurm_state--+    |
 *            |                      |    \     (requeued: PENDING)  |    |
 *            |  job_on_slurm_state  |     \                         |    |
 *            |      (RUNNING)       v      \                        |    |
 *            |                    RUNNING --+-----------------------+    |
 *            |                      |                                    |
 *            |            job_on_job_end: unfinished, checkpoint left,   |
 *            |            attempts < max  -------------------------------+
 *            v                      |
 *         FAILED <--job_on_job_end--+--job_on_job_end--> DONE
 *          ^  (no marker, no checkpoint / attempts used up)  (done marker)
 *          +-- job_on_submit_error (Slurm refused the job)
 *
 *   A big manifest's shots start in PREPARING (job_on_preparing) until a
 *   tick has written their job directory (intake.c), then job_on_intake.
 *   QUEUED and RETRYING pass through SUBMITTING (token saved, sbatch runs;
 *   job_on_submitting) on their way to SUBMITTED, RETRYING or FAILED; a
 *   restarted daemon moves SUBMITTING to SUBMITTED (job found by its token)
 *   or back to QUEUED (job_on_submit_lost).
 *   Any non-terminal state --job_on_cancel--> CANCELLED.
 *   FAILED, CANCELLED --job_on_retry--> WAITING or QUEUED (an operator's retry).
 *
 * Invariants:
 *  1. DONE, FAILED and CANCELLED are terminal: only job_on_retry, asked for
 *     by an operator, leaves FAILED and CANCELLED.
 *  2. job_id is set exactly in SUBMITTED and RUNNING (it is kept afterwards
 *     for the record); a resubmission replaces it.
 *  3. DONE means the worker's done marker exists: Slurm's exit state alone
 *     never makes a shot done (a step Slurm failed to launch exits 0 too).
 *  4. attempts counts job ids obtained; a shot is resubmitted after an
 *     unfinished end only while attempts < max_attempts.
 *  5. RETRYING is only for a controller that does not answer; a refusal
 *     (bad partition, bad account...) fails the shot with sbatch's words.
 */
#include "job.h"
#include "worker_exit.h"

#include "ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
    "queued", "waiting", "submitted", "running", "retrying", "done", "failed", "cancelled",
    "submitting", "preparing",
};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == JOB_STATE_COUNT,
               "one name per job state");

static const char *const event_names[] = {
    "none",          "shot.submitted", "shot.running", "shot.retrying",
    "shot.resubmit", "shot.done",      "shot.failed",  "shot.cancelled",
};
_Static_assert(sizeof(event_names) / sizeof(event_names[0]) == JOB_EVENT_COUNT,
               "one name per job event");

const char *job_state_name(enum job_state s)
{
    return (unsigned)s < JOB_STATE_COUNT ? state_names[s] : "?";
}

const char *job_event_name(enum job_event e)
{
    return (unsigned)e < JOB_EVENT_COUNT ? event_names[e] : "?";
}

int job_state_from_name(const char *name, enum job_state *out)
{
    for (int i = 0; i < JOB_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0) {
            *out = (enum job_state)i;
            return 0;
        }
    return DF_E_INVAL;
}

int job_state_terminal(enum job_state s)
{
    return s == JOB_STATE_DONE || s == JOB_STATE_FAILED || s == JOB_STATE_CANCELLED;
}

/* The edges of the diagram above, row = from, column = to. */
static const unsigned char edges[JOB_STATE_COUNT][JOB_STATE_COUNT] = {
    /* columns: queued waiting submitted running retrying done failed cancelled submitting
     * preparing */
    [JOB_STATE_QUEUED] = {0, 0, 1, 0, 1, 0, 1, 1, 1, 0},
    [JOB_STATE_WAITING] = {1, 0, 0, 0, 0, 0, 1, 1, 0, 0},
    [JOB_STATE_SUBMITTED] = {1, 0, 0, 1, 0, 1, 1, 1, 0, 0},
    [JOB_STATE_RUNNING] = {1, 0, 1, 0, 0, 1, 1, 1, 0, 0},
    [JOB_STATE_RETRYING] = {0, 0, 1, 0, 1, 0, 1, 1, 1, 0},
    [JOB_STATE_FAILED] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0},    /* job_on_retry */
    [JOB_STATE_CANCELLED] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, /* job_on_retry */
    [JOB_STATE_SUBMITTING] = {1, 0, 1, 0, 1, 0, 1, 1, 0, 0},
    [JOB_STATE_PREPARING] = {1, 1, 0, 0, 0, 0, 1, 1, 0, 0},
};

int job_transition_ok(enum job_state from, enum job_state to)
{
    if ((unsigned)from >= JOB_STATE_COUNT || (unsigned)to >= JOB_STATE_COUNT)
        return 0;
    return edges[from][to];
}

static void move(struct job_shot *s, enum job_state to, int64_t now)
{
    s->state = to;
    s->updated = now;
}

enum job_event job_on_intake(struct job_shot *s, int64_t now)
{
    s->attempts = s->submit_tries = 0;
    s->next_try = 0;
    s->job_id[0] = s->reason[0] = s->output[0] = '\0';
    move(s, s->deps[0] ? JOB_STATE_WAITING : JOB_STATE_QUEUED, now);
    return JOB_EVENT_NONE;
}

enum job_event job_on_preparing(struct job_shot *s, int64_t now)
{
    job_on_intake(s, now);
    move(s, JOB_STATE_PREPARING, now);
    return JOB_EVENT_NONE;
}

enum job_event job_on_prepare_error(struct job_shot *s, const char *msg, int64_t now)
{
    if (s->state != JOB_STATE_PREPARING)
        return JOB_EVENT_NONE;
    snprintf(s->reason, sizeof(s->reason), "%s", msg);
    move(s, JOB_STATE_FAILED, now);
    return JOB_EVENT_FAILED;
}

enum job_event job_on_deps(struct job_shot *s, int n_deps, int n_done, const char *dep_failed,
                           int64_t now)
{
    if (s->state != JOB_STATE_WAITING)
        return JOB_EVENT_NONE;
    if (dep_failed) {
        snprintf(s->reason, sizeof(s->reason), "dependency %s did not finish", dep_failed);
        move(s, JOB_STATE_FAILED, now);
        return JOB_EVENT_FAILED;
    }
    if (n_done == n_deps)
        move(s, JOB_STATE_QUEUED, now);
    return JOB_EVENT_NONE;
}

enum job_event job_on_submitting(struct job_shot *s, const char *token, int64_t now)
{
    if (s->state != JOB_STATE_QUEUED && s->state != JOB_STATE_RETRYING)
        return JOB_EVENT_NONE;
    snprintf(s->token, sizeof(s->token), "%s", token);
    s->updated = now;
    /* the previous state is remembered by the store's history; retrying's
     * backoff fields stay for the next failure */
    s->state = JOB_STATE_SUBMITTING;
    return JOB_EVENT_NONE;
}

enum job_event job_on_submit_lost(struct job_shot *s, int64_t now)
{
    if (s->state != JOB_STATE_SUBMITTING)
        return JOB_EVENT_NONE;
    snprintf(s->reason, sizeof(s->reason),
             "no Slurm job carries token %s (its sbatch did not finish): submitting again",
             s->token);
    move(s, JOB_STATE_QUEUED, now);
    return JOB_EVENT_NONE;
}

enum job_event job_on_submitted(struct job_shot *s, const char *job_id, int64_t now)
{
    if (s->state != JOB_STATE_QUEUED && s->state != JOB_STATE_RETRYING &&
        s->state != JOB_STATE_SUBMITTING)
        return JOB_EVENT_NONE;
    snprintf(s->job_id, sizeof(s->job_id), "%s", job_id);
    s->attempts++;
    s->submit_tries = 0;
    s->reason[0] = '\0';
    move(s, JOB_STATE_SUBMITTED, now);
    return JOB_EVENT_SUBMITTED;
}

int job_submit_error_transient(const char *msg)
{
    /* what sbatch and the `timeout` wrapper say when slurmctld is down,
     * restarting or overloaded (Slurm 22.05 wording) */
    static const char *const words[] = {
        "Unable to contact slurm controller",
        "Socket timed out",
        "Connection refused",
        "Zero Bytes were transmitted",
        "Slurm temporarily unable",
        "no answer in time",
        "Connection timed out",
        "slurm_persist_conn_open",
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(msg, words[i]))
            return 1;
    return 0;
}

enum job_event job_on_submit_error(struct job_shot *s, const char *msg, int retry_base_s,
                                   int retry_max_s, int64_t now)
{
    if (s->state != JOB_STATE_QUEUED && s->state != JOB_STATE_RETRYING &&
        s->state != JOB_STATE_SUBMITTING)
        return JOB_EVENT_NONE;
    snprintf(s->reason, sizeof(s->reason), "%s", msg);
    if (!job_submit_error_transient(msg)) {
        move(s, JOB_STATE_FAILED, now);
        return JOB_EVENT_FAILED;
    }
    /* exponential backoff: base, 2 base, 4 base... capped */
    int64_t wait = retry_base_s > 0 ? retry_base_s : 1;
    for (int i = 0; i < s->submit_tries && wait < retry_max_s; i++)
        wait *= 2;
    if (wait > retry_max_s)
        wait = retry_max_s;
    s->submit_tries++;
    s->next_try = now + wait;
    int entering = s->submit_tries == 1; /* the first failure in a row */
    move(s, JOB_STATE_RETRYING, now);
    return entering ? JOB_EVENT_RETRYING : JOB_EVENT_NONE;
}

/* ---- Slurm's view ---------------------------------------------------------- */

int job_slurm_state_final(const char *st)
{
    static const char *const finals[] = {
        "COMPLETED", "CANCELLED", "FAILED",        "TIMEOUT",      "NODE_FAIL", "PREEMPTED",
        "BOOT_FAIL", "DEADLINE",  "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED",
    };
    for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++)
        if (strncmp(st, finals[i], strlen(finals[i])) == 0)
            return 1;
    return 0;
}

enum job_event job_on_slurm_state(struct job_shot *s, const char *st, int64_t now)
{
    if (s->state != JOB_STATE_SUBMITTED && s->state != JOB_STATE_RUNNING)
        return JOB_EVENT_NONE;
    int running = strcmp(st, "RUNNING") == 0 || strcmp(st, "COMPLETING") == 0 ||
                  strcmp(st, "STAGE_OUT") == 0 || strcmp(st, "SIGNALING") == 0;
    if (running && s->state == JOB_STATE_SUBMITTED) {
        move(s, JOB_STATE_RUNNING, now);
        return JOB_EVENT_RUNNING;
    }
    /* back to pending: requeued by the batch script (USR1) or by Slurm */
    if (!running && !job_slurm_state_final(st) && s->state == JOB_STATE_RUNNING)
        move(s, JOB_STATE_SUBMITTED, now);
    return JOB_EVENT_NONE;
}

enum job_event job_on_job_end(struct job_shot *s, const struct job_end *end, const char *st,
                              int max_attempts, int64_t now)
{
    if (s->state != JOB_STATE_SUBMITTED && s->state != JOB_STATE_RUNNING)
        return JOB_EVENT_NONE;
    if (end->done) {
        snprintf(s->output, sizeof(s->output), "%s", end->output);
        s->reason[0] = '\0';
        move(s, JOB_STATE_DONE, now);
        return JOB_EVENT_DONE;
    }
    const char *slurm = st && st[0] ? st : "forgotten by Slurm";
    if (end->has_ckpt && s->attempts < max_attempts) {
        snprintf(s->reason, sizeof(s->reason),
                 "job %s ended unfinished (%s): resubmitting, resumes from its checkpoint "
                 "(attempt %d of %d)",
                 s->job_id, slurm, s->attempts + 1, max_attempts);
        s->next_try = 0;
        move(s, JOB_STATE_QUEUED, now);
        return JOB_EVENT_RESUBMIT;
    }
    snprintf(s->reason, sizeof(s->reason), "job %s ended unfinished (%s)%s%.600s%s", s->job_id,
             slurm, end->last_line[0] ? ": " : "", end->last_line,
             end->has_ckpt ? " (attempts used up)" : "");
    move(s, JOB_STATE_FAILED, now);
    return JOB_EVENT_FAILED;
}

enum job_event job_on_cancel(struct job_shot *s, int64_t now)
{
    if (job_state_terminal(s->state))
        return JOB_EVENT_NONE;
    snprintf(s->reason, sizeof(s->reason), "cancelled by the user");
    move(s, JOB_STATE_CANCELLED, now);
    return JOB_EVENT_CANCELLED;
}

enum job_event job_on_retry(struct job_shot *s, int64_t now)
{
    if (s->state != JOB_STATE_FAILED && s->state != JOB_STATE_CANCELLED)
        return JOB_EVENT_NONE;
    s->attempts = s->submit_tries = 0;
    s->next_try = 0;
    s->reason[0] = '\0';
    move(s, s->deps[0] ? JOB_STATE_WAITING : JOB_STATE_QUEUED, now);
    return JOB_EVENT_NONE;
}

/* ---- the job directory ------------------------------------------------------ */

static void last_ditfarm_line(const char *log, char *dst, size_t cap)
{
    dst[0] = '\0';
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "ditfarm: ", 9) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        snprintf(dst, cap, "%.500s", line + 9);
    }
    fclose(f);
}

int job_inspect_end(const struct job_shot *s, struct job_end *out, struct df_err *err)
{
    memset(out, 0, sizeof(*out));
    char path[PATH_MAX + 128], ckpt[PATH_MAX + 8];
    snprintf(ckpt, sizeof(ckpt), "%s/ckpt", s->job_dir);
    worker_done_path(ckpt, s->shot, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(out->output, sizeof(out->output), f))
            out->output[strcspn(out->output, "\n")] = '\0';
        out->done = 1;
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/ckpt", s->job_dir);
    struct ckpt_dir_entry *list = NULL;
    size_t n = 0;
    if (ckpt_dir_list(path, s->shot, &list, &n, err) < 0)
        return df_err_prefix(err, "shot %s", s->shot), DF_E_IO;
    for (size_t i = 0; i < n; i++)
        if (list[i].type == CKPT_NAME_FINAL)
            out->has_ckpt = 1;
    free(list);
    snprintf(path, sizeof(path), "%s/logs/slurm-%s.out", s->job_dir, s->job_id);
    last_ditfarm_line(path, out->last_line, sizeof(out->last_line));
    return 0;
}
