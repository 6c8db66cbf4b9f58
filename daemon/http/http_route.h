/*
 * http_route.h -- which call a request is: one table of (method, path
 * pattern) -> route, matched segment by segment; {manifest} and {shot}
 * segments are captured.  Pure (no libmicrohttpd, no store), so it is
 * unit-tested and fuzzed on its own (tests/fuzz/fuzz_http_route.c).
 *
 *     struct http_route r;
 *     http_route_match("POST", "/api/v1/shots/m/a/cancel", &r);
 *     // r.id == HTTP_ROUTE_SHOT_CANCEL, r.manifest "m", r.shot "a", r.mutation 1
 *     http_route_match("DELETE", "/api/v1/shots", &r);   // r.status 405, r.allow "GET, HEAD"
 */
#ifndef DF_HTTP_ROUTE_H
#define DF_HTTP_ROUTE_H

#include "job.h"

enum http_route_id {
    HTTP_ROUTE_NONE,            /* status says 404 or 405 */
    HTTP_ROUTE_SHOTS,           /* GET  /api/v1/shots */
    HTTP_ROUTE_SHOT,            /* GET  /api/v1/shots/{manifest}/{shot} */
    HTTP_ROUTE_SHOT_LOG,        /* GET  .../log */
    HTTP_ROUTE_SHOT_PREVIEW,    /* GET  .../preview.png */
    HTTP_ROUTE_SHOT_CANCEL,     /* POST .../cancel */
    HTTP_ROUTE_SHOT_RETRY,      /* POST .../retry */
    HTTP_ROUTE_SHOT_PRIORITY,   /* POST .../priority */
    HTTP_ROUTE_MANIFESTS,       /* GET  /api/v1/manifests */
    HTTP_ROUTE_SUBMIT,          /* POST /api/v1/manifests */
    HTTP_ROUTE_MANIFEST_CANCEL, /* POST /api/v1/manifests/{manifest}/cancel */
    HTTP_ROUTE_EVENTS,          /* GET  /api/v1/events */
    HTTP_ROUTE_AUDIT,           /* GET  /api/v1/audit */
    HTTP_ROUTE_WHOAMI,          /* GET  /api/v1/whoami */
    HTTP_ROUTE_HEALTHZ,         /* GET  /healthz */
    HTTP_ROUTE_METRICS,         /* GET  /metrics */
    HTTP_ROUTE_STATIC,          /* GET  anything else outside /api/: the page's files */
    HTTP_ROUTE_COUNT
};
/* "shots", "shot.cancel", ...; "?" out of range. */
const char *http_route_name(enum http_route_id id);

struct http_route {
    enum http_route_id id;
    int status;                /* 0 matched; 404 or 405 (then id is NONE) */
    const char *allow;         /* for 405: the methods the path takes */
    int api;                   /* under /api/: needs a token */
    int mutation;              /* needs an operator token */
    char manifest[JOB_ID_CAP]; /* captured {manifest}, "" when none */
    char shot[JOB_ID_CAP];     /* captured {shot}, "" when none */
};

/* Match method and path (no query; HEAD counts as GET).  Returns the status
 * (0, 404, 405) and fills *out.  A captured segment of JOB_ID_CAP bytes or
 * more, or ".."/"."-like segments, never match (404). */
int http_route_match(const char *method, const char *path, struct http_route *out);

#endif /* DF_HTTP_ROUTE_H */
