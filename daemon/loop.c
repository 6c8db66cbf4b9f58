/*
 * loop.c -- ditfarmd's loop: one thread, one poll() on the control socket,
 * one daemon_tick() holding every periodic job (Redis's serverCron idea).
 *
 * Sources of truth, in order: the job directory (the worker's done marker
 * <job_dir>/ckpt/<shot>.done and its checkpoints), then Slurm.  Slurm forgets
 * a finished job after MinJobAge and forgets everything when slurmctld starts
 * clean, so a job that squeue no longer lists is judged by its directory,
 * never assumed lost or done.  When squeue itself fails (controller down),
 * nothing is concluded: the shots keep their state until Slurm answers.
 */
#include "daemon.h"
#include "clock.h"

#include "ctl.h"
#include "gc.h"
#include "intake.h"
#include "depsched.h"
#include "http.h"
#include "jobspec.h"
#include "paths.h"
#include "notify.h"
#include "slurmq.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1 when `interval_ms` has passed since the timer last fired (then re-arms it). */
static int every_ms(struct daemon *d, enum daemon_timer t, int interval_ms, int64_t now_ms)
{
    if (d->last_ms[t] && now_ms - d->last_ms[t] < interval_ms)
        return 0;
    d->last_ms[t] = now_ms;
    return 1;
}

/* ---- lifetime --------------------------------------------------------------- */

/* The state dir: created 0700, and made 0700 when it is ours but open to
 * others (an older daemon made it 0755). */
static int state_dir_private(const char *dir, struct df_err *err)
{
    DF_TRY(paths_mkdirs(dir, err));
    struct stat st;
    if (lstat(dir, &st) != 0)
        return df_err_errno(err, DF_E_IO, "%s", dir);
    DF_FAIL_IF(!S_ISDIR(st.st_mode), err, DF_E_INVAL, "state directory %s is not a directory",
               dir);
    DF_FAIL_IF(st.st_uid != geteuid(), err, DF_E_INVAL,
               "state directory %s belongs to uid %d, not to this daemon's user (%d)", dir,
               (int)st.st_uid, (int)geteuid());
    if ((st.st_mode & 077) && chmod(dir, 0700) != 0)
        return df_err_errno(err, DF_E_IO, "cannot make %s private (chmod 0700)", dir);
    return 0;
}

/* output-roots: "" is the daemon user's home; every root must be absolute. */
static int output_roots_resolve(struct config *cfg, struct df_err *err)
{
    if (!cfg->output_roots[0]) {
        const char *home = getenv("HOME");
        DF_FAIL_IF(!home || home[0] != '/', err, DF_E_INVAL,
                   "output-roots is empty and $HOME is not set: configure output-roots");
        snprintf(cfg->output_roots, sizeof(cfg->output_roots), "%.4000s", home);
    }
    for (const char *p = cfg->output_roots; *p;) {
        size_t n = strcspn(p, ":");
        DF_FAIL_IF(n == 0 || p[0] != '/', err, DF_E_INVAL,
                   "output-roots: '%.*s' is not an absolute directory", (int)n, p);
        p += n + (p[n] == ':');
    }
    return 0;
}

int daemon_open(struct daemon *d, const struct config *c, struct df_log *log, struct df_err *err)
{
    memset(d, 0, sizeof(*d));
    d->q_jobs.fd = d->q_nodes.fd = d->q_sbatch.fd = d->q_recon.fd = -1;
    d->cfg = *c;
    d->log = log;
    d->listen_fd = -1;
    conns_init(&d->conns);
    d->magic = DAEMON_MAGIC;
    struct config *cfg = &d->cfg;
    char path[PATH_MAX + 32];
    int rc;
    if ((rc = state_dir_private(cfg->state_dir, err)) < 0 ||
        (rc = output_roots_resolve(cfg, err)) < 0)
        goto fail;
    if (!cfg->jobs_dir[0])
        snprintf(cfg->jobs_dir, sizeof(cfg->jobs_dir), "%.4000s/jobs", cfg->state_dir);
    snprintf(path, sizeof(path), "%s/manifests", cfg->state_dir);
    if ((rc = paths_mkdirs(cfg->jobs_dir, err)) < 0 || (rc = paths_mkdirs(path, err)) < 0)
        goto fail;
    if ((rc = notify_key_load(cfg, &d->key, err)) < 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/ditfarmd.db", cfg->state_dir);
    if ((rc = store_open(path, &d->st, err)) < 0)
        goto fail;
    /* a shot left in `submitting` may have a job: find it before any sbatch */
    if ((rc = store_count_state(d->st, JOB_STATE_SUBMITTING, err)) < 0)
        goto fail;
    d->reconcile = rc > 0;
    intake_abandon(d);
    if ((rc = ctl_socket_path(cfg->state_dir, d->sock_path, sizeof(d->sock_path), err)) < 0 ||
        (rc = ctl_listen(d->sock_path, &d->listen_fd, err)) < 0)
        goto fail;
    if (cfg->http_listen[0] && (rc = http_start(&d->http, cfg, log, err)) < 0)
        goto fail;
    return 0;
fail:
    d->sock_path[0] = '\0'; /* not ours to remove */
    daemon_close(d);
    return rc;
}

void daemon_close(struct daemon *d)
{
    http_stop(d->http); /* first: its threads read the store */
    d->http = NULL;
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
        if (d->sock_path[0])
            unlink(d->sock_path);
    }
    d->listen_fd = -1;
    conns_close_all(&d->conns);
    intake_free_all(d);
    proc_free(&d->q_jobs);
    proc_free(&d->q_nodes);
    proc_free(&d->q_sbatch);
    proc_free(&d->q_recon);
    free(d->polled);
    d->polled = NULL;
    store_close(d->st);
    d->st = NULL;
    memset(&d->key, 0, sizeof(d->key));
    d->magic = 0;
}

/* ---- transitions ---------------------------------------------------------------- */

int daemon_apply(struct daemon *d, struct job_shot *s, enum job_state from, enum job_event ev,
                 struct df_err *err)
{
    if (s->state == from && ev == JOB_EVENT_NONE) {
        /* same state, maybe new fields (retry time): save quietly */
        return store_shot_save(d->st, s, from, err);
    }
    DF_TRY(store_shot_save(d->st, s, from, err));
    const char *job = s->job_id[0] ? s->job_id : "-";
    char reason[JOB_TEXT_CAP]; /* one log line: Slurm's multi-line words joined */
    snprintf(reason, sizeof(reason), "%s", s->reason);
    for (char *c = reason; (c = strchr(c, '\n'));)
        *c = c[1] ? '|' : '\0';
    if (s->state == JOB_STATE_FAILED || s->state == JOB_STATE_RETRYING)
        DF_WARN(d->log, "shot %s/%s: %s -> %s (job %s): %s", s->manifest, s->shot,
                job_state_name(from), job_state_name(s->state), job, reason);
    else
        DF_INFO(d->log, "shot %s/%s: %s -> %s (job %s)%s%s%s", s->manifest, s->shot,
                job_state_name(from), job_state_name(s->state), job,
                s->state == JOB_STATE_DONE ? ": "
                : s->reason[0]             ? ": "
                                           : "",
                s->state == JOB_STATE_DONE ? s->output : "",
                s->state == JOB_STATE_DONE ? "" : reason);
    return notify_queue_shot(d->st, &d->cfg, s, ev, time(NULL), err);
}

static void apply_or_log(struct daemon *d, struct job_shot *s, enum job_state from,
                         enum job_event ev)
{
    struct df_err err = {0};
    if (daemon_apply(d, s, from, ev, &err) < 0)
        DF_ERROR(d->log, "shot %s/%s: %s", s->manifest, s->shot, err.msg);
}

/* ---- tick jobs -------------------------------------------------------------------- */

/* Start squeue, remembering which shots (and job ids) its answer is about:
 * a shot submitted while it runs is not in its answer yet. */
static void start_poll_jobs(struct daemon *d)
{
    struct job_shot *act = NULL;
    size_t n = 0;
    struct df_err err = {0};
    if (store_shots_list(d->st, STORE_ACTIVE, &act, &n, &err) < 0) {
        DF_ERROR(d->log, "%s", err.msg);
        return;
    }
    free(d->polled);
    d->polled = calloc(n ? n : 1, sizeof(*d->polled));
    d->n_polled = 0;
    for (size_t i = 0; d->polled && i < n; i++) {
        if (act[i].state != JOB_STATE_SUBMITTED && act[i].state != JOB_STATE_RUNNING)
            continue;
        d->polled[d->n_polled].row = act[i].row;
        snprintf(d->polled[d->n_polled++].job_id, sizeof(d->polled[0].job_id), "%s", act[i].job_id);
    }
    free(act);
    if (d->n_polled &&
        proc_start(&d->q_jobs, slurmq_jobs_argv, d->cfg.sbatch_timeout_s * 1000, &err) < 0)
        DF_ERROR(d->log, "%s", err.msg);
}

static int was_polled(const struct daemon *d, const struct job_shot *s)
{
    for (size_t i = 0; i < d->n_polled; i++)
        if (d->polled[i].row == s->row && strcmp(d->polled[i].job_id, s->job_id) == 0)
            return 1;
    return 0;
}

/* squeue answered: move submitted and running shots; jobs Slurm no longer
 * runs are judged by their job directory. */
static void finish_poll_jobs(struct daemon *d, int64_t now)
{
    struct slurmq_item *jobs = NULL;
    size_t nj = 0;
    struct df_err err = {0};
    if (slurmq_parse(SLURMQ_JOBS_CMD, d->q_jobs.status, d->q_jobs.out, &jobs, &nj, &err) < 0) {
        if (!d->slurm_unreachable)
            DF_WARN(d->log, "Slurm does not answer; job states are kept until it does: %s",
                    err.msg);
        d->slurm_unreachable = 1;
        return;
    }
    if (d->slurm_unreachable)
        DF_INFO(d->log, "Slurm answers again");
    d->slurm_unreachable = 0;
    struct job_shot *act = NULL;
    size_t n = 0;
    if (store_shots_list(d->st, STORE_ACTIVE, &act, &n, &err) < 0)
        DF_ERROR(d->log, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        struct job_shot *s = &act[i];
        if ((s->state != JOB_STATE_SUBMITTED && s->state != JOB_STATE_RUNNING) || !was_polled(d, s))
            continue;
        enum job_state from = s->state;
        const char *st = slurmq_lookup(jobs, nj, s->job_id);
        if (st && !job_slurm_state_final(st)) {
            apply_or_log(d, s, from, job_on_slurm_state(s, st, now));
            continue;
        }
        struct job_end end;
        if (job_inspect_end(s, &end, &err) < 0) {
            DF_ERROR(d->log, "%s", err.msg);
            continue;
        }
        apply_or_log(d, s, from, job_on_job_end(s, &end, st ? st : "", d->cfg.max_attempts, now));
    }
    free(act);
    free(jobs);
}

/* The store's shots as nodes of the one `after:` scheduler (lib/depsched.h);
 * dependencies resolve within a manifest. */
static struct dep_node *dep_nodes(const struct job_shot *all, size_t n)
{
    struct dep_node *d = calloc(n ? n : 1, sizeof(*d));
    for (size_t i = 0; d && i < n; i++) {
        enum job_state st = all[i].state;
        d[i] = (struct dep_node){.id = all[i].shot, .group = all[i].manifest_row,
                                 .priority = all[i].priority,
                                 .state = st == JOB_STATE_DONE ? DEP_STATE_DONE
                                          : st == JOB_STATE_FAILED || st == JOB_STATE_CANCELLED
                                              ? DEP_STATE_FAILED
                                          : st == JOB_STATE_WAITING ? DEP_STATE_PENDING
                                                                    : DEP_STATE_ACTIVE};
    }
    return d;
}

/* How many `after:` shots of shot i are done; *failed names one that never will be. */
static int deps_done(const struct job_shot *all, struct dep_node *nodes, size_t n, size_t i,
                     int *n_deps, const char **failed)
{
    char buf[JOB_TEXT_CAP], *save = NULL;
    const char *ids[JOB_TEXT_CAP / 2];
    size_t k = 0;
    snprintf(buf, sizeof(buf), "%s", all[i].deps);
    for (char *id = strtok_r(buf, " ", &save); id && k < JOB_TEXT_CAP / 2;
         id = strtok_r(NULL, " ", &save))
        ids[k++] = id;
    nodes[i].after = ids, nodes[i].n_after = k;
    struct dep_check c = depsched_check(nodes, n, i);
    nodes[i].after = NULL, nodes[i].n_after = 0;
    *n_deps = c.n_deps;
    *failed = c.blocker >= 0 ? all[c.blocker].shot : NULL;
    return c.n_done;
}

/* A token no other submission has: the shot's row, its attempt, 8 random
 * bytes (an identifier, ident.h). */
static void make_token(const struct job_shot *s, char *dst, size_t cap)
{
    unsigned char r[8] = {0};
    char hex[17];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(r, &ts.tv_nsec, sizeof(ts.tv_nsec) < sizeof(r) ? sizeof(ts.tv_nsec) : sizeof(r));
    }
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    snprintf(dst, cap, "ditfarm-%lld-%d-%s", (long long)s->row, s->attempts + 1, hex);
}

/* Exactly-once submission: the shot goes to `submitting` with a fresh token,
 * saved (committed) before sbatch runs with --comment=TOKEN.  If the daemon
 * dies while sbatch runs, the restarted daemon finds the shot in
 * `submitting` and asks Slurm for a job with that token before it submits
 * anything (reconcile_*): the job is adopted, or the shot is queued again. */
/* A lowered priority is Slurm's nice too: "--nice=N" goes before the script
 * (raising one would need a Slurm operator; the daemon's own order does it). */
static void add_nice(struct jobspec_sbatch *a, int priority, char *buf, size_t cap)
{
    size_t n = 0;
    while (a->argv[n])
        n++;
    if (priority >= 0 || n < 2 || n + 1 >= sizeof(a->argv) / sizeof(a->argv[0]))
        return;
    snprintf(buf, cap, "--nice=%d", -priority);
    a->argv[n + 1] = NULL;
    a->argv[n] = a->argv[n - 1];
    a->argv[n - 1] = buf;
}

static void submit_one(struct daemon *d, const struct job_shot *shot, int64_t now)
{
    struct job_shot s = *shot;
    struct df_err err = {0};
    char script[PATH_MAX + 16], token[64];
    struct jobspec_sbatch a;
    enum job_state from = s.state;
    make_token(&s, token, sizeof(token));
    job_on_submitting(&s, token, now);
    snprintf(script, sizeof(script), "%.4000s/job.sbatch", s.job_dir);
    if (daemon_apply(d, &s, from, JOB_EVENT_NONE, &err) < 0 ||
        jobspec_submit_argv("", token, script, &a, &err) < 0) {
        DF_ERROR(d->log, "shot %s/%s: %s", s.manifest, s.shot, err.msg);
        return;
    }
    char nice[32];
    add_nice(&a, s.priority, nice, sizeof(nice));
    if (proc_start(&d->q_sbatch, a.argv, d->cfg.sbatch_timeout_s * 1000, &err) < 0) {
        from = s.state;
        apply_or_log(d, &s, from,
                     job_on_submit_error(&s, err.msg, d->cfg.submit_retry_base_s,
                                         d->cfg.submit_retry_max_s, now));
        return;
    }
    d->sbatch_row = s.row;
}

/* Release waiting shots whose dependencies are done, then start sbatch for
 * the first ready shot (one sbatch at a time: while Slurm is down each would
 * wait out the same MessageTimeout). */
static void start_submit(struct daemon *d, int64_t now)
{
    struct job_shot *all = NULL;
    size_t n = 0;
    struct df_err err = {0};
    if (store_shots_list(d->st, STORE_ALL, &all, &n, &err) < 0) {
        DF_ERROR(d->log, "%s", err.msg);
        return;
    }
    const struct job_shot *next = NULL;
    struct dep_node *nodes = dep_nodes(all, n);
    for (size_t i = 0; nodes && i < n; i++) {
        struct job_shot *s = &all[i];
        enum job_state from = s->state;
        if (s->state == JOB_STATE_WAITING) {
            int n_deps;
            const char *failed;
            int done = deps_done(all, nodes, n, i, &n_deps, &failed);
            apply_or_log(d, s, from, job_on_deps(s, n_deps, done, failed, now));
        }
        int ready =
            s->state == JOB_STATE_QUEUED || (s->state == JOB_STATE_RETRYING && s->next_try <= now);
        /* highest priority first, then oldest */
        if (ready && (!next || s->priority > next->priority))
            next = s;
    }
    if (next && !d->reconcile)
        submit_one(d, next, now);
    free(nodes);
    free(all);
}

/* sbatch answered for shot sbatch_row. */
static void finish_submit(struct daemon *d, int64_t now)
{
    struct job_shot *act = NULL, *s = NULL;
    size_t n = 0;
    struct df_err err = {0};
    char id[32] = "";
    char script[PATH_MAX + 16];
    if (store_shots_list(d->st, STORE_ACTIVE, &act, &n, &err) < 0)
        DF_ERROR(d->log, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        if (act[i].row == d->sbatch_row)
            s = &act[i];
    snprintf(script, sizeof(script), "%s", "job.sbatch");
    if (s)
        snprintf(script, sizeof(script), "%.4000s/job.sbatch", s->job_dir);
    if (!s) {
        /* cancelled while sbatch ran: cancel whatever sbatch made */
        if (jobspec_submit_parse(script, d->q_sbatch.status, 0, d->q_sbatch.out, id, sizeof(id),
                                 &err) == 0 &&
            slurmq_cancel(id, d->cfg.sbatch_timeout_s, &err) < 0)
            DF_WARN(d->log, "%s", err.msg);
        free(act);
        return;
    }
    enum job_state from = s->state;
    enum job_event ev;
    if (d->q_sbatch.status == PROC_TIMED_OUT && s->state == JOB_STATE_SUBMITTING) {
        /* sbatch was killed at its deadline: its job may exist all the same.
         * Ask Slurm by token before anything is submitted again. */
        DF_WARN(d->log, "shot %s/%s: sbatch gave no answer in %d s: looking for job %s in Slurm "
                        "before submitting again",
                s->manifest, s->shot, d->cfg.sbatch_timeout_s, s->token);
        d->reconcile = 1;
        free(act);
        return;
    }
    if (jobspec_submit_parse(script, d->q_sbatch.status, d->q_sbatch.status == PROC_TIMED_OUT,
                             d->q_sbatch.out, id, sizeof(id), &err) == 0) {
        ev = job_on_submitted(s, id, now);
    } else {
        d->sbatch_failures++;
        ev = job_on_submit_error(s, err.msg, d->cfg.submit_retry_base_s, d->cfg.submit_retry_max_s,
                                 now);
        if (s->state == JOB_STATE_RETRYING && ev == JOB_EVENT_NONE)
            DF_WARN(d->log, "shot %s/%s: sbatch failed again (try %d, next in %llds): %s",
                    s->manifest, s->shot, s->submit_tries, (long long)(s->next_try - now),
                    s->reason);
    }
    apply_or_log(d, s, from, ev);
    free(act);
}

/* ---- reconcile: shots left in `submitting` ------------------------------------- */

static void start_reconcile(struct daemon *d, int64_t now)
{
    struct df_err err = {0};
    char uid[24];
    (void)now;
    if (!d->reconcile || proc_active(&d->q_sbatch))
        return;
    /* every job of ours Slurm still knows, with its comment (our token) */
    snprintf(uid, sizeof(uid), "%u", (unsigned)geteuid());
    const char *argv[] = {"squeue", "-h", "-t", "all", "-u", uid, "-o", "%i %k", NULL};
    if (proc_start(&d->q_recon, argv, d->cfg.sbatch_timeout_s * 1000, &err) < 0)
        DF_ERROR(d->log, "%s", err.msg);
}

/* squeue answered: a submitting shot whose token is on a job adopts it;
 * one whose token is nowhere goes back to queued.  When squeue fails,
 * nothing is concluded and nothing is submitted: the next tick asks again. */
static void finish_reconcile(struct daemon *d, int64_t now)
{
    struct slurmq_item *jobs = NULL;
    size_t nj = 0;
    struct df_err err = {0};
    if (slurmq_parse("squeue -o '%i %k'", d->q_recon.status, d->q_recon.out, &jobs, &nj, &err) <
        0) {
        DF_WARN(d->log, "reconcile: %s (nothing is submitted until Slurm answers)", err.msg);
        return;
    }
    struct job_shot *act = NULL;
    size_t n = 0;
    if (store_shots_list(d->st, STORE_ACTIVE, &act, &n, &err) < 0) {
        DF_ERROR(d->log, "%s", err.msg);
        free(jobs);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct job_shot *s = &act[i];
        if (s->state != JOB_STATE_SUBMITTING)
            continue;
        const char *job = NULL;
        for (size_t k = 0; k < nj && !job; k++)
            if (s->token[0] && strcmp(jobs[k].state, s->token) == 0)
                job = jobs[k].name;
        if (job)
            DF_INFO(d->log, "shot %s/%s: job %s carries token %s: adopted, not submitted again",
                    s->manifest, s->shot, job, s->token);
        apply_or_log(d, s, JOB_STATE_SUBMITTING,
                     job ? job_on_submitted(s, job, now) : job_on_submit_lost(s, now));
    }
    d->reconcile = 0;
    free(act);
    free(jobs);
}

/* Node states: a change is logged; a node turning bad is notified. */
static void finish_poll_nodes(struct daemon *d, int64_t now)
{
    struct slurmq_item *nodes = NULL;
    size_t n = 0;
    struct df_err err = {0};
    if (slurmq_parse(SLURMQ_NODES_CMD, d->q_nodes.status, d->q_nodes.out, &nodes, &n, &err) < 0) {
        DF_DEBUG(d->log, "sinfo: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char old[64];
        int changed =
            store_node_update(d->st, nodes[i].name, nodes[i].state, now, old, sizeof(old), &err);
        if (changed <= 0) {
            if (changed < 0)
                DF_ERROR(d->log, "%s", err.msg);
            continue;
        }
        int bad = slurmq_node_bad(nodes[i].state);
        if (bad)
            DF_WARN(d->log, "node %s is %s (was %s): it takes no new jobs", nodes[i].name,
                    nodes[i].state, old[0] ? old : "unknown");
        else if (!old[0] || slurmq_node_bad(old))
            DF_INFO(d->log, "node %s is %s (was %s)", nodes[i].name, nodes[i].state,
                    old[0] ? old : "unknown");
        else /* idle <-> mixed <-> allocated: routine */
            DF_DEBUG(d->log, "node %s is %s (was %s)", nodes[i].name, nodes[i].state, old);
        if (bad &&
            notify_queue_node(d->st, &d->cfg, nodes[i].name, nodes[i].state, old, now, &err) < 0)
            DF_ERROR(d->log, "%s", err.msg);
    }
    free(nodes);
}

static void flush_webhooks(struct daemon *d, int64_t now)
{
    struct notify_report rep;
    struct df_err err = {0};
    if (notify_flush(d->st, &d->cfg, &d->key, now, &rep, &err) < 0) {
        DF_ERROR(d->log, "webhooks: %s", err.msg);
        return;
    }
    if (rep.failed)
        DF_WARN(d->log, "webhooks: %d sent, %d failed (%d dropped)", rep.sent, rep.failed,
                rep.dropped);
    else if (rep.sent)
        DF_DEBUG(d->log, "webhooks: %d sent", rep.sent);
    for (int i = 0; i < rep.n_errors; i++)
        DF_WARN(d->log, "webhook: %s", rep.errors[i]);
}

static void collect_checkpoints(struct daemon *d, int64_t now)
{
    struct gc_report r;
    struct df_err err = {0};
    if (gc_run(d->st, &d->cfg, now, &r, &err) < 0) {
        DF_ERROR(d->log, "checkpoint retention: %s", err.msg);
        return;
    }
    if (r.files)
        DF_INFO(d->log, "checkpoint retention: removed %d file%s (%.1f MiB) of %d finished shot%s",
                r.files, r.files == 1 ? "" : "s", (double)r.bytes / (1 << 20), r.shots,
                r.shots == 1 ? "" : "s");
    if (r.errors)
        DF_WARN(d->log, "checkpoint retention: %d file%s not removed; last: %s", r.errors,
                r.errors == 1 ? "" : "s", r.last_error);
}

/* Run a background Slurm query: finish it when it has answered, else start
 * it when its interval is due. */
static void background(struct daemon *d, struct proc *p, enum daemon_timer t, int interval_ms,
                       int64_t now_ms, int64_t now, void (*start)(struct daemon *, int64_t),
                       void (*finish)(struct daemon *, int64_t))
{
    if (proc_active(p)) {
        if (proc_poll(p)) {
            finish(d, now);
            proc_free(p);
        }
        return;
    }
    if (every_ms(d, t, interval_ms, now_ms))
        start(d, now);
}

static void start_poll_jobs_at(struct daemon *d, int64_t now)
{
    (void)now;
    start_poll_jobs(d);
}

static void start_poll_nodes(struct daemon *d, int64_t now)
{
    struct df_err err = {0};
    (void)now;
    if (proc_start(&d->q_nodes, slurmq_nodes_argv, d->cfg.sbatch_timeout_s * 1000, &err) < 0)
        DF_ERROR(d->log, "%s", err.msg);
}

/*
 * daemon_tick -- every periodic job.  Slurm commands run in the background
 * (proc.h): a tick starts one when its interval is due and handles its answer
 * on a later tick, so a controller that does not answer never stalls the loop.
 *   - squeue-interval-ms: job states -> submitted/running shots move (running,
 *     requeued, done, resubmit after an unfinished end, failed);
 *   - submit-interval-ms: release waiting shots whose dependencies are done;
 *     sbatch the first queued shot, or a retrying one whose backoff passed,
 *     after saving it as `submitting` with a token (sbatch --comment); while
 *     a submitting shot is unreconciled (daemon restarted, sbatch timed out)
 *     squeue is asked for the token first and nothing is submitted;
 *   - sinfo-interval-ms: node states (drain/down logged and notified);
 *   - webhook-interval-ms: deliver due webhooks (at most webhook-batch, each
 *     bounded by webhook-timeout-ms);
 *   - every tick: write some job directories of a big manifest (intake.h);
 *   - ckpt-gc-interval-s: remove checkpoints of finished shots past their
 *     retention (gc.h).
 */
void daemon_tick(struct daemon *d, int64_t now_ms)
{
    int64_t now = time(NULL);
    intake_step(d, INTAKE_BUDGET_MS);
    background(d, &d->q_jobs, DAEMON_TIMER_SQUEUE, d->cfg.squeue_interval_ms, now_ms, now,
               start_poll_jobs_at, finish_poll_jobs);
    if (d->reconcile || proc_active(&d->q_recon))
        background(d, &d->q_recon, DAEMON_TIMER_SUBMIT, d->cfg.submit_interval_ms, now_ms, now,
                   start_reconcile, finish_reconcile);
    background(d, &d->q_sbatch, DAEMON_TIMER_SUBMIT, d->cfg.submit_interval_ms, now_ms, now,
               start_submit, finish_submit);
    background(d, &d->q_nodes, DAEMON_TIMER_SINFO, d->cfg.sinfo_interval_ms, now_ms, now,
               start_poll_nodes, finish_poll_nodes);
    if (every_ms(d, DAEMON_TIMER_WEBHOOK, d->cfg.webhook_interval_ms, now_ms))
        flush_webhooks(d, now);
    if (every_ms(d, DAEMON_TIMER_GC, d->cfg.ckpt_gc_interval_s * 1000, now_ms))
        collect_checkpoints(d, now);
}

int daemon_run(struct daemon *d, volatile sig_atomic_t *stop)
{
    DF_INFO(d->log, "listening on %s; store %s/ditfarmd.db; jobs in %s", d->sock_path,
            d->cfg.state_dir, d->cfg.jobs_dir);
    if (d->http)
        DF_INFO(d->log, "HTTP on %s%s (port %d)", d->cfg.http_listen,
                d->cfg.http_tls_cert[0] ? " with TLS" : "", http_port(d->http));
    while (!*stop) {
        /* the control socket and its clients (conns.h), and the HTTP side's
         * "mutations wait" pipe */
        struct pollfd p[CONNS_MAX + 2];
        int nc = conns_pollfds(&d->conns, d->listen_fd, p, CONNS_MAX + 1);
        p[nc] = (struct pollfd){.fd = http_wake_fd(d->http), .events = POLLIN};
        /* while an intake writes job directories, clients are looked at
         * between its chunks rather than waited for (intake.h) */
        int r = poll(p, (nfds_t)nc + (d->http ? 1 : 0), d->intake ? 0 : d->cfg.tick_ms);
        if (r < 0 && errno != EINTR)
            DF_WARN(d->log, "poll: %s", strerror(errno));
        if (*stop)
            break;
        conns_step(&d->conns, d, p, r > 0 ? nc : 0, df_clock_ms());
        if (r > 0 && d->http && p[nc].revents)
            http_run_mutations(d->http, d);
        daemon_tick(d, df_clock_ms());
        struct http_stats hs = {!d->slurm_unreachable, d->sbatch_failures};
        http_publish_stats(d->http, &hs);
    }
    DF_INFO(d->log, "stopping: store closed, socket removed");
    return 0;
}
