/* wan_synth.c -- synthetic Wan2.1 DiT weights (wan_synth.h). */
#include "wan_synth.h"

#include "noise.h"
#include "safetensors.h"
#include "wan_config.h"
#include "wan_weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int wan_synth_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                   struct df_err *err)
{
    (void)err;
    const struct wan_synth *ws = ctx;
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= shape[i];
    noise_fill(fnv1a(name) ^ ws->seed, 0, (size_t)numel, dst);
    double base = 0.0, scale;
    if (ends_with(name, "scale_shift_table"))
        scale = 1.0 / sqrt((double)shape[ndim - 1]);
    else if (ndim == 1 && strstr(name, "norm") && ends_with(name, ".weight"))
        base = 1.0, scale = 0.1;
    else if (ndim == 1)
        scale = 0.02;
    else
        scale = 1.0 / sqrt((double)(numel / shape[0]));
    for (int64_t i = 0; i < numel; i++)
        dst[i] = (float)(base + scale * dst[i]);
    return 0;
}

struct collect {
    struct safetensors_entry *e;
    char (*names)[128];
    int n, cap;
    struct wan_synth ws;
};

static int collect_one(const char *name, int ndim, const int64_t *shape, void *ctx)
{
    struct collect *c = ctx;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        void *e = realloc(c->e, (size_t)cap * sizeof *c->e);
        if (!e)
            return DF_E_NOMEM;
        c->e = e;
        void *nm = realloc(c->names, (size_t)cap * sizeof *c->names);
        if (!nm)
            return DF_E_NOMEM;
        c->names = nm;
        c->cap = cap;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= shape[i];
    float *d = malloc((size_t)numel * sizeof *d);
    if (!d)
        return DF_E_NOMEM;
    wan_synth_read(&c->ws, name, ndim, shape, d, NULL);
    struct safetensors_entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    snprintf(c->names[c->n], sizeof c->names[0], "%s", name);
    e->dtype = SAFETENSORS_DTYPE_F32;
    e->ndim = ndim;
    memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
    e->data = d;
    c->n++;
    return 0;
}

int wan_synth_write(const char *dir, uint64_t seed, struct df_err *err)
{
    char path[4096];
    DF_FAIL_IF((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path, err,
               DF_E_INVAL, "%s: path too long", dir);
    struct wan_config cfg;
    DF_TRY(wan_config_load(path, &cfg, err));
    struct collect c = {.ws = {seed}};
    int rc = wan_weights_foreach(&cfg, collect_one, &c);
    if (rc < 0) {
        df_err_set(err, rc, "%s: out of memory generating weights", dir);
    } else {
        for (int i = 0; i < c.n; i++) /* names array is stable now */
            c.e[i].name = c.names[i];
        snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
        char seed_text[32];
        snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)seed);
        const char *meta[] = {"format", "pt", "generator", "ditfarm wan_synth", "seed", seed_text};
        rc = safetensors_write(path, c.e, c.n, meta, 3, err);
    }
    for (int i = 0; i < c.n; i++)
        free((void *)c.e[i].data);
    free(c.e);
    free(c.names);
    return rc;
}
