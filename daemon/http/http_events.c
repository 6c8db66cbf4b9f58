/*
 * http_events.c -- the event stream (GET /api/v1/events, Server-Sent Events).
 *
 * One watcher thread polls, every WATCH_MS, what the loop and the workers
 * wrote: new rows of the store's history (every state change, in order,
 * never missed: the history ids only grow) and the progress.json of
 * submitted and running shots (rewritten by the worker after every step).
 * Each becomes an event in the hub, a ring of HTTP_HUB_CAP events numbered
 * by seq; every open stream follows the ring with its own cursor, waiting on
 * the server's condition variable, so a stream costs its connection's thread
 * and nothing else.  A client that reconnects with Last-Event-ID gets what it
 * missed while that is still in the ring, else an "event: reset" (refetch).
 *
 *   id: 17
 *   event: state
 *   data: {"manifest":"m","shot":"a","from":"submitted","state":"running",...}
 *
 *   id: 18
 *   event: progress
 *   data: {"manifest":"m","shot":"a","step":3,"steps":20,"s_per_step":0.41,...}
 */
#include "http_int.h"

#include "progress.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_MS 500
#define HISTORY_BATCH 256

const double http_step_bounds[HTTP_STEP_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                                    5,    10,  25,   60,  120, 300};

void http_hub_push_locked(struct http_server *h, const char *kind, char *data)
{
    struct http_event *e = &h->hub[h->next_seq % HTTP_HUB_CAP];
    free(e->data);
    e->seq = h->next_seq++;
    e->data = data;
    snprintf(e->kind, sizeof(e->kind), "%s", kind);
    pthread_cond_broadcast(&h->cv);
}

static void push(struct http_server *h, const char *kind, cJSON *j)
{
    char *data = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!data)
        return;
    pthread_mutex_lock(&h->mu);
    http_hub_push_locked(h, kind, data);
    pthread_mutex_unlock(&h->mu);
}

/* ---- the watcher --------------------------------------------------------------- */

struct watcher {
    struct http_server *h;
    int64_t last_history; /* history id already turned into events */
};

static void watch_history(struct watcher *w, struct http_reader *rd)
{
    for (;;) {
        struct store_change *c = NULL;
        size_t n = 0;
        if (store_history_since(rd->st, w->last_history, 0, HISTORY_BATCH, &c, &n, NULL) < 0)
            return;
        for (size_t i = 0; i < n; i++) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "manifest", c[i].manifest);
            cJSON_AddStringToObject(j, "shot", c[i].shot);
            cJSON_AddStringToObject(j, "from", c[i].from);
            cJSON_AddStringToObject(j, "state", c[i].state);
            cJSON_AddStringToObject(j, "job_id", c[i].job_id);
            cJSON_AddStringToObject(j, "reason", c[i].reason);
            cJSON_AddNumberToObject(j, "at", (double)c[i].at);
            if (w->last_history) /* the first pass only finds where history ends */
                push(w->h, "state", j);
            else
                cJSON_Delete(j);
            w->last_history = c[i].id;
        }
        free(c);
        if (n < HISTORY_BATCH)
            break;
    }
}

/* A running shot's step, steps, ETA and step time, from the progress.json
 * its worker rewrites after every step (daemon/progress.h). */
static void read_progress(const struct job_shot *s, struct http_progress *p)
{
    memset(p, 0, sizeof(*p));
    p->row = s->row;
    struct progress pr;
    progress_read(s->job_dir, NULL, &pr);
    p->step = pr.step;
    p->steps = pr.steps;
    snprintf(p->eta, sizeof(p->eta), "%s", pr.eta);
    p->s_per_step = pr.seconds_per_step;
}

static void observe_steps(struct http_counters *c, int n, double s)
{
    c->steps_done += n;
    if (s < 0)
        return;
    int b = 0;
    while (b < HTTP_STEP_BUCKETS && s > http_step_bounds[b])
        b++;
    c->step_hist[b] += n;
    c->step_sum += s * n;
    c->step_count += n;
}

static void watch_progress(struct watcher *w, struct http_reader *rd)
{
    struct http_server *h = w->h;
    struct job_shot *act = NULL;
    size_t n = 0;
    if (store_shots_list(rd->st, STORE_ACTIVE, &act, &n, NULL) < 0)
        return;
    struct http_progress *now = calloc(n ? n : 1, sizeof(*now));
    if (!now) {
        free(act);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (act[i].state == JOB_STATE_RUNNING || act[i].state == JOB_STATE_SUBMITTED)
            read_progress(&act[i], &now[k++]);
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0, a = 0; i < k; i++) {
        const struct http_progress *old = NULL;
        for (size_t o = 0; o < h->n_prog; o++)
            if (h->prog[o].row == now[i].row)
                old = &h->prog[o];
        int before = old ? old->step : 0;
        if (now[i].steps == 0 || now[i].step == before)
            continue;
        if (now[i].step > before)
            observe_steps(&h->ctr, now[i].step - before, now[i].s_per_step);
        while (a < n && act[a].row != now[i].row)
            a++;
        if (a == n)
            break;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "manifest", act[a].manifest);
        cJSON_AddStringToObject(j, "shot", act[a].shot);
        cJSON_AddStringToObject(j, "state", job_state_name(act[a].state));
        cJSON_AddNumberToObject(j, "step", now[i].step);
        cJSON_AddNumberToObject(j, "steps", now[i].steps);
        if (now[i].s_per_step >= 0)
            cJSON_AddNumberToObject(j, "s_per_step", now[i].s_per_step);
        cJSON_AddStringToObject(j, "eta", now[i].eta);
        char *data = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (data)
            http_hub_push_locked(h, "progress", data);
    }
    free(h->prog);
    h->prog = now;
    h->n_prog = k;
    pthread_mutex_unlock(&h->mu);
    free(act);
}

static void *watch_main(void *arg)
{
    struct watcher *w = arg;
    struct http_server *h = w->h;
    for (;;) {
        struct http_reader *rd = http_reader_get(h, NULL);
        if (rd) {
            watch_history(w, rd);
            watch_progress(w, rd);
            http_reader_put(h, rd);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += WATCH_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&h->mu);
        while (!h->stopping && pthread_cond_timedwait(&h->cv, &h->mu, &until) != ETIMEDOUT)
            ;
        int stop = h->stopping;
        pthread_mutex_unlock(&h->mu);
        if (stop)
            break;
    }
    free(w);
    return NULL;
}

int http_events_start(struct http_server *h, struct df_err *err)
{
    struct watcher *w = calloc(1, sizeof(*w));
    if (!w)
        return df_err_set(err, DF_E_NOMEM, "out of memory");
    w->h = h;
    /* where history ends now: older changes are not news */
    struct http_reader *rd = http_reader_get(h, err);
    if (!rd) {
        free(w);
        return err ? err->code : DF_E_IO;
    }
    watch_history(w, rd);
    if (w->last_history == 0)
        w->last_history = -1; /* empty store: everything from now on is news */
    http_reader_put(h, rd);
    if (pthread_create(&h->watcher, NULL, watch_main, w) != 0) {
        free(w);
        return df_err_set(err, DF_E_IO, "cannot start the HTTP watcher thread");
    }
    h->watcher_started = 1;
    return 0;
}

void http_events_stop(struct http_server *h)
{
    if (!h->watcher_started)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->watcher, NULL);
    h->watcher_started = 0;
}

/* ---- one stream ---------------------------------------------------------------------- */

struct stream {
    struct http_server *h;
    int64_t next; /* the next seq to send */
    int greeted;  /* "retry:" sent */
};

/* libmicrohttpd asks for more of the stream: events after the cursor, or
 * (after a quiet keepalive period) a comment line that keeps proxies and the
 * idle timeout from closing it; the end when the server stops. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    struct http_server *h = s->h;
    if (!s->greeted) {
        s->greeted = 1;
        return snprintf(buf, max, "retry: 2000\n: ditfarmd events from %lld\n\n",
                        (long long)s->next);
    }
    int keep_s = h->cfg.http_timeout_s / 2 > 10 ? 10 : h->cfg.http_timeout_s / 2;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += keep_s > 0 ? keep_s : 1;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping && s->next >= h->next_seq)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT)
            break;
    if (h->stopping) {
        pthread_mutex_unlock(&h->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t used = 0;
    int64_t oldest = h->next_seq - HTTP_HUB_CAP > 1 ? h->next_seq - HTTP_HUB_CAP : 1;
    if (s->next < oldest) {
        used += (size_t)snprintf(buf, max, "event: reset\ndata: {\"missed\":%lld}\n\n",
                                 (long long)(oldest - s->next));
        s->next = oldest;
    }
    while (s->next < h->next_seq) {
        const struct http_event *e = &h->hub[s->next % HTTP_HUB_CAP];
        size_t need = strlen(e->data) + strlen(e->kind) + 48;
        if (used + need >= max) {
            if (used == 0) /* cannot fit even alone: skip it */
                s->next++;
            break;
        }
        used += (size_t)snprintf(buf + used, max - used, "id: %lld\nevent: %s\ndata: %s\n\n",
                                 (long long)e->seq, e->kind, e->data);
        s->next++;
    }
    pthread_mutex_unlock(&h->mu);
    if (used == 0)
        used = (size_t)snprintf(buf, max, ": keepalive\n\n");
    return (ssize_t)used;
}

static void stream_free(void *cls)
{
    free(cls);
}

struct MHD_Response *http_events_response(struct http_server *h, int64_t after)
{
    struct stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->h = h;
    pthread_mutex_lock(&h->mu);
    s->next = after >= 0 && after < h->next_seq ? after + 1 : h->next_seq;
    pthread_mutex_unlock(&h->mu);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s, stream_free);
    if (!r) {
        free(s);
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
}
