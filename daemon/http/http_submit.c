/*
 * http_submit.c -- POST /api/v1/manifests: a YAML manifest in the body.
 *
 * Validated and planned on the HTTP thread, as `ditfarm submit` does on the
 * submit host (manifest_load_buffer, then jobspec_plan per shot), so a bad
 * manifest gets its file:line:col diagnostics with 400 and never reaches the
 * loop.  What passes becomes the very control request `ditfarm submit` sends
 * (cmd "submit", normalized manifest, options), run by the loop.
 *
 * Query: name=FILE (how the body is called in messages, default
 * manifest.yaml), gpus, nodes + gpus_per_node, cpu_ranks, backend, grace,
 * cpus_per_task -- the options of `ditfarm submit`.
 *
 * With Content-Type: application/json the body is JSON (malformed: 400 with
 * the byte where parsing stopped): {"manifest": "<YAML text>" or {manifest
 * as JSON}, "name": "FILE"}, or the manifest itself as a JSON object (JSON is
 * YAML).
 */
#include "backend_desc.h"
#include "http_int.h"

#include "diag.h"
#include "jobspec.h"
#include "manifest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

/* Query option `key` as an int in lo..hi into *out (left alone when absent).
 * Returns 0, or -1 with r holding the 400. */
static int query_int(const struct http_req *q, const char *key, int lo, int hi, int *out,
                     struct http_reply *r)
{
    const char *v = http_query(q, key);
    if (!v)
        return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi) {
        http_reply_error(r, 400, "query %s must be an integer in %d..%d, got '%.40s'", key, lo, hi,
                         v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int read_opts(const struct http_req *q, struct jobspec_opts *o, struct http_reply *r)
{
    if (query_int(q, "gpus", 1, LAYOUT_MAX_RANKS, &o->gpus, r) < 0 ||
        query_int(q, "nodes", 1, LAYOUT_MAX_NODES, &o->nodes, r) < 0 ||
        query_int(q, "gpus_per_node", 1, LAYOUT_MAX_RANKS_PER_NODE, &o->per_node, r) < 0 ||
        query_int(q, "cpu_ranks", 1, LAYOUT_MAX_RANKS, &o->cpu_ranks, r) < 0 ||
        query_int(q, "grace", 10, 65535, &o->grace_s, r) < 0 ||
        query_int(q, "cpus_per_task", 1, 1024, &o->cpus_per_task, r) < 0)
        return -1;
    const char *b = http_query(q, "backend");
    if (b && !backend_desc_find(b)) {
        char known[128];
        backend_desc_names(known, sizeof(known));
        http_reply_error(r, 400, "query backend must be one of %s, got '%.40s'", known, b);
        return -1;
    }
    o->backend = b;
    if ((o->gpus != 0) + (o->nodes != 0 || o->per_node != 0) + (o->cpu_ranks != 0) > 1 ||
        (o->nodes != 0) != (o->per_node != 0)) {
        http_reply_error(r, 400, "give one of gpus, nodes + gpus_per_node, cpu_ranks");
        return -1;
    }
    return 0;
}

/* 400 with every diagnostic, as the CLI prints them. */
static void reply_diags(struct http_reply *r, const struct diag_list *dl, const char *summary)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "error", summary);
    cJSON_AddNumberToObject(j, "status", 400);
    cJSON *a = cJSON_AddArrayToObject(j, "diagnostics");
    for (size_t i = 0; i < dl->count; i++) {
        char line[DIAG_LINE_CAP];
        diag_format(&dl->items[i], line, sizeof(line));
        cJSON_AddItemToArray(a, cJSON_CreateString(line));
    }
    http_reply_json(r, 400, j);
}

static cJSON *request_json(const char *name, const struct manifest *m, const char *configs,
                           const struct jobspec_opts *o, const char *worker)
{
    cJSON *req = cJSON_CreateObject(), *op = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "cmd", "submit");
    cJSON_AddStringToObject(req, "path", name);
    cJSON_AddStringToObject(req, "configs", configs);
    cJSON_AddItemToObject(req, "manifest", manifest_to_json(m));
    cJSON_AddNumberToObject(op, "cpu_ranks", o->cpu_ranks);
    cJSON_AddNumberToObject(op, "gpus", o->gpus);
    cJSON_AddNumberToObject(op, "nodes", o->nodes);
    cJSON_AddNumberToObject(op, "gpus_per_node", o->per_node);
    cJSON_AddNumberToObject(op, "grace", o->grace_s);
    cJSON_AddNumberToObject(op, "cpus_per_task", o->cpus_per_task);
    if (o->backend)
        cJSON_AddStringToObject(op, "backend", o->backend);
    cJSON_AddStringToObject(op, "worker", worker);
    cJSON_AddItemToObject(req, "opts", op);
    return req;
}

static void submit_yaml(struct http_server *h, const struct http_req *q, const char *fname,
                        struct http_reply *r);

/* A JSON body: the manifest text (malloc'd) and maybe its name, or NULL
 * with r holding the 400. */
static char *json_body(const struct http_req *q, char *fname, size_t cap, struct http_reply *r)
{
    cJSON *j = cJSON_ParseWithLength(q->body, q->body_len);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= q->body && at <= q->body + q->body_len ? (long)(at - q->body) : -1;
        http_reply_error(r, 400, "malformed JSON body (parsing stopped at byte %ld)", off);
        return NULL;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "manifest");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (cJSON_IsString(n) && n->valuestring[0])
        snprintf(fname, cap, "%s", n->valuestring);
    char *text = cJSON_IsString(m)   ? strdup(m->valuestring)
                 : cJSON_IsObject(m) ? cJSON_Print(m)
                 : cJSON_IsObject(j) ? cJSON_Print(j)
                                     : NULL;
    if (!text)
        http_reply_error(r, 400, "the JSON body must be an object: {\"manifest\": YAML text or "
                                 "object, \"name\": FILE}, or the manifest itself");
    cJSON_Delete(j);
    return text;
}

void http_api_submit(struct http_server *h, const struct http_req *q, struct http_reply *r)
{
    const char *name = http_query(q, "name");
    char fname[128];
    snprintf(fname, sizeof(fname), "%s", name && name[0] ? name : "manifest.yaml");
    if (!q->body || q->body_len == 0) {
        http_reply_error(r, 400, "the body must be a YAML manifest (it is empty)");
        return;
    }
    const char *ct = http_header(q, "Content-Type");
    if (ct && strncasecmp(ct, "application/json", 16) == 0) {
        char *text = json_body(q, fname, sizeof(fname), r);
        if (!text)
            return;
        struct http_req yq = *q;
        yq.body = text;
        yq.body_len = strlen(text);
        submit_yaml(h, &yq, fname, r);
        free(text);
        return;
    }
    submit_yaml(h, q, fname, r);
}

/* The manifest text in q->body, called fname in messages. */
static void submit_yaml(struct http_server *h, const struct http_req *q, const char *fname,
                        struct http_reply *r)
{
    if (strchr(fname, '/')) {
        http_reply_error(r, 400, "name is a file name, without '/'");
        return;
    }
    if (!h->configs_dir[0]) {
        http_reply_error(r, 500, "ditfarmd found no configs directory (set DITFARM_CONFIGS)");
        return;
    }
    struct jobspec_opts o;
    jobspec_opts_init(&o);
    if (read_opts(q, &o, r) < 0)
        return;
    struct manifest *m = NULL;
    struct diag_list dl = {0};
    struct df_err err = {0};
    if (manifest_load_buffer(fname, q->body, q->body_len, h->configs_dir, &m, &dl, &err) < 0) {
        /* a message about a file the manifest names may quote that file:
         * redacted (manifest_diags_redact, docs/security.md) */
        manifest_diags_redact(&dl, fname);
        char summary[200];
        snprintf(summary, sizeof(summary), "%.120s: %zu problem%s", fname, dl.count,
                 dl.count == 1 ? "" : "s");
        reply_diags(r, &dl, dl.count ? summary : err.msg);
        diag_list_clear(&dl);
        return;
    }
    diag_list_clear(&dl);
    for (size_t i = 0; i < m->n_shots; i++) {
        struct layout lay;
        if (jobspec_plan(&o, &m->shots[i], &lay, &err) < 0) {
            http_reply_error(r, 400, "%s", err.msg);
            manifest_free(m);
            return;
        }
    }
    char worker[PATH_MAX];
    const char *env_worker = getenv("DITFARM_WORKER"); /* as `ditfarm render` */
    jobspec_find_worker(env_worker && *env_worker ? env_worker : NULL, worker, sizeof(worker));
    struct http_mutation *mu = calloc(1, sizeof(*mu));
    cJSON *req = request_json(fname, m, h->configs_dir, &o, worker);
    if (mu) {
        mu->action = HTTP_ACTION_SUBMIT;
        snprintf(mu->token, sizeof(mu->token), "%s", q->who.name);
        snprintf(mu->manifest, sizeof(mu->manifest), "%s", m->name);
        mu->request = req ? cJSON_PrintUnformatted(req) : NULL;
    }
    cJSON_Delete(req);
    manifest_free(m);
    if (!mu || !mu->request) {
        http_mutation_free(mu);
        http_reply_error(r, 500, "out of memory");
        return;
    }
    http_mutate(h, mu, r);
}
