/*
 * config_json.h -- the one reader of diffusers config.json files
 * (transformer/, vae/, text_encoder/): reads the file under one size cap,
 * parses it, knows its `_class_name`, and has typed getters whose messages
 * name the file and the key.  Model geometry (model_geom.c), the families'
 * configs, the VAE, the family registry and `ditfarm-worker forward` read
 * config.json through it.
 *
 *     struct config_json cj;
 *     if (config_json_open("m/transformer/config.json", &cj, &err) < 0) ...
 *     int layers;
 *     if (config_json_int(&cj, "num_layers", 40, 1, 1 << 20, &layers, &err) < 0) ...
 *     config_json_close(&cj);
 */
#ifndef DF_CONFIG_JSON_H
#define DF_CONFIG_JSON_H

#include "err.h"

#include <limits.h>
#include <stddef.h>

struct cJSON;

/* config.json files larger than this are refused before parsing */
#define CONFIG_JSON_MAX_BYTES ((size_t)1 << 24)

struct config_json {
    char path[PATH_MAX];
    struct cJSON *root;    /* a JSON object */
    char class_name[128];  /* `_class_name`, "" when absent */
};

/* Read and parse `path`.  Returns 0 and *out (config_json_close), or
 * DF_E_NOTFOUND/DF_E_IO/DF_E_RANGE (file), DF_E_PARSE ("<path>: not a JSON
 * object", for bad JSON too, then with the "<path>:<line>:<col>" where the
 * syntax breaks). */
int config_json_open(const char *path, struct config_json *out, struct df_err *err);
void config_json_close(struct config_json *cj);

/* `_class_name` of <dir>/config.json into dst[cap].  DF_E_PARSE when it has
 * none ("<path>: no string key '_class_name'"), else as config_json_open. */
int config_json_class_of(const char *dir, char *dst, size_t cap, struct df_err *err);

/* The value at `key`, or NULL when absent (or null). */
const struct cJSON *config_json_get(const struct config_json *cj, const char *key);

/* An integer: absent or null -> def; not an integer -> DF_E_PARSE "<path>:
 * key 'K' must be an integer"; outside [lo, hi] -> DF_E_RANGE "<path>: key
 * 'K' = V must be in [lo, hi]". */
int config_json_int(const struct config_json *cj, const char *key, int def, int lo, int hi,
                    int *out, struct df_err *err);
/* An integer in [-1e9, 1e9] where JSON null means something of its own
 * (diffusers' `out_channels=None`): absent -> def; null -> null_value when
 * null_ok, else DF_E_PARSE like any non-integer.  The model families'
 * config parsers use it and check ranges themselves afterwards. */
int config_json_int_null(const struct config_json *cj, const char *key, int def, int null_ok,
                         int null_value, int *out, struct df_err *err);
/* A number (absent or null -> def), the same way. */
int config_json_double(const struct config_json *cj, const char *key, double def, double lo,
                       double hi, double *out, struct df_err *err);
/* true/false (absent or null -> def); anything else is DF_E_PARSE. */
int config_json_bool(const struct config_json *cj, const char *key, int def, int *out,
                     struct df_err *err);

#endif /* DF_CONFIG_JSON_H */
