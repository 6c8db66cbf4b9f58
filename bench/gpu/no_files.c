/*
 * no_files.c -- the file loaders of the Wan model, answered "unsupported" in
 * the device-check build.
 *
 * The check builds the model from generated weights (wan_synth.h) and never
 * reads a folder; the real loaders (safetensors.c, wan_config.c) parse JSON
 * with cJSON, a Debian -dev package a bare lent GPU machine does not have.
 * These definitions satisfy the linker for the few calls wan_model.c,
 * wan_weights.c and wan_synth.c make into them and fail clearly if reached.
 */
#include "safetensors.h"
#include "wan_config.h"

#define NO_FILES(what)                                                                             \
    df_err_set(err, DF_E_UNSUPPORTED, "%s: the device-check build reads no files", what)

int wan_config_load(const char *path, struct wan_config *out, struct df_err *err)
{
    (void)out;
    return NO_FILES(path);
}

int wan_config_check_weights(const struct wan_config *c, const struct safetensors *st,
                             struct df_err *err)
{
    (void)c, (void)st;
    return NO_FILES("wan_config_check_weights");
}

int safetensors_open_model(const char *dir, const char *stem, struct safetensors **out,
                           struct df_err *err)
{
    (void)stem;
    *out = NULL;
    return NO_FILES(dir);
}

void safetensors_close(struct safetensors *st)
{
    (void)st;
}

int safetensors_read_f32(const struct safetensors *st, const char *name, int ndim,
                         const int64_t *shape, float *dst, struct df_err *err)
{
    (void)st, (void)ndim, (void)shape, (void)dst;
    return NO_FILES(name);
}

int safetensors_write(const char *path, const struct safetensors_entry *entries, int n,
                      const char *const *meta, int n_meta, struct df_err *err)
{
    (void)entries, (void)n, (void)meta, (void)n_meta;
    return NO_FILES(path);
}
