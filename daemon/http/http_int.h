/*
 * http_int.h -- what the files of daemon/http/ share (not for the loop).
 *
 *   http_server.c  libmicrohttpd setup, limits, routing, auth, bodies
 *   http_deadline.c  connections tracked; a request not whole in time is cut
 *   http_api.c     the read API: shots, one shot, manifests, audit, preview
 *   http_shot.c    one shot's detail from its job directory
 *   http_mutate.c  the mutation queue and what the loop runs for it
 *   http_submit.c  a YAML body -> a control-socket submit request
 *   http_events.c  the event hub, the watcher thread, the SSE stream
 *   http_metrics.c /metrics (Prometheus text)
 *   http_static.c  the page's files (embedded by CMake from www/)
 */
#ifndef DF_HTTP_INT_H
#define DF_HTTP_INT_H

#include "http.h"
#include "http_auth.h"
#include "http_route.h"
#include "job.h"
#include "store.h"

#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;
struct MHD_Response;

/* ---- replies ------------------------------------------------------------------ */

struct http_reply {
    int status;        /* 200, 400, ... */
    const char *type;  /* Content-Type */
    char *body;        /* malloc'd (owned) unless `static_body` */
    size_t len;        /* bytes of body */
    int static_body;   /* body points into the binary: not freed */
    const char *allow; /* Allow header for 405, else NULL */
};

/* {"error": msg} with `status`. */
void http_reply_error(struct http_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Take a cJSON tree (void * so this header needs no cJSON) as the body. */
void http_reply_json(struct http_reply *r, int status, void *json);
/* The error body {"error": <fmt ...>, "status": status} as a cJSON object
 * (void * as above), for replies made here and on the loop's thread. */
void *http_error_vobj(int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* ---- readers ------------------------------------------------------------------ */

/* One read-only view of the store (shots, history) and its token tables. */
struct http_reader {
    store_t *st;
    authdb_t *auth;
    struct http_reader *next; /* in the free list */
};

/* ---- progress cache and counters (watcher -> metrics, API) --------------------- */

#define HTTP_STEP_BUCKETS 12

struct http_progress {
    int64_t row;       /* shots.id */
    int step, steps;   /* from the worker's progress.json */
    double s_per_step; /* mean step time, < 0 unknown */
    char eta[32];      /* "1m05s" */
};

struct http_counters {
    int64_t steps_done;                       /* steps seen completing */
    int64_t step_hist[HTTP_STEP_BUCKETS + 1]; /* step-time histogram (+Inf last) */
    double step_sum;                          /* seconds over all observed steps */
    int64_t step_count;
};
extern const double http_step_bounds[HTTP_STEP_BUCKETS];

/* ---- the event hub -------------------------------------------------------------- */

#define HTTP_HUB_CAP 512 /* events kept for reconnecting clients (Last-Event-ID) */

struct http_event {
    int64_t seq;   /* the SSE id */
    char *data;    /* one JSON object, malloc'd */
    char kind[16]; /* "state", "progress" */
};

/* ---- mutations ------------------------------------------------------------------- */

enum http_action {
    HTTP_ACTION_SUBMIT,
    HTTP_ACTION_CANCEL,
    HTTP_ACTION_RETRY,
    HTTP_ACTION_PRIORITY,
    HTTP_ACTION_COUNT
};
const char *http_action_name(enum http_action a);

struct http_mutation {
    enum http_action action;
    char token[AUTH_NAME_CAP]; /* who asked */
    char manifest[JOB_ID_CAP]; /* target */
    char shot[JOB_ID_CAP];     /* "" = the whole manifest */
    int priority;              /* for HTTP_ACTION_PRIORITY */
    char *request;             /* submit: the control request (JSON), owned */
    int refs;                  /* the queue's and the waiter's: last one frees */
    /* filled by the loop: */
    int done;
    int status;                 /* HTTP status of the outcome */
    char *reply;                /* JSON body, malloc'd */
    struct http_mutation *next; /* queue */
};

/* ---- the server ------------------------------------------------------------------ */

struct http_server {
    struct config cfg;  /* copy: state_dir, limits */
    struct df_log *log; /* not owned; df_log_write is thread-safe per line */
    struct MHD_Daemon *mhd;
    char db_path[PATH_MAX + 16];
    char configs_dir[PATH_MAX];
    char *tls_cert, *tls_key; /* PEM text, kept while MHD runs */
    int port;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* hub changed, a mutation finished, stopping */
    int stopping;
    struct http_reader *readers; /* free list */
    int n_readers;               /* open in all */

    struct http_event hub[HTTP_HUB_CAP]; /* ring: seq % HTTP_HUB_CAP */
    int64_t next_seq;                    /* the next event's seq (first is 1) */

    struct http_progress *prog; /* per shot, sorted by row */
    size_t n_prog;
    struct http_counters ctr;
    struct http_stats stats; /* from the loop */
    int64_t started;         /* unix time */

    struct http_mutation *queue, **queue_tail;
    int wake[2];     /* pipe: [0] polled by the loop */
    authdb_t *audit; /* the loop's writer for the audit table */

    pthread_t watcher;
    int watcher_started;

    /* connections and the request deadline (http_deadline.c) */
    pthread_mutex_t conn_mu; /* guards conns, conn_stopping */
    pthread_cond_t conn_cv;  /* stopping */
    struct http_conn *conns; /* every open connection */
    int conn_stopping, conn_inited, conn_watch_started;
    pthread_t conn_watch;
};

struct http_reader *http_reader_get(struct http_server *h, struct df_err *err);
void http_reader_put(struct http_server *h, struct http_reader *r);

/* A request after routing: method, path, route, query, body. */
struct http_req {
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    struct http_route route; /* which call, with {manifest} and {shot} */
    const char *body;
    size_t body_len;
    struct auth_token who;
};

/* Query argument `key` of the request, or NULL. */
const char *http_query(const struct http_req *q, const char *key);
/* Request header `key`, or NULL. */
const char *http_header(const struct http_req *q, const char *key);

/* read API (http_api.c) */
void http_api_shots(struct http_server *h, const struct http_req *q, struct http_reply *r);
void http_api_shot(struct http_server *h, const struct http_req *q, struct http_reply *r);
void http_api_shot_log(struct http_server *h, const struct http_req *q, struct http_reply *r);
void http_api_preview(struct http_server *h, const struct http_req *q, struct http_reply *r);
void http_api_manifests(struct http_server *h, const struct http_req *q, struct http_reply *r);
void http_api_audit(struct http_server *h, const struct http_req *q, struct http_reply *r);
/* The shot (manifest, id) from the store, newest submission.  1 found, 0 not. */
int http_find_shot(struct http_server *h, const char *manifest, const char *shot,
                   struct job_shot *out, struct df_err *err);
/* cJSON object of a shot's summary fields (as in the list). */
void *http_shot_summary(struct http_server *h, const struct job_shot *s);
/* cJSON object of everything about one shot (http_shot.c). */
void *http_shot_detail(struct http_server *h, struct http_reader *rd, const struct job_shot *s);
/* The last `max` bytes of the shot's current log, malloc'd (NULL when none). */
char *http_shot_log_tail(const struct job_shot *s, size_t max, size_t *len);

/* mutations (http_mutate.c) */
/* Queue m, wake the loop, wait (bounded) for the outcome into r.  m is
 * owned by the queue from here on. */
void http_mutate(struct http_server *h, struct http_mutation *m, struct http_reply *r);
void http_mutation_free(struct http_mutation *m);
/* Stopping: set h->stopping, answer every queued mutation with 503. */
void http_mutations_abort(struct http_server *h);
/* POST /api/v1/manifests (http_submit.c): builds the submit mutation. */
void http_api_submit(struct http_server *h, const struct http_req *q, struct http_reply *r);

/* request deadline (http_deadline.c) */
int http_deadline_start(struct http_server *h, struct df_err *err);
void http_deadline_stop(struct http_server *h);
/* MHD_OPTION_NOTIFY_CONNECTION: tracks each connection from accept to close. */
void http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* The connection's request is whole (0) or the next one may begin (1). */
void http_conn_receiving(struct http_server *h, struct MHD_Connection *c, int receiving);

/* events (http_events.c) */
int http_events_start(struct http_server *h, struct df_err *err);
void http_events_stop(struct http_server *h);
/* Append an event (takes `data`); wakes the streams.  Called with h->mu held. */
void http_hub_push_locked(struct http_server *h, const char *kind, char *data);
/* The response of GET /api/v1/events (SSE), from event `after` on. */
struct MHD_Response *http_events_response(struct http_server *h, int64_t after);

/* /metrics (http_metrics.c) */
void http_metrics(struct http_server *h, struct http_reply *r);

/* the page (http_static.c): 1 and the file when `path` is one of ours */
int http_static_find(const char *path, const char **type, const char **data, size_t *len);

#endif /* DF_HTTP_INT_H */
