/*
 * http.h -- ditfarmd's HTTP side: the JSON API under /api/v1/, the event
 * stream, /metrics, /healthz and the web page (docs/api.md).
 *
 * Threads.  libmicrohttpd runs one thread per connection (at most
 * http-max-clients, http-max-clients-per-ip from one address, each closed
 * after http-timeout-s idle), plus one watcher thread that turns new rows of
 * the store's history and new "step i/N" log lines into events.  None of
 * them touches the loop's store handle or struct daemon:
 *   - reads go through their own read-only SQLite connections (WAL lets them
 *     read while the loop writes), a small pool shared by the threads;
 *   - mutations (submit, cancel, retry, priority) are queued as control
 *     requests; a byte on a pipe wakes the loop's poll(), the loop runs them
 *     (http_run_mutations) exactly as it runs control-socket requests, writes
 *     the audit row, and hands the reply back to the waiting HTTP thread.
 * So a slow or hostile client costs one connection thread, never the loop.
 *
 *     struct http_server *h = NULL;
 *     if (cfg.http_listen[0] && http_start(&h, &cfg, log, &err) < 0) ...
 *     poll on http_wake_fd(h) beside the control socket;
 *     when readable: http_run_mutations(h, d);
 *     each loop pass: http_publish_stats(h, &stats);
 *     http_stop(h);
 */
#ifndef DF_HTTP_H
#define DF_HTTP_H

#include "config.h"
#include "err.h"
#include "log.h"

#include <stdint.h>

struct http_server;
struct daemon;

/* What only the loop knows, copied to the HTTP side each pass (/metrics). */
struct http_stats {
    int slurm_reachable;     /* the last squeue answered */
    int64_t sbatch_failures; /* sbatch calls that failed since start */
};

/* Listen on cfg->http_listen (TLS when cfg->http_tls_cert/key are set) and
 * start the threads.  Returns 0 and *out; DF_E_INVAL (bad address, key),
 * DF_E_IO (cannot listen: the port is taken...). */
int http_start(struct http_server **out, const struct config *cfg, struct df_log *log,
               struct df_err *err);
/* Stop the threads (open event streams end), close everything; NULL is fine. */
void http_stop(struct http_server *h);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *h);

/* The read end of the wake pipe: readable when mutations wait (-1 for NULL). */
int http_wake_fd(const struct http_server *h);
/* On the loop's thread: run every queued mutation against d, audit it, and
 * wake the HTTP threads waiting for the replies. */
void http_run_mutations(struct http_server *h, struct daemon *d);
/* On the loop's thread: the loop's counters for /metrics. */
void http_publish_stats(struct http_server *h, const struct http_stats *s);

#endif /* DF_HTTP_H */
