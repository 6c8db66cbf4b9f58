/* config_json.c -- diffusers config.json files (see config_json.h). */
#include "config_json.h"
#include "ckd.h"
#include "textfile.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int config_json_open(const char *path, struct config_json *out, struct df_err *err)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->path, sizeof(out->path), "%s", path);
    char *text = NULL;
    size_t len = 0;
    DF_TRY(textfile_read(path, CONFIG_JSON_MAX_BYTES, &text, &len, err));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        /* hand-written files: say where the syntax breaks */
        long off = end && end >= text ? (long)(end - text) : -1, line = 1, col = 1;
        for (long i = 0; i < off && (size_t)i < len; i++) {
            if (text[i] == '\n')
                line++, col = 1;
            else
                col++;
        }
        free(text);
        return df_err_set(err, DF_E_PARSE, "%s: not a JSON object (syntax error at %s:%ld:%ld)",
                          path, path, line, col);
    }
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return df_err_set(err, DF_E_PARSE, "%s: not a JSON object", path);
    }
    out->root = root;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "_class_name");
    if (cJSON_IsString(cls))
        snprintf(out->class_name, sizeof(out->class_name), "%s", cls->valuestring);
    return 0;
}

void config_json_close(struct config_json *cj)
{
    if (!cj)
        return;
    cJSON_Delete(cj->root);
    cj->root = NULL;
}

int config_json_class_of(const char *dir, char *dst, size_t cap, struct df_err *err)
{
    char path[PATH_MAX];
    DF_FAIL_IF((size_t)snprintf(path, sizeof(path), "%s/config.json", dir) >= sizeof(path), err,
               DF_E_RANGE, "%s: path too long", dir);
    struct config_json cj;
    DF_TRY(config_json_open(path, &cj, err));
    int rc = 0;
    if (!cj.class_name[0])
        rc = df_err_set(err, DF_E_PARSE, "%s: no string key '_class_name'", path);
    else
        snprintf(dst, cap, "%s", cj.class_name);
    config_json_close(&cj);
    return rc;
}

const struct cJSON *config_json_get(const struct config_json *cj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cj->root, key);
    return cJSON_IsNull(v) ? NULL : v;
}

int config_json_int(const struct config_json *cj, const char *key, int def, int lo, int hi,
                    int *out, struct df_err *err)
{
    const cJSON *v = config_json_get(cj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    DF_FAIL_IF(!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
                   fabs(v->valuedouble) > 2e9,
               err, DF_E_PARSE, "%s: key '%s' must be an integer", cj->path, key);
    DF_FAIL_IF(v->valuedouble < lo || v->valuedouble > hi, err, DF_E_RANGE,
               "%s: key '%s' = %.0f must be in [%d, %d]", cj->path, key, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

int config_json_int_null(const struct config_json *cj, const char *key, int def, int null_ok,
                         int null_value, int *out, struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cj->root, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (cJSON_IsNull(v) && null_ok) {
        *out = null_value;
        return 0;
    }
    DF_FAIL_IF(!cJSON_IsNumber(v) || ckd_double_to_int(v->valuedouble, -1000000000, 1000000000, out),
               err, DF_E_PARSE, "%s: key '%s' must be an integer", cj->path, key);
    return 0;
}

int config_json_double(const struct config_json *cj, const char *key, double def, double lo,
                       double hi, double *out, struct df_err *err)
{
    const cJSON *v = config_json_get(cj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    DF_FAIL_IF(!cJSON_IsNumber(v), err, DF_E_PARSE, "%s: key '%s' must be a number", cj->path,
               key);
    DF_FAIL_IF(!(v->valuedouble >= lo && v->valuedouble <= hi), err, DF_E_RANGE,
               "%s: key '%s' = %g must be in [%g, %g]", cj->path, key, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return 0;
}

int config_json_bool(const struct config_json *cj, const char *key, int def, int *out,
                     struct df_err *err)
{
    const cJSON *v = config_json_get(cj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    DF_FAIL_IF(!cJSON_IsBool(v), err, DF_E_PARSE, "%s: key '%s' must be true or false", cj->path,
               key);
    *out = cJSON_IsTrue(v);
    return 0;
}
