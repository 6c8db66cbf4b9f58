/* render_latent.c -- one rank's latent buffers (see render_latent.h). */
#include "render_latent.h"
#include "noise.h"

#include <stdlib.h>

static float *alloc_floats(size_t n, const char *what, struct df_err *err)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        df_err_set(err, DF_E_NOMEM, "out of memory for %s (%zu floats)", what, n);
    return p;
}

int render_latent_create(const struct latent_dims *dims, int64_t tok_begin, int64_t tok_count,
                         uint64_t seed, struct render_latent **out, struct df_err *err)
{
    *out = NULL;
    struct render_latent *l = calloc(1, sizeof(*l));
    DF_FAIL_IF(!l, err, DF_E_NOMEM, "out of memory");
    l->dims = *dims;
    l->tok_begin = tok_begin;
    l->tok_count = tok_count;
    l->n = (size_t)dims->C * dims->T * dims->H * dims->W;
    l->shard_n = (size_t)(tok_count * latent_row_size(dims));
    if (!(l->stage = alloc_floats(l->n, "the latent", err)) ||
        !(l->out_full = alloc_floats(l->n, "the model output", err)) ||
        !(l->shard = alloc_floats(l->shard_n, "the latent shard", err)) ||
        !(l->vel_cond = alloc_floats(l->shard_n, "velocities", err)) ||
        !(l->vel_uncond = alloc_floats(l->shard_n, "velocities", err)) ||
        !(l->vel = alloc_floats(l->shard_n, "velocities", err)) ||
        /* every token's row: text tokens too when they lead the sequence */
        !(l->all_rows = alloc_floats((size_t)(latent_tokens(dims) * latent_row_size(dims)),
                                     "the gathered latent", err))) {
        render_latent_free(l);
        return DF_E_NOMEM;
    }
    /* The noise is defined on the canonical layout, whatever the sharding. */
    noise_fill(seed, 0, l->n, l->stage);
    latent_to_rows(dims, l->stage, tok_begin, tok_count, l->shard);
    *out = l;
    return 0;
}

void render_latent_free(struct render_latent *l)
{
    if (!l)
        return;
    free(l->shard);
    free(l->stage);
    free(l->out_full);
    free(l->vel_cond);
    free(l->vel_uncond);
    free(l->vel);
    free(l->all_rows);
    free(l);
}
