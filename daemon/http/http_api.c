/*
 * http_api.c -- the read side of /api/v1/: shot list and detail, log tail,
 * preview image, manifests, audit.  Every call reads through a pooled
 * read-only store connection (http_reader_get), never the loop's.
 */
#include "http_int.h"

#include "progress.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_TAIL_DEFAULT 65536
#define LOG_TAIL_MAX (1 << 20)
#define PREVIEW_MAX (8 << 20)

/* Every shot, or 500 in r. */
static int list_all(struct http_server *h, struct job_shot **all, size_t *n, struct http_reply *r)
{
    struct df_err err = {0};
    struct http_reader *rd = http_reader_get(h, &err);
    int rc = rd ? store_shots_list(rd->st, STORE_ALL, all, n, &err) : -1;
    http_reader_put(h, rd);
    if (rc < 0)
        http_reply_error(r, 500, "%s", err.msg);
    return rc;
}

int http_find_shot(struct http_server *h, const char *manifest, const char *shot,
                   struct job_shot *out, struct df_err *err)
{
    struct http_reader *rd = http_reader_get(h, err);
    struct job_shot *all = NULL;
    size_t n = 0;
    int rc = rd ? store_shots_list(rd->st, STORE_ALL, &all, &n, err) : -1;
    http_reader_put(h, rd);
    if (rc < 0)
        return rc;
    int found = 0;
    for (size_t i = 0; i < n; i++) /* oldest first: the last match is the newest */
        if (strcmp(all[i].manifest, manifest) == 0 && strcmp(all[i].shot, shot) == 0) {
            *out = all[i];
            found = 1;
        }
    free(all);
    return found;
}

static void add_num_or_null(cJSON *o, const char *k, double v)
{
    if (v >= 0)
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

void *http_shot_summary(struct http_server *h, const struct job_shot *s)
{
    (void)h;
    struct progress p;
    progress_read(s->job_dir, s->state == JOB_STATE_DONE ? s->output : NULL, &p);
    double sps = p.seconds_per_step;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "manifest", s->manifest);
    cJSON_AddStringToObject(o, "shot", s->shot);
    cJSON_AddStringToObject(o, "state", job_state_name(s->state));
    cJSON_AddStringToObject(o, "job_id", s->job_id);
    cJSON_AddNumberToObject(o, "attempts", s->attempts);
    cJSON_AddNumberToObject(o, "priority", s->priority);
    if (s->state == JOB_STATE_DONE && p.steps)
        p.step = p.steps;
    cJSON_AddNumberToObject(o, "step", p.step);
    cJSON_AddNumberToObject(o, "steps", p.steps);
    cJSON_AddNumberToObject(o, "progress",
                            s->state == JOB_STATE_DONE ? 1.0
                            : p.steps                  ? (double)p.step / p.steps
                                                       : 0.0);
    add_num_or_null(o, "s_per_step", sps);
    cJSON_AddStringToObject(o, "eta", s->state == JOB_STATE_RUNNING ? p.eta : "");
    double eta_s =
        sps >= 0 && p.steps && s->state == JOB_STATE_RUNNING ? sps * (p.steps - p.step) : -1;
    add_num_or_null(o, "eta_s", eta_s);
    add_num_or_null(o, "cache_hit_rate", p.cache_hit);
    cJSON_AddNumberToObject(o, "last_checkpoint_step", p.last_ckpt_step);
    cJSON_AddStringToObject(o, "reason", s->reason);
    cJSON_AddStringToObject(o, "output", s->output);
    cJSON_AddStringToObject(o, "after", s->deps);
    cJSON_AddNumberToObject(o, "updated", (double)s->updated);
    return o;
}

/* "a,b" contains `word`. */
static int list_has(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, word, n) == 0)
            return 1;
        p += k + (p[k] == ',');
    }
    return 0;
}

void http_api_shots(struct http_server *h, const struct http_req *q, struct http_reply *r)
{
    const char *state = http_query(q, "state"), *manifest = http_query(q, "manifest");
    if (state) {
        for (const char *p = state; *p;) {
            size_t k = strcspn(p, ",");
            char one[32];
            enum job_state st;
            snprintf(one, sizeof(one), "%.*s", (int)(k < 31 ? k : 31), p);
            if (job_state_from_name(one, &st) < 0) {
                http_reply_error(r, 400,
                                 "unknown state '%s' (queued, waiting, submitted, "
                                 "running, retrying, done, failed, cancelled)",
                                 one);
                return;
            }
            p += k + (p[k] == ',');
        }
    }
    struct job_shot *all = NULL;
    size_t n = 0;
    if (list_all(h, &all, &n, r) < 0)
        return;
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "shots");
    for (size_t i = 0; i < n; i++) {
        if (state && !list_has(state, job_state_name(all[i].state)))
            continue;
        if (manifest && strcmp(manifest, all[i].manifest) != 0)
            continue;
        cJSON_AddItemToArray(a, http_shot_summary(h, &all[i]));
    }
    free(all);
    http_reply_json(r, 200, j);
}

/* The shot named by /api/v1/shots/{manifest}/{shot}[/...]; else r has 404/500. */
static int path_shot(struct http_server *h, const struct http_req *q, struct job_shot *s,
                     struct http_reply *r)
{
    struct df_err err = {0};
    int found = http_find_shot(h, q->route.manifest, q->route.shot, s, &err);
    if (found < 0)
        http_reply_error(r, 500, "%s", err.msg);
    else if (!found)
        http_reply_error(r, 404, "no shot %s/%s", q->route.manifest, q->route.shot);
    return found == 1 ? 0 : -1;
}

void http_api_shot(struct http_server *h, const struct http_req *q, struct http_reply *r)
{
    struct job_shot s;
    if (path_shot(h, q, &s, r) < 0)
        return;
    struct df_err err = {0};
    struct http_reader *rd = http_reader_get(h, &err);
    if (!rd) {
        http_reply_error(r, 500, "%s", err.msg);
        return;
    }
    cJSON *j = http_shot_detail(h, rd, &s);
    http_reader_put(h, rd);
    http_reply_json(r, 200, j);
}

void http_api_shot_log(struct http_server *h, const struct http_req *q, struct http_reply *r)
{
    struct job_shot s;
    if (path_shot(h, q, &s, r) < 0)
        return;
    const char *b = http_query(q, "bytes");
    long max = b ? strtol(b, NULL, 10) : LOG_TAIL_DEFAULT;
    if (max <= 0 || max > LOG_TAIL_MAX)
        max = LOG_TAIL_DEFAULT;
    size_t len = 0;
    char *tail = http_shot_log_tail(&s, (size_t)max, &len);
    r->status = 200;
    r->type = "text/plain; charset=utf-8";
    r->body = tail ? tail : strdup("");
    r->len = tail ? len : 0;
    if (!r->body)
        http_reply_error(r, 500, "out of memory");
}

void http_api_preview(struct http_server *h, const struct http_req *q, struct http_reply *r)
{
    struct job_shot s;
    if (path_shot(h, q, &s, r) < 0)
        return;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%.4000s/preview.png", s.job_dir);
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0 || st.st_size <= 0 || st.st_size > PREVIEW_MAX) {
        if (f)
            fclose(f);
        http_reply_error(r, 404, "shot %s/%s has no preview yet", s.manifest, s.shot);
        return;
    }
    char *buf = malloc((size_t)st.st_size);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf || n != (size_t)st.st_size) {
        free(buf);
        http_reply_error(r, 500, "cannot read %s", path);
        return;
    }
    r->status = 200;
    r->type = "image/png";
    r->body = buf;
    r->len = n;
}

void http_api_manifests(struct http_server *h, const struct http_req *q, struct http_reply *r)
{
    (void)q;
    struct job_shot *all = NULL;
    size_t n = 0;
    if (list_all(h, &all, &n, r) < 0)
        return;
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "manifests");
    /* one entry per submission (manifest row), in submission order */
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = all[k].manifest_row == all[i].manifest_row;
        if (seen)
            continue;
        cJSON *m = cJSON_CreateObject(), *counts = cJSON_CreateObject(), *ids = cJSON_CreateArray();
        int total = 0, active = 0, counts_by[JOB_STATE_COUNT] = {0};
        int64_t updated = 0;
        for (size_t k = i; k < n; k++) {
            if (all[k].manifest_row != all[i].manifest_row)
                continue;
            total++;
            active += !job_state_terminal(all[k].state);
            counts_by[all[k].state]++;
            updated = all[k].updated > updated ? all[k].updated : updated;
            cJSON_AddItemToArray(ids, cJSON_CreateString(all[k].shot));
        }
        for (int st = 0; st < JOB_STATE_COUNT; st++)
            if (counts_by[st])
                cJSON_AddNumberToObject(counts, job_state_name((enum job_state)st), counts_by[st]);
        cJSON_AddStringToObject(m, "name", all[i].manifest);
        cJSON_AddNumberToObject(m, "submission", (double)all[i].manifest_row);
        cJSON_AddNumberToObject(m, "shots", total);
        cJSON_AddNumberToObject(m, "active", active);
        cJSON_AddItemToObject(m, "states", counts);
        cJSON_AddItemToObject(m, "shot_ids", ids);
        cJSON_AddNumberToObject(m, "updated", (double)updated);
        cJSON_AddItemToArray(a, m);
    }
    free(all);
    http_reply_json(r, 200, j);
}

void http_api_audit(struct http_server *h, const struct http_req *q, struct http_reply *r)
{
    const char *lim = http_query(q, "limit");
    long max = lim ? strtol(lim, NULL, 10) : 100;
    if (max <= 0 || max > 10000)
        max = 100;
    struct df_err err = {0};
    struct http_reader *rd = http_reader_get(h, &err);
    struct auth_audit *v = NULL;
    size_t n = 0;
    int rc = rd ? authdb_audit_list(rd->auth, (int)max, &v, &n, &err) : -1;
    http_reader_put(h, rd);
    if (rc < 0) {
        http_reply_error(r, 500, "%s", err.msg);
        return;
    }
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "audit");
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "id", (double)v[i].id);
        cJSON_AddNumberToObject(e, "at", (double)v[i].at);
        cJSON_AddStringToObject(e, "token", v[i].token);
        cJSON_AddStringToObject(e, "action", v[i].action);
        cJSON_AddStringToObject(e, "target", v[i].target);
        cJSON_AddStringToObject(e, "result", v[i].result);
        cJSON_AddStringToObject(e, "detail", v[i].detail);
        cJSON_AddItemToArray(a, e);
    }
    free(v);
    http_reply_json(r, 200, j);
}
