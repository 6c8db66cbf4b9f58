/*
 * stepcache_calib.c -- calibration files of the step caches (stepcache.h).
 *
 * JSON, format "ditfarm-stepcache/1" (keys never renamed; new ones may appear):
 *
 *   format     "ditfarm-stepcache/1"
 *   model      model name ("wan2.1-t2v-14b", "tiny")
 *   source     one line: where the numbers come from
 *   teacache   {e: [c0..c4], e0: [c0..c4]}  input rel-L1 -> output rel-L1,
 *              numpy poly1d order; either key may be absent
 *   setup      {sampler, steps, shift}: what the tables below were fitted on
 *              (absent in a model-level file without per-step tables)
 *   prompttea  {fit: {intercept, weights[12]}, cfg_table: [steps numbers],
 *               thresh_lo, thresh_hi, k,
 *               references: {dim, simple: PATH, complex: PATH}}  all optional;
 *              PATHs relative to the file's directory
 *   provenance free-form object (calibration command, prompts, fit errors)
 *
 * Lookup order and refusals: stepcache_calib_resolve in stepcache.h.
 */
#include "stepcache.h"
#include "textfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- numbers ------------------------------------------------------------- */

double stepcache_poly_eval(const double c[STEPCACHE_POLY_TERMS], double x)
{
    double y = 0.0;
    for (int i = 0; i < STEPCACHE_POLY_TERMS; i++)
        y = y * x + c[i];
    return y;
}

void stepcache_fit_features(double x, double t, double phi[STEPCACHE_FIT_TERMS])
{
    const double f[STEPCACHE_FIT_TERMS] = {
        1.0,       x,         t,         x * x,     t * t,         x * t,
        x * x * x, t * t * t, x * x * t, x * t * t, x * x * x * x, t * t * t * t};
    memcpy(phi, f, sizeof f);
}

double stepcache_fit_eval(double b, const double w[STEPCACHE_FIT_TERMS], double x, int step)
{
    double phi[STEPCACHE_FIT_TERMS];
    stepcache_fit_features(x, (double)step, phi);
    double y = b;
    for (int k = 0; k < STEPCACHE_FIT_TERMS; k++)
        y += w[k] * phi[k];
    return y;
}

/* ---- reading ------------------------------------------------------------- */

void stepcache_calib_clear(struct stepcache_calib *c)
{
    if (!c)
        return;
    free(c->cfg_table);
    memset(c, 0, sizeof *c);
}

static int read_text(const char *path, char **out, size_t *out_len, struct df_err *err)
{
    return textfile_read(path, (size_t)64 << 20, out, out_len, err);
}

/* Exactly n numbers from array `key` of obj into dst. */
static int get_numbers(const cJSON *obj, const char *key, const char *where, double *dst, int n,
                       struct df_err *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    DF_FAIL_IF(!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n, err, DF_E_PARSE,
               "%s%s%s must be an array of %d numbers", where, *where ? "." : "", key, n);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a)
    {
        DF_FAIL_IF(!cJSON_IsNumber(v), err, DF_E_PARSE, "%s%s%s[%d] is not a number", where,
                   *where ? "." : "", key, i);
        dst[i++] = v->valuedouble;
    }
    return 0;
}

static int get_number(const cJSON *obj, const char *key, const char *where, double *dst,
                      int required, struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v && !required)
        return 0;
    DF_FAIL_IF(!cJSON_IsNumber(v), err, DF_E_PARSE, "%s%s%s must be a number", where,
               *where ? "." : "", key);
    *dst = v->valuedouble;
    return 0;
}

static int get_string(const cJSON *obj, const char *key, const char *where, char *dst, size_t cap,
                      int required, struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v && !required)
        return 0;
    DF_FAIL_IF(!cJSON_IsString(v), err, DF_E_PARSE, "%s%s%s must be a string", where,
               *where ? "." : "", key);
    DF_FAIL_IF(strlen(v->valuestring) >= cap, err, DF_E_PARSE, "%s%s%s is too long", where,
               *where ? "." : "", key);
    snprintf(dst, cap, "%s", v->valuestring);
    return 0;
}

/* dir of path + "/" + rel (rel kept when absolute). */
static int resolve_path(const char *file, const char *rel, char *dst, size_t cap,
                        struct df_err *err)
{
    if (rel[0] == '/') {
        DF_FAIL_IF((size_t)snprintf(dst, cap, "%s", rel) >= cap, err, DF_E_PARSE, "path too long");
        return 0;
    }
    const char *slash = strrchr(file, '/');
    int dl = slash ? (int)(slash - file) : 1;
    DF_FAIL_IF((size_t)snprintf(dst, cap, "%.*s/%s", dl, slash ? file : ".", rel) >= cap, err,
               DF_E_PARSE, "path too long");
    return 0;
}

static int parse_prompttea(const cJSON *p, const char *path, struct stepcache_calib *c,
                           struct df_err *err)
{
    const cJSON *fit = cJSON_GetObjectItemCaseSensitive(p, "fit");
    if (fit) {
        DF_TRY(get_number(fit, "intercept", "prompttea.fit", &c->fit_b, 1, err));
        DF_TRY(get_numbers(fit, "weights", "prompttea.fit", c->fit_w, STEPCACHE_FIT_TERMS, err));
        c->has_fit = 1;
    }
    const cJSON *tab = cJSON_GetObjectItemCaseSensitive(p, "cfg_table");
    if (tab) {
        DF_FAIL_IF(c->steps <= 0, err, DF_E_PARSE,
                   "prompttea.cfg_table needs setup.steps (the step count it was fitted for)");
        c->cfg_table = malloc((size_t)c->steps * sizeof(double));
        DF_FAIL_IF(!c->cfg_table, err, DF_E_NOMEM, "out of memory");
        DF_TRY(get_numbers(p, "cfg_table", "prompttea", c->cfg_table, c->steps, err));
    }
    DF_TRY(get_number(p, "thresh_lo", "prompttea", &c->thresh_lo, 0, err));
    DF_TRY(get_number(p, "thresh_hi", "prompttea", &c->thresh_hi, 0, err));
    DF_TRY(get_number(p, "k", "prompttea", &c->k, 0, err));
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(p, "references");
    if (refs) {
        double dim = 0;
        char s[4096] = "", cx[4096] = "";
        DF_TRY(get_number(refs, "dim", "prompttea.references", &dim, 1, err));
        DF_TRY(get_string(refs, "simple", "prompttea.references", s, sizeof s, 1, err));
        DF_TRY(get_string(refs, "complex", "prompttea.references", cx, sizeof cx, 1, err));
        DF_FAIL_IF(dim < 1 || dim > 1 << 20, err, DF_E_PARSE, "prompttea.references.dim %g", dim);
        c->ref_dim = (int)dim;
        DF_TRY(resolve_path(path, s, c->ref_simple, sizeof c->ref_simple, err));
        DF_TRY(resolve_path(path, cx, c->ref_complex, sizeof c->ref_complex, err));
    }
    return 0;
}

static int parse_calib(const cJSON *root, const char *path, struct stepcache_calib *c,
                       struct df_err *err)
{
    char fmt[64] = "";
    DF_FAIL_IF(!cJSON_IsObject(root), err, DF_E_PARSE, "not a JSON object");
    DF_TRY(get_string(root, "format", "", fmt, sizeof fmt, 1, err));
    DF_FAIL_IF(strcmp(fmt, STEPCACHE_CALIB_FORMAT) != 0, err, DF_E_PARSE,
               "format is '%s', expected '%s'", fmt, STEPCACHE_CALIB_FORMAT);
    DF_TRY(get_string(root, "model", "", c->model, sizeof c->model, 1, err));
    DF_TRY(get_string(root, "source", "", c->source, sizeof c->source, 0, err));
    const cJSON *tea = cJSON_GetObjectItemCaseSensitive(root, "teacache");
    for (int m = 0; tea && m < CACHE_MODE_COUNT; m++) {
        if (!cJSON_GetObjectItemCaseSensitive(tea, cache_mode_name(m)))
            continue;
        DF_TRY(get_numbers(tea, cache_mode_name(m), "teacache", c->poly[m], STEPCACHE_POLY_TERMS,
                           err));
        c->has_poly[m] = 1;
    }
    const cJSON *setup = cJSON_GetObjectItemCaseSensitive(root, "setup");
    if (setup) {
        double steps = 0;
        DF_TRY(get_string(setup, "sampler", "setup", c->sampler, sizeof c->sampler, 1, err));
        DF_TRY(get_number(setup, "steps", "setup", &steps, 1, err));
        DF_TRY(get_number(setup, "shift", "setup", &c->shift, 0, err));
        DF_FAIL_IF(steps < 1 || steps > STEPCACHE_MAX_STEPS || steps != (int)steps, err, DF_E_PARSE,
                   "setup.steps %g is not an integer in [1, %d]", steps, STEPCACHE_MAX_STEPS);
        c->steps = (int)steps;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompttea");
    if (p)
        DF_TRY(parse_prompttea(p, path, c, err));
    return 0;
}

int stepcache_calib_parse(const char *text, size_t len, const char *path,
                          struct stepcache_calib *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return df_err_set(err, DF_E_PARSE, "%s: not valid JSON", path);
    snprintf(out->path, sizeof out->path, "%s", path);
    int rc = parse_calib(root, path, out, err);
    cJSON_Delete(root);
    if (rc < 0) {
        df_err_prefix(err, "%s", path);
        stepcache_calib_clear(out);
    }
    return rc;
}

int stepcache_calib_load(const char *path, struct stepcache_calib *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    char *text = NULL;
    size_t len = 0;
    DF_TRY(read_text(path, &text, &len, err));
    int rc = stepcache_calib_parse(text, len, path, out, err);
    free(text);
    return rc;
}

/* ---- writing ------------------------------------------------------------- */

static cJSON *numbers(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *calib_json(const struct stepcache_calib *c, const cJSON *provenance)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", STEPCACHE_CALIB_FORMAT);
    cJSON_AddStringToObject(o, "model", c->model);
    cJSON_AddStringToObject(o, "source", c->source);
    cJSON *tea = cJSON_AddObjectToObject(o, "teacache");
    for (int m = 0; m < CACHE_MODE_COUNT; m++)
        if (c->has_poly[m])
            cJSON_AddItemToObject(tea, cache_mode_name(m),
                                  numbers(c->poly[m], STEPCACHE_POLY_TERMS));
    if (c->steps > 0) {
        cJSON *s = cJSON_AddObjectToObject(o, "setup");
        cJSON_AddStringToObject(s, "sampler", c->sampler);
        cJSON_AddNumberToObject(s, "steps", c->steps);
        cJSON_AddNumberToObject(s, "shift", c->shift);
    }
    if (c->has_fit || c->cfg_table) {
        cJSON *p = cJSON_AddObjectToObject(o, "prompttea");
        if (c->has_fit) {
            cJSON *f = cJSON_AddObjectToObject(p, "fit");
            cJSON_AddNumberToObject(f, "intercept", c->fit_b);
            cJSON_AddItemToObject(f, "weights", numbers(c->fit_w, STEPCACHE_FIT_TERMS));
        }
        if (c->cfg_table)
            cJSON_AddItemToObject(p, "cfg_table", numbers(c->cfg_table, c->steps));
    }
    if (provenance)
        cJSON_AddItemToObject(o, "provenance", cJSON_Duplicate(provenance, 1));
    return o;
}

int stepcache_calib_save(const char *path, const struct stepcache_calib *c,
                         const struct cJSON *provenance, struct df_err *err)
{
    cJSON *o = calib_json(c, provenance);
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    DF_FAIL_IF(!text, err, DF_E_NOMEM, "%s: out of memory", path);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.part", path);
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f) {
        rc = df_err_errno(err, DF_E_IO, "cannot create %s", tmp);
    } else {
        int bad = fputs(text, f) < 0 || fputc('\n', f) < 0;
        bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
        if (bad || rename(tmp, path) != 0) {
            rc = df_err_errno(err, DF_E_IO, "cannot write %s", path);
            unlink(tmp);
        }
    }
    free(text);
    return rc;
}

/* ---- lookup and checks ---------------------------------------------------- */

int stepcache_calib_check(const struct stepcache_calib *c, const struct shot_cache *policy,
                          const char *sampler, int steps, struct df_err *err)
{
    const char *file = c->path[0] ? c->path : "the calibration";
    if (policy->policy == CACHE_POLICY_OFF)
        return 0;
    if (policy->policy == CACHE_POLICY_TEACACHE) {
        DF_FAIL_IF(!c->has_poly[policy->mode], err, DF_E_UNSUPPORTED,
                   "teacache: %s has no polynomial for mode %s", file,
                   cache_mode_name(policy->mode));
        return 0;
    }
    /* prompttea: per-step tables, only for their own setup */
    const int need_cfg = policy->cfg_threshold > 0;
    DF_FAIL_IF(c->steps <= 0 || !c->has_fit || (need_cfg && !c->cfg_table), err, DF_E_UNSUPPORTED,
               "prompttea: %s has no step model%s for %s with %d steps; run `ditfarm-worker "
               "calibrate` for this setup or use cache policy teacache",
               file, need_cfg ? " and CFG table" : "", sampler, steps);
    DF_FAIL_IF(c->steps != steps || strcmp(c->sampler, sampler) != 0, err, DF_E_UNSUPPORTED,
               "prompttea: %s is calibrated for %s with %d steps, the shot asks for %s with %d "
               "steps; run `ditfarm-worker calibrate` for this setup or use cache policy "
               "teacache",
               file, c->sampler, c->steps, sampler, steps);
    return 0;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int stepcache_calib_resolve(const char *configs_dir, const char *model,
                            const struct shot_cache *policy, const char *sampler, int steps,
                            struct stepcache_calib *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    if (policy->policy == CACHE_POLICY_OFF)
        return 0;
    char setup[4096], level[4096];
    snprintf(setup, sizeof setup, "%s/models/%s/stepcache-%s-%d.json", configs_dir, model, sampler,
             steps);
    snprintf(level, sizeof level, "%s/models/%s.stepcache.json", configs_dir, model);
    const char *path = exists(setup) ? setup : exists(level) ? level : NULL;
    DF_FAIL_IF(!path, err, DF_E_NOTFOUND,
               "%s: no step-cache calibration for model '%s' (tried %s and %s); run "
               "`ditfarm-worker calibrate` or set cache policy off",
               cache_policy_name(policy->policy), model, setup, level);
    DF_TRY(stepcache_calib_load(path, out, err));
    int rc = stepcache_calib_check(out, policy, sampler, steps, err);
    if (rc < 0)
        stepcache_calib_clear(out);
    return rc;
}
