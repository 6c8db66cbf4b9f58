/*
 * notify.h -- webhooks: JSON POSTs on shot and node events, through a
 * persistent queue in the store so no event is lost to a dead receiver or a
 * daemon restart.
 *
 * The loop queues events as transitions happen (notify_queue_shot /
 * notify_queue_node write rows to the store: nothing is sent there) and calls
 * notify_flush() from its tick: at most config.webhook_batch POSTs, each
 * bounded by webhook_timeout_ms; a failed POST is retried after a doubling
 * wait and after webhook_max_tries is marked dropped (still in the store).
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

/* POST body to url with the timeouts of c.  Returns 0 on a 2xx answer, else
 * DF_E_IO with curl's words or "HTTP 500". */
int notify_post(const struct config *c, const char *url, const char *body, struct df_err *err);

/* What one flush did, for the loop's log. */
struct notify_report {
    int sent, failed, dropped;
    char last_error[DF_ERR_MSG_CAP + 128]; /* "POST url: message (...)" of the last failure */
};
/* Deliver the events due now (at most webhook_batch).  Returns 0 or the
 * store's error (a failing receiver is not an error: see rep). */
int notify_flush(store_t *st, const struct config *c, int64_t now, struct notify_report *rep,
                 struct df_err *err);

#endif /* DF_NOTIFY_H */
