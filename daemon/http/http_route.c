/* http_route.c -- the route table of the HTTP side (see http_route.h). */
#include "http_route.h"

#include <stdio.h>
#include <string.h>

struct row {
    const char *method;
    const char *pattern; /* segments; "{m}" and "{s}" capture */
    enum http_route_id id;
    int mutation;
};

static const struct row table[] = {
    {"GET", "/api/v1/shots", HTTP_ROUTE_SHOTS, 0},
    {"GET", "/api/v1/shots/{m}/{s}", HTTP_ROUTE_SHOT, 0},
    {"GET", "/api/v1/shots/{m}/{s}/log", HTTP_ROUTE_SHOT_LOG, 0},
    {"GET", "/api/v1/shots/{m}/{s}/preview.png", HTTP_ROUTE_SHOT_PREVIEW, 0},
    {"POST", "/api/v1/shots/{m}/{s}/cancel", HTTP_ROUTE_SHOT_CANCEL, 1},
    {"POST", "/api/v1/shots/{m}/{s}/retry", HTTP_ROUTE_SHOT_RETRY, 1},
    {"POST", "/api/v1/shots/{m}/{s}/priority", HTTP_ROUTE_SHOT_PRIORITY, 1},
    {"GET", "/api/v1/manifests", HTTP_ROUTE_MANIFESTS, 0},
    {"POST", "/api/v1/manifests", HTTP_ROUTE_SUBMIT, 1},
    {"POST", "/api/v1/manifests/{m}/cancel", HTTP_ROUTE_MANIFEST_CANCEL, 1},
    {"GET", "/api/v1/events", HTTP_ROUTE_EVENTS, 0},
    {"GET", "/api/v1/audit", HTTP_ROUTE_AUDIT, 0},
    {"GET", "/api/v1/whoami", HTTP_ROUTE_WHOAMI, 0},
    {"GET", "/healthz", HTTP_ROUTE_HEALTHZ, 0},
    {"GET", "/metrics", HTTP_ROUTE_METRICS, 0},
};

static const char *const names[] = {
    "none",
    "shots",
    "shot",
    "shot.log",
    "shot.preview",
    "shot.cancel",
    "shot.retry",
    "shot.priority",
    "manifests",
    "manifests.submit",
    "manifest.cancel",
    "events",
    "audit",
    "whoami",
    "healthz",
    "metrics",
    "static",
};
_Static_assert(sizeof(names) / sizeof(names[0]) == HTTP_ROUTE_COUNT, "one name per route");

const char *http_route_name(enum http_route_id id)
{
    return (unsigned)id < HTTP_ROUTE_COUNT ? names[id] : "?";
}

/* The next segment of *p (after any '/'), its length in *n; NULL at the end. */
static const char *segment(const char **p, size_t *n)
{
    while (**p == '/')
        (*p)++;
    if (!**p)
        return NULL;
    const char *s = *p;
    *n = strcspn(s, "/");
    *p = s + *n;
    return s;
}

/* 1 when path has the pattern's shape; captures into out. */
static int shape(const char *pattern, const char *path, struct http_route *out)
{
    const char *p = pattern, *q = path;
    for (;;) {
        size_t pn = 0, qn = 0;
        const char *ps = segment(&p, &pn), *qs = segment(&q, &qn);
        if (!ps || !qs)
            return !ps && !qs;
        if (pn == 3 && ps[0] == '{') {
            if (qn >= JOB_ID_CAP || qs[0] == '.')
                return 0; /* too long for an id, or "."/".."/a hidden name */
            char *dst = ps[1] == 'm' ? out->manifest : out->shot;
            memcpy(dst, qs, qn);
            dst[qn] = '\0';
        } else if (pn != qn || memcmp(ps, qs, pn) != 0) {
            return 0;
        }
    }
}

int http_route_match(const char *method, const char *path, struct http_route *out)
{
    memset(out, 0, sizeof(*out));
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    out->api = strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0;
    int other_method = 0, allow_get = 0, allow_post = 0;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        struct http_route tmp = {0};
        if (!shape(table[i].pattern, path, &tmp))
            continue;
        if (strcmp(table[i].method, m) != 0) {
            other_method = 1;
            allow_get |= strcmp(table[i].method, "GET") == 0;
            allow_post |= strcmp(table[i].method, "POST") == 0;
            continue;
        }
        memcpy(out->manifest, tmp.manifest, sizeof(out->manifest));
        memcpy(out->shot, tmp.shot, sizeof(out->shot));
        out->id = table[i].id;
        out->mutation = table[i].mutation;
        return 0;
    }
    if (other_method) {
        out->allow = allow_get && allow_post ? "GET, HEAD, POST" : allow_get ? "GET, HEAD" : "POST";
        return out->status = 405;
    }
    if (!out->api) {
        if (strcmp(m, "GET") != 0) {
            out->allow = "GET, HEAD";
            return out->status = 405;
        }
        out->id = HTTP_ROUTE_STATIC;
        return 0;
    }
    return out->status = 404;
}
