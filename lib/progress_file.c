/* progress_file.c -- progress.json, written and read (see progress_file.h). */
#include "progress_file.h"
#include "jsonfile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

double progress_file_hit_rate(const struct progress_file *p)
{
    int64_t all = p->cache_computed + p->cache_skipped;
    return all > 0 ? (double)p->cache_skipped / (double)all : -1;
}

int progress_file_write(const char *path, const struct progress_file *p, struct df_err *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "progress_version", PROGRESS_FILE_VERSION);
    cJSON_AddStringToObject(o, "shot", p->shot);
    cJSON_AddStringToObject(o, "state", p->state);
    cJSON_AddNumberToObject(o, "step", p->step);
    cJSON_AddNumberToObject(o, "steps", p->steps);
    cJSON_AddNumberToObject(o, "seconds_per_step", p->seconds_per_step);
    cJSON_AddNumberToObject(o, "eta_s", p->eta_s);
    cJSON *c = cJSON_AddObjectToObject(o, "cache");
    cJSON_AddNumberToObject(c, "computed", (double)p->cache_computed);
    cJSON_AddNumberToObject(c, "skipped", (double)p->cache_skipped);
    cJSON_AddNumberToObject(c, "hit_rate", progress_file_hit_rate(p));
    cJSON_AddNumberToObject(o, "last_checkpoint_step", p->last_ckpt_step);
    cJSON *u = cJSON_AddNumberToObject(o, "updated", (double)p->updated);
    int rc = u ? jsonfile_write(path, o, err)
               : df_err_set(err, DF_E_NOMEM, "out of memory writing %s", path);
    cJSON_Delete(o);
    return rc;
}

static double num(const cJSON *o, const char *k, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static void str(const cJSON *o, const char *k, char *dst, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

void progress_file_fmt_duration(double s, char *buf, size_t cap)
{
    if (!(s >= 0))
        snprintf(buf, cap, "?");
    else if (s < 10)
        snprintf(buf, cap, "%.3fs", s);
    else if (s < 60)
        snprintf(buf, cap, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else if (s < 1e9)
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)s % 3600 / 60);
    else
        snprintf(buf, cap, "a long time");
}

static int from_json(const char *path, const cJSON *j, struct progress_file *p,
                     struct df_err *err)
{
    int rc = 0;
    if (!cJSON_IsObject(j) || num(j, "progress_version", 0) < 1) {
        rc = df_err_set(err, DF_E_INVAL, "%s: not a progress file", path);
    } else {
        str(j, "shot", p->shot, sizeof(p->shot));
        str(j, "state", p->state, sizeof(p->state));
        double step = num(j, "step", 0), steps = num(j, "steps", 0);
        if (steps >= 1 && steps <= 1e6 && step >= 0 && step <= steps)
            p->step = (int)step, p->steps = (int)steps;
        p->seconds_per_step = num(j, "seconds_per_step", -1);
        p->eta_s = num(j, "eta_s", -1);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "cache");
        double cc = num(c, "computed", 0), cs = num(c, "skipped", 0);
        p->cache_computed = cc >= 0 && cc < 1e15 ? (int64_t)cc : 0;
        p->cache_skipped = cs >= 0 && cs < 1e15 ? (int64_t)cs : 0;
        double lc = num(j, "last_checkpoint_step", 0);
        p->last_ckpt_step = lc >= 0 && lc <= 1e6 ? (int)lc : 0;
        double up = num(j, "updated", 0);
        p->updated = up >= 0 && up < 1e15 ? (int64_t)up : 0;
    }
    return rc;
}

int progress_file_parse(const char *name, const char *text, size_t len, struct progress_file *p,
                        struct df_err *err)
{
    memset(p, 0, sizeof(*p));
    p->seconds_per_step = p->eta_s = -1;
    cJSON *j = cJSON_ParseWithLength(text, len);
    DF_FAIL_IF(!j, err, DF_E_PARSE, "%s: not valid JSON", name);
    int rc = from_json(name, j, p, err);
    cJSON_Delete(j);
    return rc;
}

int progress_file_read(const char *path, struct progress_file *p, struct df_err *err)
{
    memset(p, 0, sizeof(*p));
    p->seconds_per_step = p->eta_s = -1;
    cJSON *j = NULL;
    DF_TRY(jsonfile_read(path, 1u << 20, &j, err));
    int rc = from_json(path, j, p, err);
    cJSON_Delete(j);
    return rc;
}
