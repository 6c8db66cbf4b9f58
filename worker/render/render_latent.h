/*
 * render_latent.h -- the latent of one shot on one rank (an object of the
 * render, with create/free): this rank's token-major shard that the sampler
 * steps through the whole loop (latent_shard.h), the canonical [C, T, H, W]
 * staging buffers the model reads and writes, the velocity rows of each
 * guidance branch, and the buffer every rank's rows are gathered into.
 *
 *     struct render_latent *lat;
 *     render_latent_create(&dims, tok_begin, tok_count, seed, &lat, &err);
 *     ... lat->shard [shard_n] is this rank's part of the seeded noise ...
 *     render_latent_free(lat);
 */
#ifndef DF_RENDER_LATENT_H
#define DF_RENDER_LATENT_H

#include "err.h"
#include "latent_shard.h"

#include <stddef.h>
#include <stdint.h>

struct render_latent {
    struct latent_dims dims;         /* canonical latent and patch */
    int64_t tok_begin, tok_count;    /* this rank's tokens */
    size_t n;                        /* C·T·H·W */
    size_t shard_n;                  /* tok_count · row floats */
    float *shard;                    /* [shard_n] this rank's latent rows */
    float *stage;                    /* [n] canonical staging latent (model input) */
    float *out_full;                 /* [n] canonical model output */
    float *vel_cond, *vel_uncond;    /* [shard_n] each branch's velocity rows */
    float *vel;                      /* [shard_n] the guided velocity */
    float *all_rows;                 /* [n] token-major rows of every token (gathers) */
};

/* Allocate for dims and this rank's tokens, and fill the shard with this
 * rank's part of noise_fill(seed) over the canonical layout (the noise never
 * depends on the sharding).  Returns 0 and *out, or DF_E_NOMEM naming the
 * buffer. */
int render_latent_create(const struct latent_dims *dims, int64_t tok_begin, int64_t tok_count,
                         uint64_t seed, struct render_latent **out, struct df_err *err);
void render_latent_free(struct render_latent *l);

#endif /* DF_RENDER_LATENT_H */
