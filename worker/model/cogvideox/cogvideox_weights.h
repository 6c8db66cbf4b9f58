/*
 * cogvideox_weights.h -- the CogVideoX DiT parameters, named after the
 * diffusers keys.
 *
 * The one place that knows diffusers' tensor names
 * (`transformer_blocks.3.attn1.to_q.weight`, `norm_out.linear.bias`, ...):
 * cogvideox_weights_foreach() lists every tensor with its expected shape and
 * cogvideox_weights_load() fills the struct below from any tensor source (a
 * safetensors folder, or a generator for tiny demo models).  Matrices become
 * backend weights (kern_weight_create); biases and norm gains are backend
 * buffers.  Optional tensors (biases the config turns off, affine norm
 * parameters when norm_elementwise_affine is false) are NULL.
 */
#ifndef DF_COGVIDEOX_WEIGHTS_H
#define DF_COGVIDEOX_WEIGHTS_H

#include "cogvideox_config.h"
#include "err.h"
#include "kern.h"

#include <stdint.h>

/* Where weights come from: read tensor `name`, which must have exactly
 * shape[ndim], as fp32 into dst.  Returns 0 or a negative code naming the
 * tensor (missing, wrong shape, bad dtype). */
struct cogvideox_tensor_source {
    int (*read)(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                struct df_err *err);
    void *ctx;
};

/* A source over an open struct safetensors (ctx). */
int cogvideox_weights_read_safetensors(void *ctx, const char *name, int ndim,
                                       const int64_t *shape, float *dst, struct df_err *err);

/* y = x·Wᵀ + b (b NULL when the layer has no bias). */
struct cogvideox_linear {
    struct kern_weight *w; /* [out, in] */
    float *b;              /* backend [out] or NULL */
    int out, in;
};

/* A LayerNorm's affine parameters (NULL, NULL without elementwise affine). */
struct cogvideox_norm {
    float *w, *b; /* backend [n] */
};

struct cogvideox_block_weights {
    struct cogvideox_linear norm1_linear; /* norm1.linear [6*dim, time_embed_dim] */
    struct cogvideox_norm norm1;          /* norm1.norm [dim] */
    struct cogvideox_linear to_q;         /* attn1.to_q [dim, dim] (bias: attention_bias) */
    struct cogvideox_linear to_k;         /* attn1.to_k */
    struct cogvideox_linear to_v;         /* attn1.to_v */
    struct cogvideox_norm norm_q;         /* attn1.norm_q [head_dim] (always affine) */
    struct cogvideox_norm norm_k;         /* attn1.norm_k [head_dim] */
    struct cogvideox_linear to_out;       /* attn1.to_out.0 [dim, dim] */
    struct cogvideox_linear norm2_linear; /* norm2.linear [6*dim, time_embed_dim] */
    struct cogvideox_norm norm2;          /* norm2.norm [dim] */
    struct cogvideox_linear ff_in;        /* ff.net.0.proj [4*dim, dim] */
    struct cogvideox_linear ff_out;       /* ff.net.2 [dim, 4*dim] */
};

struct cogvideox_weights {
    struct cogvideox_linear patch_proj;   /* patch_embed.proj [dim, C*pt*p*p] (Conv2d viewed as one) */
    struct cogvideox_linear text_proj;    /* patch_embed.text_proj [dim, text_dim] */
    struct cogvideox_linear time_1;       /* time_embedding.linear_1 [te, dim] */
    struct cogvideox_linear time_2;       /* time_embedding.linear_2 [te, te] */
    struct cogvideox_linear ofs_1;        /* ofs_embedding.linear_1 [te, te] (ofs models) */
    struct cogvideox_linear ofs_2;        /* ofs_embedding.linear_2 [te, te] */
    struct cogvideox_block_weights *blocks; /* [num_layers] */
    int num_layers;
    struct cogvideox_norm norm_final;     /* norm_final [dim] */
    struct cogvideox_linear norm_out_linear; /* norm_out.linear [2*dim, te]: shift, scale */
    struct cogvideox_norm norm_out;       /* norm_out.norm [dim] */
    struct cogvideox_linear proj_out;     /* proj_out [pt*p*p*C_out, dim] */
};

/* Call fn for every tensor of the model, in a fixed order.  Stops at and
 * returns the first negative return of fn; else 0. */
int cogvideox_weights_foreach(const struct cogvideox_config *c,
                              int (*fn)(const char *name, int ndim, const int64_t *shape,
                                        void *ctx),
                              void *ctx);

/* Load every tensor through src.  Returns 0 and sets *out, or the source's
 * error (names the tensor), DF_E_NOMEM.  Free with cogvideox_weights_free(). */
int cogvideox_weights_load(kern_backend_t be, const struct cogvideox_config *c,
                           const struct cogvideox_tensor_source *src,
                           struct cogvideox_weights **out, struct df_err *err);

/* Release the backend weights and buffers.  Accepts NULL. */
void cogvideox_weights_free(kern_backend_t be, struct cogvideox_weights *w);

#endif /* DF_COGVIDEOX_WEIGHTS_H */
