/*
 * job_contract.c -- resolve a shot into job.json, write it, read it back
 * (see job_contract.h).
 *
 * job_contract_resolve builds the JSON and parses it with the very reader the
 * worker uses, so a shot rendered in-process (`ditfarm-worker render
 * MANIFEST`) and one rendered from job.json go through the same code and
 * cannot drift apart.
 */
#include "job_contract.h"
#include "backend_desc.h"
#include "jsonfile.h"
#include "textfile.h"
#include "manifest_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void job_contract_opts_init(struct job_contract_opts *o)
{
    memset(o, 0, sizeof(*o));
}

void job_contract_free(struct job_contract *jc)
{
    if (!jc)
        return;
    manifest_shot_fini(&jc->shot);
    memset(jc, 0, sizeof(*jc));
}

int job_contract_plan(const struct shot *s, const struct cluster_shape *c, struct layout *out,
                      int out_cap, int *n_out, struct df_err *err)
{
    struct cluster_shape cs = *c;
    cs.cfg_branches = shot_guided(s) ? 2 : 1;
    cs.cfg_together = layout_shot_cfg_together(s);
    if (!cs.use_all)
        cs.max_ranks = s->resources.max_gpus; /* resources.max_gpus caps what the shot may take */
    return layout_plan(&s->geom, &s->grid, &cs, NULL, out, out_cap, n_out, err);
}

/* ---- writing ----------------------------------------------------------------- */

static cJSON *layout_json(const struct job_contract *jc)
{
    if (!jc->planned)
        return cJSON_CreateNull();
    const struct layout *l = &jc->lay;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "cfg", l->cfg);
    cJSON_AddNumberToObject(o, "ulysses", l->ulysses);
    cJSON_AddNumberToObject(o, "ring", l->ring);
    cJSON_AddNumberToObject(o, "world", l->world);
    cJSON_AddNumberToObject(o, "nodes", l->nodes);
    cJSON_AddNumberToObject(o, "ranks_per_node", l->ranks_per_node);
    cJSON_AddStringToObject(o, "device", layout_device_name(jc->device));
    char desc[256];
    layout_describe(l, desc, sizeof(desc));
    cJSON_AddStringToObject(o, "describe", desc);
    return o;
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v && v[0])
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

cJSON *job_contract_to_json(const struct job_contract *jc)
{
    const struct shot *s = &jc->shot;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "ditfarm_job", JOB_CONTRACT_VERSION);
    cJSON *m = cJSON_AddObjectToObject(o, "manifest");
    cJSON_AddStringToObject(m, "name", jc->manifest);
    cJSON_AddItemToObject(o, "shot", manifest_shot_to_json(s));
    cJSON *mod = cJSON_AddObjectToObject(o, "model");
    cJSON_AddStringToObject(mod, "name", s->model ? s->model : "");
    add_str_or_null(mod, "dir", s->geom.path);
    cJSON_AddStringToObject(mod, "family", s->geom.family);
    cJSON_AddBoolToObject(o, "guided", jc->guided);
    cJSON *smp = cJSON_AddObjectToObject(o, "sampler");
    cJSON_AddStringToObject(smp, "name", sampler_kind_name(s->sampler));
    cJSON_AddNumberToObject(smp, "steps", s->steps);
    cJSON_AddNumberToObject(smp, "shift", s->flow_shift);
    cJSON_AddNumberToObject(o, "seed", (double)s->seed);
    cJSON_AddBoolToObject(o, "seed_drawn", s->seed_random);
    cJSON_AddItemToObject(o, "layout", layout_json(jc));
    cJSON *c = cJSON_AddObjectToObject(o, "cache");
    cJSON_AddStringToObject(c, "policy", cache_policy_name(s->cache.policy));
    add_str_or_null(c, "configs_dir", jc->configs_dir);
    cJSON *out = cJSON_AddObjectToObject(o, "output");
    cJSON_AddStringToObject(out, "path", jc->output);
    cJSON_AddStringToObject(out, "date", jc->date);
    add_str_or_null(out, "root", jc->output_root);
    cJSON_AddStringToObject(o, "backend", jc->backend);
    add_str_or_null(o, "job_dir", jc->job_dir);
    char hash[20];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)jc->hash);
    cJSON_AddStringToObject(o, "hash", hash);
    /* cJSON_Add* on a failed parent is a no-op: check once, at the end */
    if (!cJSON_GetObjectItemCaseSensitive(o, "hash") ||
        !cJSON_GetObjectItemCaseSensitive(o, "shot")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int job_contract_write(const struct job_contract *jc, const char *path, struct df_err *err)
{
    cJSON *o = job_contract_to_json(jc);
    DF_FAIL_IF(!o, err, DF_E_NOMEM, "out of memory writing %s", path);
    int rc = jsonfile_write(path, o, err);
    cJSON_Delete(o);
    return rc;
}

/* ---- reading ------------------------------------------------------------------ */

/* One reader: the file's name for messages and the first error seen.  Every
 * getter is a no-op once an error is set, so a parser reads top to bottom
 * and checks once. */
struct rd {
    const char *name;
    struct df_err *err;
    int rc;
};

static const cJSON *item(struct rd *r, const cJSON *o, const char *key, int need)
{
    const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (cJSON_IsNull(v))
        v = NULL;
    if (!v && need && r->rc == 0)
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: missing key '%s'", r->name, key);
    return v;
}

static double num(struct rd *r, const cJSON *o, const char *key, double lo, double hi, double def,
                  int need)
{
    const cJSON *v = item(r, o, key, need);
    if (r->rc || !v)
        return def;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: '%s' must be a number in %g..%g", r->name,
                           key, lo, hi);
        return def;
    }
    return v->valuedouble;
}

static int inum(struct rd *r, const cJSON *o, const char *key, int lo, int hi, int def, int need)
{
    double d = num(r, o, key, lo, hi, def, need);
    if (r->rc == 0 && d != floor(d))
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: '%s' must be an integer", r->name, key);
    return r->rc ? def : (int)d;
}

static const char *str(struct rd *r, const cJSON *o, const char *key, int need)
{
    const cJSON *v = item(r, o, key, need);
    if (r->rc || !v)
        return NULL;
    if (!cJSON_IsString(v)) {
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: '%s' must be a string", r->name, key);
        return NULL;
    }
    return v->valuestring;
}

static char *dup_str(struct rd *r, const cJSON *o, const char *key, int need)
{
    const char *s = str(r, o, key, need);
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d && r->rc == 0)
        r->rc = df_err_set(r->err, DF_E_NOMEM, "out of memory");
    return d;
}

static void copy_str(struct rd *r, const cJSON *o, const char *key, char *dst, size_t cap,
                     int need)
{
    const char *s = str(r, o, key, need);
    if (!s)
        return;
    if (strlen(s) >= cap) {
        r->rc = df_err_set(r->err, DF_E_RANGE, "%s: '%s' longer than %zu bytes", r->name, key,
                           cap - 1);
        return;
    }
    memcpy(dst, s, strlen(s) + 1);
}

static void int3(struct rd *r, const cJSON *o, const char *key, int *dst)
{
    const cJSON *a = item(r, o, key, 1);
    if (r->rc)
        return;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) {
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: '%s' must be 3 integers", r->name, key);
        return;
    }
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 64) {
            r->rc = df_err_set(r->err, DF_E_INVAL, "%s: '%s' must be 3 integers in 1..64",
                               r->name, key);
            return;
        }
        dst[i] = (int)v->valuedouble;
    }
}

static char **str_list(struct rd *r, const cJSON *o, const char *key, size_t *n)
{
    const cJSON *a = item(r, o, key, 0);
    *n = 0;
    if (r->rc || !a)
        return NULL;
    if (!cJSON_IsArray(a)) {
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: '%s' must be a list", r->name, key);
        return NULL;
    }
    int cnt = cJSON_GetArraySize(a);
    char **v = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof(char *));
    if (!v) {
        r->rc = df_err_set(r->err, DF_E_NOMEM, "out of memory");
        return NULL;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsString(e) || !(v[*n] = strdup(e->valuestring))) {
            r->rc = df_err_set(r->err, DF_E_INVAL, "%s: '%s' must list strings", r->name, key);
            break;
        }
        (*n)++;
    }
    return v;
}

static int name_of(struct rd *r, const cJSON *o, const char *key, int (*from)(const char *, int *),
                   int def)
{
    const char *s = str(r, o, key, 1);
    int v = def;
    if (s && from(s, &v) < 0)
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: '%s' has an unknown value '%s'", r->name, key,
                           s);
    return v;
}

static int sampler_of(const char *s, int *v)
{
    enum sampler_kind k;
    int rc = sampler_kind_from_name(s, &k, NULL);
    *v = (int)k;
    return rc;
}

static int policy_of(const char *s, int *v)
{
    enum cache_policy p;
    int rc = cache_policy_from_name(s, &p);
    *v = (int)p;
    return rc;
}

static int mode_of(const char *s, int *v)
{
    enum cache_mode m;
    int rc = cache_mode_from_name(s, &m);
    *v = (int)m;
    return rc;
}

static int codec_of(const char *s, int *v)
{
    enum codec c;
    int rc = codec_from_name(s, &c);
    *v = (int)c;
    return rc;
}

static void read_geometry(struct rd *r, const cJSON *g, struct model_geom *out)
{
    copy_str(r, g, "name", out->name, sizeof(out->name), 1);
    copy_str(r, g, "family", out->family, sizeof(out->family), 1);
    out->num_layers = inum(r, g, "num_layers", 1, 10000, 1, 1);
    out->num_heads = inum(r, g, "num_heads", 1, 100000, 1, 1);
    out->head_dim = inum(r, g, "head_dim", 1, 100000, 1, 1);
    out->hidden = inum(r, g, "hidden", 1, 10000000, 1, 1);
    out->ffn_dim = inum(r, g, "ffn_dim", 1, 10000000, 1, 1);
    out->in_channels = inum(r, g, "in_channels", 1, 100000, 1, 1);
    out->out_channels = inum(r, g, "out_channels", 1, 100000, 1, 1);
    out->text_dim = inum(r, g, "text_dim", 0, 10000000, 0, 1);
    out->text_len = inum(r, g, "text_len", 0, 1000000, 0, 1);
    out->freq_dim = inum(r, g, "freq_dim", 0, 1000000, 0, 1);
    int3(r, g, "patch", out->patch);
    int3(r, g, "vae_stride", out->vae_stride);
    const cJSON *jt = item(r, g, "joint_text", 0);
    out->joint_text = cJSON_IsTrue(jt);
}

static void read_cache(struct rd *r, const cJSON *c, struct shot_cache *out)
{
    out->policy = (enum cache_policy)name_of(r, c, "policy", policy_of, CACHE_POLICY_OFF);
    out->threshold = num(r, c, "threshold", 0, 1e6, 0, 1);
    out->mode = (enum cache_mode)name_of(r, c, "mode", mode_of, CACHE_MODE_E);
    out->thresh_lo = num(r, c, "thresh_lo", 0, 1e6, 0, 1);
    out->thresh_hi = num(r, c, "thresh_hi", 0, 1e6, 0, 1);
    out->k = num(r, c, "k", -1e6, 1e6, 0, 1);
    out->cfg_threshold = num(r, c, "cfg_threshold", 0, 1e6, 0, 1);
}

static void read_output(struct rd *r, const cJSON *o, struct shot_output *out)
{
    out->path = dup_str(r, o, "path", 1);
    out->codec = (enum codec)name_of(r, o, "codec", codec_of, CODEC_H264);
    out->crf = inum(r, o, "crf", 0, 63, -1, 0);
    out->bitrate = (int64_t)num(r, o, "bitrate", 1, 1e12, 0, 0);
    copy_str(r, o, "pix_fmt", out->pix_fmt, sizeof(out->pix_fmt), 1);
    out->audio = dup_str(r, o, "audio", 0);
}

static void read_resources(struct rd *r, const cJSON *o, struct shot_resources *out)
{
    out->max_gpus = inum(r, o, "max_gpus", 0, LAYOUT_MAX_RANKS, 0, 0);
    out->time_limit_min = inum(r, o, "time_limit", 0, 1 << 30, 0, 0);
    copy_str(r, o, "partition", out->partition, sizeof(out->partition), 0);
    copy_str(r, o, "account", out->account, sizeof(out->account), 0);
    copy_str(r, o, "qos", out->qos, sizeof(out->qos), 0);
}

/* The shot object (manifest_shot_to_json's keys) into *s. */
static void read_shot(struct rd *r, const cJSON *j, struct shot *s)
{
    s->id = dup_str(r, j, "id", 1);
    if (s->id && !manifest_valid_id(s->id) && r->rc == 0)
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: shot id '%s' is not a valid id", r->name,
                           s->id);
    s->model = dup_str(r, j, "model", 1);
    s->prompt = dup_str(r, j, "prompt", 0);
    s->negative_prompt = dup_str(r, j, "negative_prompt", 0);
    if (!s->negative_prompt && r->rc == 0 && !(s->negative_prompt = strdup("")))
        r->rc = df_err_set(r->err, DF_E_NOMEM, "out of memory");
    s->prompt_embeds = dup_str(r, j, "prompt_embeds", 0);
    s->negative_prompt_embeds = dup_str(r, j, "negative_prompt_embeds", 0);
    s->width = inum(r, j, "width", 1, 1 << 16, 1, 1);
    s->height = inum(r, j, "height", 1, 1 << 16, 1, 1);
    s->frames = inum(r, j, "frames", 1, 1 << 20, 1, 1);
    s->fps = inum(r, j, "fps", 1, 1000, 16, 1);
    s->steps = inum(r, j, "steps", 1, 10000, 1, 1);
    s->guidance_scale = num(r, j, "guidance_scale", 0, 100, 0, 1);
    s->dynamic_cfg = cJSON_IsTrue(item(r, j, "dynamic_cfg", 0));
    s->sampler = (enum sampler_kind)name_of(r, j, "sampler", sampler_of, SAMPLER_KIND_UNIPC);
    s->flow_shift = num(r, j, "flow_shift", 0, 100, 0, 1);
    s->seed = (uint64_t)num(r, j, "seed", 0, 9007199254740991.0, 0, 1);
    s->seed_random = cJSON_IsTrue(item(r, j, "x-seed-drawn", 0));
    read_cache(r, item(r, j, "cache", 1), &s->cache);
    const cJSON *ck = item(r, j, "checkpoint", 1);
    s->checkpoint.every_steps = inum(r, ck, "every_steps", 0, 1 << 30, 0, 1);
    s->checkpoint.every_minutes = num(r, ck, "every_minutes", 0, 1e9, 0, 1);
    s->checkpoint.keep = inum(r, ck, "keep", 1, 1 << 20, 1, 1);
    read_output(r, item(r, j, "output", 1), &s->output);
    s->priority = inum(r, j, "priority", -1000000, 1000000, 0, 0);
    s->after = str_list(r, j, "after", &s->n_after);
    s->notify = str_list(r, j, "notify", &s->n_notify);
    read_resources(r, item(r, j, "resources", 0), &s->resources);
    read_geometry(r, item(r, j, "x-geometry", 1), &s->geom);
}

/* The planned layout, rebuilt (and so checked) from its degrees. */
static void read_layout(struct rd *r, const cJSON *l, struct job_contract *jc)
{
    if (!l || r->rc)
        return;
    struct cluster_shape c = {.use_all = 1};
    int cfg = inum(r, l, "cfg", 1, 2, 1, 1);
    int uly = inum(r, l, "ulysses", 1, LAYOUT_MAX_RANKS, 1, 1);
    int ring = inum(r, l, "ring", 1, LAYOUT_MAX_RANKS, 1, 1);
    int world = inum(r, l, "world", 1, LAYOUT_MAX_RANKS, 1, 1);
    c.nodes = inum(r, l, "nodes", 1, LAYOUT_MAX_NODES, 1, 1);
    c.ranks_per_node = inum(r, l, "ranks_per_node", 1, LAYOUT_MAX_RANKS_PER_NODE, 1, 1);
    const char *dev = str(r, l, "device", 1);
    if (r->rc)
        return;
    if (layout_device_from_name(dev, &c.device, NULL) < 0) {
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: layout.device '%s' is not gpu or cpu",
                           r->name, dev);
        return;
    }
    if (world != cfg * uly * ring) {
        r->rc = df_err_set(r->err, DF_E_INVAL, "%s: layout.world %d != cfg %d x ulysses %d x "
                           "ring %d", r->name, world, cfg, uly, ring);
        return;
    }
    c.cfg_branches = jc->guided ? 2 : 1;
    c.cfg_together = layout_shot_cfg_together(&jc->shot);
    r->rc = layout_make(&jc->shot.geom, &jc->shot.grid, &c, NULL, cfg, uly, ring,
                        c.ranks_per_node, &jc->lay, r->err);
    if (r->rc == 0) {
        jc->planned = 1;
        jc->device = c.device;
    } else {
        df_err_prefix(r->err, "%s: layout", r->name);
    }
}

static void read_contract(struct rd *r, const cJSON *j, struct job_contract *jc)
{
    int version = inum(r, j, "ditfarm_job", 1, 1 << 30, 0, 1);
    if (r->rc == 0 && version > JOB_CONTRACT_VERSION)
        r->rc = df_err_set(r->err, DF_E_UNSUPPORTED,
                           "%s: job format version %d, this worker reads up to %d: update "
                           "ditfarm-worker", r->name, version, JOB_CONTRACT_VERSION);
    jc->version = JOB_CONTRACT_VERSION;
    copy_str(r, item(r, j, "manifest", 1), "name", jc->manifest, sizeof(jc->manifest), 1);
    read_shot(r, item(r, j, "shot", 1), &jc->shot);
    const cJSON *model = item(r, j, "model", 1);
    copy_str(r, model, "dir", jc->shot.geom.path, sizeof(jc->shot.geom.path), 0);
    if (r->rc == 0) {
        struct shot *s = &jc->shot;
        r->rc = model_geom_grid(&s->geom, s->width, s->height, s->frames, &s->grid, r->err);
        if (r->rc < 0)
            df_err_prefix(r->err, "%s", r->name);
    }
    jc->guided = shot_guided(&jc->shot);
    const cJSON *cache = item(r, j, "cache", 0);
    copy_str(r, cache, "configs_dir", jc->configs_dir, sizeof(jc->configs_dir), 0);
    const cJSON *out = item(r, j, "output", 1);
    copy_str(r, out, "path", jc->output, sizeof(jc->output), 1);
    copy_str(r, out, "date", jc->date, sizeof(jc->date), 1);
    copy_str(r, out, "root", jc->output_root, sizeof(jc->output_root), 0);
    copy_str(r, j, "backend", jc->backend, sizeof(jc->backend), 1);
    copy_str(r, j, "job_dir", jc->job_dir, sizeof(jc->job_dir), 0);
    read_layout(r, item(r, j, "layout", 0), jc);
    jc->hash = manifest_shot_hash(&jc->shot);
}

int job_contract_parse(const char *name, const char *text, size_t len, struct job_contract *out,
                       struct df_err *err)
{
    memset(out, 0, sizeof(*out));
    DF_FAIL_IF(len > JOB_CONTRACT_MAX_BYTES, err, DF_E_RANGE, "%s: larger than %u bytes", name,
               JOB_CONTRACT_MAX_BYTES);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    DF_FAIL_IF(!j, err, DF_E_PARSE, "%s: not valid JSON (near byte %ld)", name,
               end ? (long)(end - text) : 0L);
    struct rd r = {.name = name, .err = err};
    if (!cJSON_IsObject(j))
        r.rc = df_err_set(err, DF_E_INVAL, "%s: not a job (expected a JSON object)", name);
    else
        read_contract(&r, j, out);
    cJSON_Delete(j);
    if (r.rc < 0)
        job_contract_free(out);
    return r.rc;
}

int job_contract_read(const char *path, struct job_contract *out, struct df_err *err)
{
    char *text = NULL;
    size_t len = 0;
    memset(out, 0, sizeof(*out));
    DF_TRY(textfile_read(path, JOB_CONTRACT_MAX_BYTES, &text, &len, err));
    int rc = job_contract_parse(path, text, len, out, err);
    free(text);
    return rc;
}

/* ---- resolving ---------------------------------------------------------------- */

void job_contract_keep_seed(const char *job_dir, struct shot *s)
{
    if (!job_dir || !s->seed_random)
        return;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", job_dir, JOB_CONTRACT_FILE);
    struct job_contract old;
    if (job_contract_read(path, &old, NULL) < 0)
        return;
    if (old.shot.seed_random && old.shot.id && strcmp(old.shot.id, s->id) == 0)
        s->seed = old.shot.seed;
    job_contract_free(&old);
}

static void today(char *dst, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(dst, cap, "%Y-%m-%d", &tm);
}

/* 1 when `path` is `dir` or lies below it, compared as strings by whole
 * components (dir without trailing slashes). */
static int below(const char *dir, size_t n, const char *path)
{
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* The root of the ':'-separated list `roots` that the output path lies
 * under, as written or with its links resolved (the form the worker can walk
 * from), into dst; "" when none does (the worker then does no re-check). */
static void pick_root(const char *roots, const char *output, char *dst, size_t cap)
{
    dst[0] = '\0';
    for (const char *p = roots ? roots : ""; *p && !dst[0];) {
        size_t n = strcspn(p, ":");
        char root[PATH_MAX], real[PATH_MAX];
        snprintf(root, sizeof(root), "%.*s", (int)(n < sizeof(root) ? n : 0), p);
        size_t rn = strlen(root);
        while (rn > 1 && root[rn - 1] == '/')
            root[--rn] = '\0';
        if (root[0] == '/' && below(root, rn, output))
            snprintf(dst, cap, "%s", root);
        else if (rn && realpath(root, real) && below(real, strlen(real), output))
            snprintf(dst, cap, "%s", real);
        p += n + (p[n] == ':');
    }
}

int job_contract_resolve(const struct manifest *m, const struct shot *s,
                         const struct job_contract_opts *o, struct job_contract *out,
                         struct df_err *err)
{
    memset(out, 0, sizeof(*out));
    struct job_contract jc = {.version = JOB_CONTRACT_VERSION, .shot = *s};
    job_contract_keep_seed(o->job_dir, &jc.shot);
    snprintf(jc.manifest, sizeof(jc.manifest), "%s", m->name ? m->name : "");
    jc.guided = shot_guided(s);
    /* no backend named: the registry's first for the device planned for */
    snprintf(jc.backend, sizeof(jc.backend), "%s",
             o->backend ? o->backend : backend_desc_default(o->cluster.device));
    if (o->date)
        snprintf(jc.date, sizeof(jc.date), "%s", o->date);
    else
        today(jc.date, sizeof(jc.date));
    snprintf(jc.configs_dir, sizeof(jc.configs_dir), "%s", o->configs_dir ? o->configs_dir : "");
    snprintf(jc.job_dir, sizeof(jc.job_dir), "%s", o->job_dir ? o->job_dir : "");
    int rc = 0;
    if (o->output)
        snprintf(jc.output, sizeof(jc.output), "%s", o->output);
    else
        rc = manifest_output_path(m, &jc.shot, jc.date, jc.output, sizeof(jc.output), err);
    if (rc == 0)
        pick_root(o->output_roots, jc.output, jc.output_root, sizeof(jc.output_root));
    if (rc == 0 && o->cluster.nodes > 0) {
        int n = 0;
        rc = job_contract_plan(&jc.shot, &o->cluster, &jc.lay, 1, &n, err);
        jc.planned = rc == 0;
        jc.device = o->cluster.device;
    }
    jc.hash = manifest_shot_hash(&jc.shot);
    /* jc borrows s's strings: what the worker gets is the JSON, read back */
    cJSON *j = rc == 0 ? job_contract_to_json(&jc) : NULL;
    if (rc == 0 && !j)
        rc = df_err_set(err, DF_E_NOMEM, "out of memory");
    if (rc == 0) {
        struct rd r = {.name = "job", .err = err};
        read_contract(&r, j, out);
        rc = r.rc;
        if (rc < 0)
            job_contract_free(out);
    }
    cJSON_Delete(j);
    if (rc < 0)
        df_err_prefix(err, "shot %s", s->id ? s->id : "?");
    return rc;
}
