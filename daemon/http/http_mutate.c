/*
 * http_mutate.c -- mutations asked for over HTTP, run by the loop.
 *
 * An HTTP thread queues a struct http_mutation, writes one byte to the wake
 * pipe and waits on the server's condition variable; the loop's poll() sees
 * the pipe, calls http_run_mutations(), which runs each one on the loop's
 * thread with the loop's store (the only writer), records it in the audit
 * table and the log with the token's name, and wakes the waiter.  The
 * mutation is reference-counted (queue + waiter) so a waiter that gives up
 * (the loop is busy past the deadline) leaves nothing dangling.
 */
#include "http_int.h"

#include "daemon.h"
#include "slurmq.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_LOOP_S 120 /* the longest an HTTP client waits for the loop */

static const char *const action_names[] = {"submit", "cancel", "retry", "priority"};
_Static_assert(sizeof(action_names) / sizeof(action_names[0]) == HTTP_ACTION_COUNT,
               "one name per action");

const char *http_action_name(enum http_action a)
{
    return (unsigned)a < HTTP_ACTION_COUNT ? action_names[a] : "?";
}

void http_mutation_free(struct http_mutation *m)
{
    if (!m)
        return;
    free(m->request);
    free(m->reply);
    free(m);
}

/* Drop one reference (h->mu held); returns m when it is the last. */
static struct http_mutation *unref_locked(struct http_mutation *m)
{
    return --m->refs == 0 ? m : NULL;
}

void http_mutate(struct http_server *h, struct http_mutation *m, struct http_reply *r)
{
    m->refs = 2;
    pthread_mutex_lock(&h->mu);
    if (h->stopping) {
        pthread_mutex_unlock(&h->mu);
        http_mutation_free(m);
        http_reply_error(r, 503, "ditfarmd is stopping");
        return;
    }
    *h->queue_tail = m;
    h->queue_tail = &m->next;
    pthread_mutex_unlock(&h->mu);
    char one = 1;
    while (write(h->wake[1], &one, 1) < 0 && errno == EINTR)
        ;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_LOOP_S;
    pthread_mutex_lock(&h->mu);
    while (!m->done && !h->stopping)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT)
            break;
    int done = m->done, status = m->status;
    char *reply = m->reply;
    m->reply = NULL;
    struct http_mutation *last = unref_locked(m);
    pthread_mutex_unlock(&h->mu);
    http_mutation_free(last);
    if (!done) {
        http_reply_error(r, 503, "ditfarmd did not get to the request in %d s", WAIT_LOOP_S);
        return;
    }
    if (!reply) {
        http_reply_error(r, status ? status : 500, "no answer from the loop");
        return;
    }
    r->status = status;
    r->type = "application/json";
    r->body = reply;
    r->len = strlen(reply);
}

void http_mutations_abort(struct http_server *h)
{
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    struct http_mutation *q = h->queue, *dead = NULL;
    h->queue = NULL;
    h->queue_tail = &h->queue;
    while (q) {
        struct http_mutation *m = q;
        q = q->next;
        m->done = 1;
        m->status = 503;
        if (unref_locked(m)) {
            m->next = dead;
            dead = m;
        }
    }
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    while (dead) {
        struct http_mutation *m = dead;
        dead = dead->next;
        http_mutation_free(m);
    }
}

/* ---- on the loop's thread ------------------------------------------------------------ */

/* Every HTTP error body is {"error", "status"} (docs/api.md), also those
 * made here on the loop's thread. */
static char *error_json(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *error_json(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cJSON *j = http_error_vobj(status, fmt, ap);
    va_end(ap);
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t;
}

/* The newest shot (manifest, shot) -- or with shot "" every shot of the
 * newest submission of the manifest -- from the loop's store. */
static size_t find_targets(struct daemon *d, const struct http_mutation *m, struct job_shot **out,
                           struct df_err *err)
{
    struct job_shot *all = NULL;
    size_t n = 0, k = 0;
    *out = NULL;
    if (store_shots_list(d->st, STORE_ALL, &all, &n, err) < 0)
        return 0;
    int64_t newest = 0; /* the manifest's newest submission */
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].manifest, m->manifest) == 0 &&
            (!m->shot[0] || strcmp(all[i].shot, m->shot) == 0) && all[i].manifest_row > newest)
            newest = all[i].manifest_row;
    for (size_t i = 0; i < n; i++)
        if (all[i].manifest_row == newest && strcmp(all[i].manifest, m->manifest) == 0 &&
            (!m->shot[0] || strcmp(all[i].shot, m->shot) == 0))
            all[k++] = all[i];
    if (k == 0) {
        free(all);
        return 0;
    }
    *out = all;
    return k;
}

/* Cancel, retry or re-prioritise the targets; fills status and reply. */
static void run_shot_action(struct daemon *d, struct http_mutation *m)
{
    struct df_err err = {0};
    struct job_shot *t = NULL;
    size_t n = find_targets(d, m, &t, &err);
    if (n == 0) {
        m->status = err.code ? 500 : 404;
        m->reply = err.code ? error_json(m->status, "%s", err.msg)
                            : error_json(m->status, "no shot %s%s%s", m->manifest,
                                         m->shot[0] ? "/" : "", m->shot);
        return;
    }
    cJSON *r = cJSON_CreateObject(), *done = cJSON_CreateArray(), *errors = cJSON_CreateArray();
    int64_t now = time(NULL);
    int changed = 0;
    for (size_t i = 0; i < n; i++) {
        struct job_shot *s = &t[i];
        enum job_state from = s->state;
        enum job_event ev = JOB_EVENT_NONE;
        int in_slurm = from == JOB_STATE_SUBMITTED || from == JOB_STATE_RUNNING, ok = 1;
        if (m->action == HTTP_ACTION_CANCEL) {
            if (job_state_terminal(from))
                continue;
            /* Slurm first: a shot marked cancelled is never looked at again */
            if (in_slurm && slurmq_cancel(s->job_id, d->cfg.sbatch_timeout_s, &err) < 0)
                cJSON_AddItemToArray(errors, cJSON_CreateString(err.msg));
            ev = job_on_cancel(s, now);
        } else if (m->action == HTTP_ACTION_RETRY) {
            if (from != JOB_STATE_FAILED && from != JOB_STATE_CANCELLED)
                continue;
            ev = job_on_retry(s, now);
        } else {
            if (job_state_terminal(from))
                continue;
            s->priority = m->priority;
            s->updated = now;
            if (in_slurm && slurmq_nice(s->job_id, -m->priority, d->cfg.sbatch_timeout_s, &err) < 0)
                cJSON_AddItemToArray(errors, cJSON_CreateString(err.msg));
        }
        if (daemon_apply(d, s, from, ev, &err) < 0) {
            cJSON_AddItemToArray(errors, cJSON_CreateString(err.msg));
            ok = 0;
        }
        if (ok) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "manifest", s->manifest);
            cJSON_AddStringToObject(o, "shot", s->shot);
            cJSON_AddStringToObject(o, "from", job_state_name(from));
            cJSON_AddStringToObject(o, "state", job_state_name(s->state));
            cJSON_AddNumberToObject(o, "priority", s->priority);
            cJSON_AddItemToArray(done, o);
            changed++;
        }
    }
    free(t);
    if (!changed && cJSON_GetArraySize(errors) == 0) {
        cJSON_Delete(r);
        cJSON_Delete(done);
        cJSON_Delete(errors);
        m->status = 409;
        m->reply =
            error_json(m->status, "%s %s%s%s: nothing to do in its state (%s)",
                       http_action_name(m->action), m->manifest, m->shot[0] ? "/" : "", m->shot,
                       m->action == HTTP_ACTION_RETRY ? "only failed or cancelled shots "
                                                        "are retried"
                                                      : "already finished");
        return;
    }
    cJSON_AddItemToObject(r, "shots", done);
    cJSON_AddItemToObject(r, "errors", errors);
    m->status = changed ? 200 : 502;
    m->reply = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
}

/* Submit through the control-socket path: the same intake as `ditfarm submit`. */
static void run_submit(struct daemon *d, struct http_mutation *m)
{
    char *text = serve_request(d, m->request);
    cJSON *rep = text ? cJSON_Parse(text) : NULL;
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(rep, "ok");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(rep, "error");
    if (cJSON_IsTrue(ok)) {
        cJSON_DeleteItemFromObjectCaseSensitive(rep, "ok");
        m->status = 201;
        m->reply = cJSON_PrintUnformatted(rep);
    } else {
        const char *msg = cJSON_IsString(e) ? e->valuestring : "submit failed";
        m->status = strstr(msg, "active shot") ? 409 : 400;
        m->reply = error_json(m->status, "%s", msg);
    }
    cJSON_Delete(rep);
    free(text);
}

static void audit(struct http_server *h, const struct http_mutation *m)
{
    struct auth_audit a = {.at = time(NULL)};
    snprintf(a.token, sizeof(a.token), "%s", m->token);
    snprintf(a.action, sizeof(a.action), "%s", http_action_name(m->action));
    snprintf(a.target, sizeof(a.target), "%s%s%s", m->manifest, m->shot[0] ? "/" : "", m->shot);
    int ok = m->status >= 200 && m->status < 300;
    snprintf(a.result, sizeof(a.result), "%s", ok ? "ok" : "error");
    cJSON *rep = m->reply ? cJSON_Parse(m->reply) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(rep, "error");
    if (cJSON_IsString(e))
        snprintf(a.detail, sizeof(a.detail), "%s", e->valuestring);
    else if (m->action == HTTP_ACTION_PRIORITY)
        snprintf(a.detail, sizeof(a.detail), "priority %d", m->priority);
    cJSON_Delete(rep);
    struct df_err err = {0};
    if (authdb_audit_add(h->audit, &a, &err) < 0)
        DF_ERROR(h->log, "audit: %s", err.msg);
    DF_INFO(h->log, "http: token '%s' %s %s: %s (%d)%s%s", a.token, a.action, a.target, a.result,
            m->status, a.detail[0] ? ": " : "", a.detail);
}

void http_run_mutations(struct http_server *h, struct daemon *d)
{
    if (!h)
        return;
    char buf[256];
    while (read(h->wake[0], buf, sizeof(buf)) == (ssize_t)sizeof(buf))
        ; /* the pipe only says "look": drain it (non-blocking) */
    pthread_mutex_lock(&h->mu);
    struct http_mutation *q = h->queue;
    h->queue = NULL;
    h->queue_tail = &h->queue;
    pthread_mutex_unlock(&h->mu);
    while (q) {
        struct http_mutation *m = q;
        q = q->next;
        if (m->action == HTTP_ACTION_SUBMIT)
            run_submit(d, m);
        else
            run_shot_action(d, m);
        if (!m->reply) {
            m->status = 500;
            m->reply = error_json(500, "out of memory");
        }
        if (m->action == HTTP_ACTION_SUBMIT && m->status == 201) {
            cJSON *rep = cJSON_Parse(m->reply);
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(rep, "manifest");
            if (cJSON_IsString(name))
                snprintf(m->manifest, sizeof(m->manifest), "%s", name->valuestring);
            cJSON_Delete(rep);
        }
        audit(h, m);
        pthread_mutex_lock(&h->mu);
        m->done = 1;
        struct http_mutation *last = unref_locked(m);
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->mu);
        http_mutation_free(last);
    }
}
