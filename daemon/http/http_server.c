/*
 * http_server.c -- libmicrohttpd setup, limits, routing and auth (see http.h).
 *
 * Why libmicrohttpd: a Debian package, small, C, with TLS (GnuTLS), connection
 * limits (total and per address), idle timeouts and a memory cap per
 * connection built in; thread-per-connection mode lets an event stream wait
 * on a condition variable without holding anyone else up.
 */
#include "http_int.h"

#include "df_version.h"
#include "paths.h"
#include "textfile.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READERS_KEPT 8 /* open read connections kept for reuse */

/* ---- replies -------------------------------------------------------------------- */

void http_reply_json(struct http_reply *r, int status, void *json)
{
    cJSON *j = json;
    r->status = status;
    r->type = "application/json";
    r->body = j ? cJSON_PrintUnformatted(j) : NULL;
    r->len = r->body ? strlen(r->body) : 0;
    r->static_body = 0;
    cJSON_Delete(j);
    if (!r->body) {
        r->status = 500;
        r->body = (char *)"{\"error\":\"out of memory\"}";
        r->len = strlen(r->body);
        r->static_body = 1;
    }
}

void *http_error_vobj(int status, const char *fmt, va_list ap)
{
    char msg[DF_ERR_MSG_CAP + 256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "error", msg);
    cJSON_AddNumberToObject(j, "status", status);
    return j;
}

void http_reply_error(struct http_reply *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    void *j = http_error_vobj(status, fmt, ap);
    va_end(ap);
    http_reply_json(r, status, j);
}

/* ---- readers ---------------------------------------------------------------------- */

struct http_reader *http_reader_get(struct http_server *h, struct df_err *err)
{
    pthread_mutex_lock(&h->mu);
    struct http_reader *r = h->readers;
    if (r)
        h->readers = r->next;
    pthread_mutex_unlock(&h->mu);
    if (r)
        return r;
    r = calloc(1, sizeof(*r));
    if (!r) {
        df_err_set(err, DF_E_NOMEM, "out of memory");
        return NULL;
    }
    if (store_open_reader(h->db_path, &r->st, err) < 0 ||
        authdb_open(h->db_path, 0, &r->auth, err) < 0) {
        store_close(r->st);
        free(r);
        return NULL;
    }
    pthread_mutex_lock(&h->mu);
    h->n_readers++;
    pthread_mutex_unlock(&h->mu);
    return r;
}

void http_reader_put(struct http_server *h, struct http_reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&h->mu);
    int kept = 0;
    for (struct http_reader *k = h->readers; k; k = k->next)
        kept++;
    if (kept < READERS_KEPT && !h->stopping) {
        r->next = h->readers;
        h->readers = r;
        r = NULL;
    } else {
        h->n_readers--;
    }
    pthread_mutex_unlock(&h->mu);
    if (r) {
        store_close(r->st);
        authdb_close(r->auth);
        free(r);
    }
}

/* ---- one request -------------------------------------------------------------------- */

/* Per-request state across libmicrohttpd's calls, made when the request
 * line arrives (on_uri), freed when the request ends (on_completed). */
struct req_state {
    double started; /* monotonic seconds at the request line */
    int headers;    /* the access handler saw the headers */
    char *body;
    size_t len, cap;
    int too_big; /* the body passed http-max-body: 413, the rest is dropped */
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The idle timeout alone lets a client trickle a byte now and then for
 * ever: a request must also arrive whole (headers and body) within
 * http-request-deadline-s.  The watchdog (http_deadline.c) cuts trickled
 * headers, which never reach us; this checks at each call we do get. */
static int past_deadline(const struct http_server *h, const struct req_state *rs)
{
    return mono_s() - rs->started > (double)h->cfg.http_request_deadline_s;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls, (void)uri, (void)c;
    struct req_state *rs = calloc(1, sizeof(*rs));
    if (rs)
        rs->started = mono_s();
    return rs;
}

const char *http_query(const struct http_req *q, const char *key)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(const struct http_req *q, const char *key)
{
    return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, key);
}

/* The bearer token of the request: the Authorization header, or (GET only,
 * for EventSource and <img>, which cannot send headers) ?access_token=. */
static const char *bearer(const struct http_req *q)
{
    const char *a = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Authorization");
    if (a && strncasecmp(a, "Bearer ", 7) == 0)
        return a + 7;
    if (strcmp(q->method, "GET") == 0)
        return http_query(q, "access_token");
    return NULL;
}

/* 0 when the request may go on (q->who filled), else r holds the refusal. */
static int authorize(struct http_server *h, struct http_req *q, int mutation, struct http_reply *r)
{
    const char *tok = bearer(q);
    if (!tok || !tok[0]) {
        http_reply_error(r, 401,
                         "this call needs a token: Authorization: Bearer TOKEN "
                         "(`ditfarm token create NAME`)");
        return -1;
    }
    struct df_err err = {0};
    struct http_reader *rd = http_reader_get(h, &err);
    int ok = rd ? authdb_check(rd->auth, tok, &q->who, &err) : -1;
    http_reader_put(h, rd);
    if (ok < 0) {
        http_reply_error(r, 500, "%s", err.msg);
        return -1;
    }
    if (ok == 0) {
        http_reply_error(r, 401, "unknown or revoked token");
        return -1;
    }
    if (mutation && q->who.scope != AUTH_SCOPE_OPERATOR) {
        http_reply_error(r, 403, "token '%s' is read-only: %s %s needs an operator token",
                         q->who.name, q->method, q->url);
        return -1;
    }
    return 0;
}

static void healthz(struct http_server *h, struct http_reply *r)
{
    cJSON *j = cJSON_CreateObject();
    pthread_mutex_lock(&h->mu);
    int reachable = h->stats.slurm_reachable;
    pthread_mutex_unlock(&h->mu);
    struct df_err err = {0};
    struct http_reader *rd = http_reader_get(h, &err);
    http_reader_put(h, rd);
    cJSON_AddBoolToObject(j, "ok", rd != NULL);
    cJSON_AddStringToObject(j, "version", DITFARM_VERSION);
    cJSON_AddBoolToObject(j, "store", rd != NULL);
    cJSON_AddBoolToObject(j, "slurm_reachable", reachable);
    cJSON_AddNumberToObject(j, "uptime_s", (double)(time(NULL) - h->started));
    if (!rd)
        cJSON_AddStringToObject(j, "error", err.msg);
    http_reply_json(r, rd ? 200 : 503, j);
}

static void whoami(const struct http_req *q, struct http_reply *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "token", q->who.name);
    cJSON_AddStringToObject(j, "scope", auth_scope_name(q->who.scope));
    http_reply_json(r, 200, j);
}

static void shot_action(struct http_server *h, const struct http_req *q, enum http_action a,
                        struct http_reply *r)
{
    struct http_mutation *m = calloc(1, sizeof(*m));
    if (!m) {
        http_reply_error(r, 500, "out of memory");
        return;
    }
    m->action = a;
    snprintf(m->token, sizeof(m->token), "%s", q->who.name);
    snprintf(m->manifest, sizeof(m->manifest), "%s", q->route.manifest);
    snprintf(m->shot, sizeof(m->shot), "%s", q->route.shot);
    if (a == HTTP_ACTION_PRIORITY) {
        cJSON *b = cJSON_ParseWithLength(q->body ? q->body : "", q->body_len);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "priority");
        int ok = cJSON_IsNumber(p) && p->valuedouble >= -10000 && p->valuedouble <= 10000 &&
                 p->valuedouble == (double)(int)p->valuedouble;
        if (ok)
            m->priority = p->valueint;
        cJSON_Delete(b);
        if (!ok) {
            http_mutation_free(m);
            http_reply_error(r, 400,
                             "expected a JSON body {\"priority\": N}, N an integer in "
                             "-10000..10000 (higher runs sooner; Slurm nice = -N)");
            return;
        }
    }
    http_mutate(h, m, r);
}

/* Answer a request whose body is complete.  Sets *sse when the answer is
 * the event stream. */
static void dispatch(struct http_server *h, struct http_req *q, struct http_reply *r, int *sse)
{
    struct http_route *rt = &q->route;
    if (http_route_match(q->method, q->url, rt) != 0) {
        if (rt->status == 405) {
            http_reply_error(r, 405, "%s is not allowed on %s (allowed: %s)", q->method, q->url,
                             rt->allow);
            r->allow = rt->allow;
        } else {
            http_reply_error(r, 404, "no such API call: %s %s (this daemon speaks /api/v1/)",
                             q->method, q->url);
        }
        return;
    }
    if (rt->api && authorize(h, q, rt->mutation, r) < 0)
        return;
    const char *type, *data;
    size_t len;
    switch (rt->id) {
    case HTTP_ROUTE_SHOTS:
        http_api_shots(h, q, r);
        break;
    case HTTP_ROUTE_SHOT:
        http_api_shot(h, q, r);
        break;
    case HTTP_ROUTE_SHOT_LOG:
        http_api_shot_log(h, q, r);
        break;
    case HTTP_ROUTE_SHOT_PREVIEW:
        http_api_preview(h, q, r);
        break;
    case HTTP_ROUTE_SHOT_CANCEL:
    case HTTP_ROUTE_MANIFEST_CANCEL:
        shot_action(h, q, HTTP_ACTION_CANCEL, r);
        break;
    case HTTP_ROUTE_SHOT_RETRY:
        shot_action(h, q, HTTP_ACTION_RETRY, r);
        break;
    case HTTP_ROUTE_SHOT_PRIORITY:
        shot_action(h, q, HTTP_ACTION_PRIORITY, r);
        break;
    case HTTP_ROUTE_MANIFESTS:
        http_api_manifests(h, q, r);
        break;
    case HTTP_ROUTE_SUBMIT:
        http_api_submit(h, q, r);
        break;
    case HTTP_ROUTE_EVENTS:
        *sse = 1;
        break;
    case HTTP_ROUTE_AUDIT:
        http_api_audit(h, q, r);
        break;
    case HTTP_ROUTE_WHOAMI:
        whoami(q, r);
        break;
    case HTTP_ROUTE_HEALTHZ:
        healthz(h, r);
        break;
    case HTTP_ROUTE_METRICS:
        http_metrics(h, r);
        break;
    case HTTP_ROUTE_STATIC:
        if (http_static_find(q->url, &type, &data, &len)) {
            r->status = 200;
            r->type = type;
            r->body = (char *)data;
            r->len = len;
            r->static_body = 1;
        } else {
            http_reply_error(r, 404, "not found: %s", q->url);
        }
        break;
    case HTTP_ROUTE_NONE:
    case HTTP_ROUTE_COUNT:
        http_reply_error(r, 500, "no handler for %s", http_route_name(rt->id));
        break;
    }
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct http_reply *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->len, r->body, r->static_body ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        if (!r->static_body)
            free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"ditfarm\"");
    if (r->allow)
        MHD_add_response_header(resp, "Allow", r->allow);
    if (r->static_body && r->type && strncmp(r->type, "text/html", 9) == 0) {
        /* the page loads nothing from elsewhere and is never framed */
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' blob:; style-src 'self' "
                                "'unsafe-inline'; frame-ancestors 'none'");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result refuse_too_big(struct http_server *h, struct MHD_Connection *c)
{
    struct http_reply r = {0};
    http_reply_error(&r, 413, "request body larger than http-max-body (%d bytes)",
                     h->cfg.http_max_body);
    return send_reply(c, &r);
}

/* libmicrohttpd's access handler: first call (headers), body chunks, last call. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_server *h = cls;
    struct req_state *rs = *con_cls;
    if (!rs)
        return MHD_NO; /* on_uri ran out of memory */
    if (!rs->headers) {
        rs->headers = 1;
        if (past_deadline(h, rs)) {
            DF_DEBUG(h->log, "http: %s %s: headers too slow, connection closed", method, url);
            return MHD_NO;
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)h->cfg.http_max_body) {
            rs->too_big = 1;
            return refuse_too_big(h, c); /* before reading a byte of it */
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (past_deadline(h, rs)) {
            DF_DEBUG(h->log, "http: %s %s: body too slow, connection closed", method, url);
            return MHD_NO;
        }
        if (rs->too_big || rs->len + n > (size_t)h->cfg.http_max_body) {
            rs->too_big = 1; /* chunked and too long: drop the rest, answer at the end */
            return MHD_YES;
        }
        if (rs->len + n + 1 > rs->cap) {
            size_t cap = rs->cap ? rs->cap : 4096;
            while (cap < rs->len + n + 1)
                cap *= 2;
            char *g = realloc(rs->body, cap);
            if (!g)
                return MHD_NO;
            rs->body = g;
            rs->cap = cap;
        }
        memcpy(rs->body + rs->len, upload, n);
        rs->len += n;
        rs->body[rs->len] = '\0';
        return MHD_YES;
    }
    http_conn_receiving(h, c, 0); /* whole: the reply may take its time */
    if (rs->too_big)
        return refuse_too_big(h, c);
    struct http_req q = {
        .conn = c, .method = method, .url = url, .body = rs->body, .body_len = rs->len};
    struct http_reply r = {0};
    int sse = 0;
    dispatch(h, &q, &r, &sse);
    if (sse) {
        const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
        const char *since = http_query(&q, "since");
        int64_t after = last ? strtoll(last, NULL, 10) : since ? strtoll(since, NULL, 10) : -1;
        struct MHD_Response *resp = http_events_response(h, after);
        if (!resp)
            return MHD_NO;
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    return send_reply(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http_conn_receiving(cls, c, 1); /* keep-alive: the next request's clock */
    struct req_state *rs = *con_cls;
    if (rs) {
        free(rs->body);
        free(rs);
    }
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *h = cls;
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    DF_DEBUG(h->log, "http: %s", line);
}

/* ---- lifetime -------------------------------------------------------------------------- */

/* "ADDR:PORT" or "[V6]:PORT" -> a socket address. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, int *v6, struct df_err *err)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1])
        return df_err_set(err, DF_E_INVAL, "http-listen '%s': expected ADDR:PORT", spec);
    /* getaddrinfo takes "99999" and listens on 99999 mod 65536: check it here
     * (0 asks for an ephemeral port) */
    const char *port = colon + 1;
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 || atol(port) > 65535)
        return df_err_set(err, DF_E_INVAL, "http-listen '%s': port must be 0..65535", spec);
    size_t hl = (size_t)(colon - spec);
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']')
        snprintf(host, sizeof(host), "%.*s", (int)hl - 2, spec + 1);
    else
        snprintf(host, sizeof(host), "%.*s", (int)hl, spec);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, colon + 1, &hints, &res);
    if (g != 0 || !res)
        return df_err_set(err, DF_E_INVAL, "http-listen '%s': %s", spec, gai_strerror(g));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

static int load_tls(struct http_server *h, struct df_err *err)
{
    const struct config *c = &h->cfg;
    if (!c->http_tls_cert[0] && !c->http_tls_key[0])
        return 0;
    if (!c->http_tls_cert[0] || !c->http_tls_key[0])
        return df_err_set(err, DF_E_INVAL, "TLS needs both http-tls-cert and http-tls-key");
    size_t n;
    DF_TRY(textfile_read(c->http_tls_cert, 1 << 20, &h->tls_cert, &n, err));
    DF_TRY(textfile_read(c->http_tls_key, 1 << 20, &h->tls_key, &n, err));
    return 0;
}

static int start_mhd(struct http_server *h, struct df_err *err)
{
    struct sockaddr_storage ss;
    int v6 = 0;
    DF_TRY(parse_listen(h->cfg.http_listen, &ss, &v6, err));
    DF_TRY(load_tls(h, err));
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
                     (h->tls_cert ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    h->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->cfg.http_max_clients,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)h->cfg.http_max_clients_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->cfg.http_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
        http_conn_notify, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_ARRAY,
        h->tls_cert ? tls : tls + 2, MHD_OPTION_END);
    if (!h->mhd)
        return df_err_set(err, DF_E_IO, "cannot listen for HTTP on %s%s (in use? bad TLS files?)",
                          h->cfg.http_listen, h->tls_cert ? " with TLS" : "");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : 0;
    return 0;
}

int http_start(struct http_server **out, const struct config *cfg, struct df_log *log,
               struct df_err *err)
{
    *out = NULL;
    struct http_server *h = calloc(1, sizeof(*h));
    if (!h)
        return df_err_set(err, DF_E_NOMEM, "out of memory");
    h->cfg = *cfg;
    h->log = log;
    h->wake[0] = h->wake[1] = -1;
    h->queue_tail = &h->queue;
    h->next_seq = 1;
    h->started = time(NULL);
    h->stats.slurm_reachable = 1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    snprintf(h->db_path, sizeof(h->db_path), "%s/ditfarmd.db", cfg->state_dir);
    int rc;
    if (paths_configs_dir(NULL, h->configs_dir, sizeof(h->configs_dir), err) < 0)
        h->configs_dir[0] = '\0'; /* submits will say so */
    df_err_clear(err);
    if (pipe2(h->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        rc = df_err_errno(err, DF_E_IO, "pipe");
        goto fail;
    }
    if ((rc = authdb_open(h->db_path, 1, &h->audit, err)) < 0 ||
        (rc = http_events_start(h, err)) < 0 || (rc = http_deadline_start(h, err)) < 0 ||
        (rc = start_mhd(h, err)) < 0)
        goto fail;
    *out = h;
    return 0;
fail:
    http_stop(h);
    return rc;
}

void http_stop(struct http_server *h)
{
    if (!h)
        return;
    http_mutations_abort(h); /* whoever still waits for the loop gets an answer */
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    http_deadline_stop(h); /* after MHD: its connections use conn_mu to the end */
    http_events_stop(h);
    while (h->readers) {
        struct http_reader *r = h->readers;
        h->readers = r->next;
        store_close(r->st);
        authdb_close(r->auth);
        free(r);
    }
    for (int i = 0; i < HTTP_HUB_CAP; i++)
        free(h->hub[i].data);
    free(h->prog);
    authdb_close(h->audit);
    for (int i = 0; i < 2; i++)
        if (h->wake[i] >= 0)
            close(h->wake[i]);
    free(h->tls_cert);
    free(h->tls_key);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int http_port(const struct http_server *h)
{
    return h ? h->port : 0;
}

int http_wake_fd(const struct http_server *h)
{
    return h ? h->wake[0] : -1;
}

void http_publish_stats(struct http_server *h, const struct http_stats *s)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stats = *s;
    pthread_mutex_unlock(&h->mu);
}
