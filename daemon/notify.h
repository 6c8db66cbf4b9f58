/*
 * notify.h -- webhooks: JSON POSTs on shot and node events, through a
 * persistent queue in the store so no event is lost to a dead receiver or a
 * daemon restart.
 *
 * The loop queues events as transitions happen (notify_queue_shot /
 * notify_queue_node write rows to the store: nothing is sent there) and calls
 * notify_flush() from its tick: at most config.webhook_batch POSTs, each
 * bounded by webhook_timeout_ms; a failed POST is retried after a doubling
 * wait and after webhook_max_tries is marked dropped (still in the store);
 * a refused URL or target (DF_E_INVAL) is dropped at once.
 *
 * Delivery (docs/security.md): http/https only, no redirects followed, no
 * proxy from the environment; the host is resolved first and, unless
 * webhook-allow-private is set, refused when any address it has is loopback,
 * private, link-local or otherwise not public; the connection is pinned to
 * the checked address (CURLOPT_RESOLVE) and checked again as the socket
 * opens.  Every POST is signed:
 *   X-Ditfarm-Timestamp: <unix seconds>
 *   X-Ditfarm-Signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>
 * URLs appear in logs and errors redacted (credentials, query, fragment).
 *
 * Payload (one JSON object, Content-Type: application/json):
 *   {"event": "shot.done", "time": "2026-11-23T13:01:59Z", "manifest": "m",
 *    "shot": "a", "state": "done", "job_id": "12", "attempts": 1,
 *    "job_dir": "...", "output": "/out/a.mp4", "sidecar": "/out/a.mp4.json",
 *    "reason": "..."}                          (output/sidecar on done only,
 *                                               reason when not empty)
 *   {"event": "node.drained", "time": ..., "node": "n1", "state": "drained",
 *    "previous": "idle"}
 */
#ifndef DF_NOTIFY_H
#define DF_NOTIFY_H

#include "config.h"
#include "err.h"
#include "job.h"
#include "store.h"

#include <stdint.h>

/* Queue `ev` of shot s for each of its notify URLs and config.notify_url.
 * Returns 0 or the store's error.  JOB_EVENT_NONE queues nothing. */
int notify_queue_shot(store_t *st, const struct config *c, const struct job_shot *s,
                      enum job_event ev, int64_t now, struct df_err *err);

/* Queue a node event ("node.<state>") for config.notify_url and the notify
 * URLs of every active shot.  Returns 0 or the store's error. */
int notify_queue_node(store_t *st, const struct config *c, const char *node, const char *state,
                      const char *previous, int64_t now, struct df_err *err);

/* The signing key (see above). */
struct notify_key {
    unsigned char k[256];
    size_t n;
};

/* Read the key from c->webhook_secret_file, or <state_dir>/webhook.secret
 * (created with 32 random bytes, hex, mode 0600, when missing).  The file
 * must be a regular file of this user with no group/other permission.
 * Returns 0, DF_E_INVAL (what is wrong with the file), DF_E_IO. */
int notify_key_load(const struct config *c, struct notify_key *key, struct df_err *err);

/* Signature header value "sha256=<hex>" for body sent at time t, into
 * dst (at least 72 bytes). */
void notify_sign(const struct notify_key *key, long long t, const char *body, char *dst,
                 size_t cap);

/* 1 when the address may not receive webhooks without webhook-allow-private:
 * unspecified, loopback, private, shared (100.64/10), link-local, multicast,
 * reserved, and IPv4-mapped IPv6 forms of those. */
struct sockaddr;
int notify_addr_private(const struct sockaddr *sa);

/* POST body to url with the timeouts and rules of c, signed with key.
 * Returns 0 on a 2xx answer, else DF_E_IO with curl's words or "HTTP 500",
 * DF_E_INVAL for a URL or a target that is refused (the URL redacted). */
int notify_post(const struct config *c, const struct notify_key *key, const char *url,
                const char *body, struct df_err *err);

/* What one flush did, for the loop's log. */
struct notify_report {
    int sent, failed, dropped;
    char last_error[DF_ERR_MSG_CAP + 128]; /* "POST url: message (...)" of the last failure */
#define NOTIFY_REPORT_ERRORS 8
    char errors[NOTIFY_REPORT_ERRORS][DF_ERR_MSG_CAP + 128]; /* the first failures, each */
    int n_errors;
};
/* Deliver the events due now (at most webhook_batch).  Returns 0 or the
 * store's error (a failing receiver is not an error: see rep). */
int notify_flush(store_t *st, const struct config *c, const struct notify_key *key, int64_t now,
                 struct notify_report *rep, struct df_err *err);

#endif /* DF_NOTIFY_H */
