/*
 * wan_weights.h -- the Wan2.1 DiT parameters, named after the diffusers keys.
 *
 * This is the one place that knows diffusers' tensor names
 * (`blocks.3.attn1.to_q.weight`, `condition_embedder.time_proj.bias`, ...):
 * wan_weights_foreach() lists every tensor with its expected shape, and
 * wan_weights_load() fills the struct below from any tensor source (a
 * safetensors model folder, or a deterministic generator for the demo model
 * and the benchmarks).  Linear matrices become backend weights
 * (kern_weight_create: fp32 on CPU, bf16 on CUDA); biases and norm gains are
 * fp32 backend buffers; the scale_shift_tables stay on the host because the
 * model adds them to the timestep projection on the host once per forward.
 *
 *     struct wan_tensor_source src = {wan_weights_read_safetensors, st};
 *     struct wan_weights *w;
 *     if (wan_weights_load(be, &cfg, &src, &w, &err) < 0) ...
 *     ...
 *     wan_weights_free(be, w);
 */
#ifndef DF_WAN_WEIGHTS_H
#define DF_WAN_WEIGHTS_H

#include "err.h"
#include "kern.h"
#include "wan_config.h"

#include <stdint.h>

/* Where weights come from: read tensor `name`, which must have exactly
 * shape[ndim], as fp32 into dst.  Returns 0 or a negative code with a
 * message naming the tensor (missing, wrong shape, bad dtype). */
struct wan_tensor_source {
    int (*read)(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                struct df_err *err);
    void *ctx;
};

/* A wan_tensor_source over an open struct safetensors (ctx). */
int wan_weights_read_safetensors(void *ctx, const char *name, int ndim, const int64_t *shape,
                                 float *dst, struct df_err *err);

/* y = x·Wᵀ + b: an nn.Linear (or the Conv3d patch embedding viewed as one). */
struct wan_linear {
    struct kern_weight *w; /* [out, in] */
    float *b;              /* backend [out] */
    int out, in;
};

struct wan_block_weights {
    float *scale_shift_table;       /* host [6, dim]: shift, scale, gate (msa), c_shift, c_scale, c_gate */
    struct wan_linear attn1_to_q;   /* [dim, dim] */
    struct wan_linear attn1_to_k;   /* [dim, dim] */
    struct wan_linear attn1_to_v;   /* [dim, dim] */
    struct wan_linear attn1_to_out; /* to_out.0 [dim, dim] */
    float *attn1_norm_q;            /* backend [dim]: RMSNorm over all heads */
    float *attn1_norm_k;            /* backend [dim] */
    float *norm2_weight;            /* backend [dim], NULL when cross_attn_norm is false */
    float *norm2_bias;              /* backend [dim], NULL likewise */
    struct wan_linear attn2_to_q;   /* [dim, dim] */
    struct wan_linear attn2_to_k;   /* [dim, dim]: applied to the embedded text */
    struct wan_linear attn2_to_v;   /* [dim, dim] */
    struct wan_linear attn2_to_out; /* [dim, dim] */
    float *attn2_norm_q;            /* backend [dim] */
    float *attn2_norm_k;            /* backend [dim] */
    struct wan_linear ffn_in;       /* ffn.net.0.proj [ffn_dim, dim] */
    struct wan_linear ffn_out;      /* ffn.net.2 [dim, ffn_dim] */
};

struct wan_weights {
    struct wan_linear patch_embedding; /* [dim, C_in*pt*ph*pw] (Conv3d weight flattened) */
    struct wan_linear time_linear_1;   /* condition_embedder.time_embedder.linear_1 [dim, freq_dim] */
    struct wan_linear time_linear_2;   /* condition_embedder.time_embedder.linear_2 [dim, dim] */
    struct wan_linear time_proj;       /* condition_embedder.time_proj [6*dim, dim] */
    struct wan_linear text_linear_1;   /* condition_embedder.text_embedder.linear_1 [dim, text_dim] */
    struct wan_linear text_linear_2;   /* condition_embedder.text_embedder.linear_2 [dim, dim] */
    struct wan_block_weights *blocks;  /* [num_layers] */
    int num_layers;
    float *scale_shift_table;          /* host [2, dim]: shift, scale of the output norm */
    struct wan_linear proj_out;        /* [C_out*pt*ph*pw, dim] */
};

/* Call fn(name, ndim, shape, ctx) for every tensor of the model, in a fixed
 * order.  Stops at and returns the first negative return of fn; else 0. */
int wan_weights_foreach(const struct wan_config *c,
                        int (*fn)(const char *name, int ndim, const int64_t *shape, void *ctx),
                        void *ctx);

/* Load every tensor through src.  Returns 0 and sets *out, or the source's
 * error (names the tensor), DF_E_NOMEM.  Free with wan_weights_free(). */
int wan_weights_load(kern_backend_t be, const struct wan_config *c,
                     const struct wan_tensor_source *src, struct wan_weights **out,
                     struct df_err *err);

/* Release the backend weights and buffers.  Accepts NULL. */
void wan_weights_free(kern_backend_t be, struct wan_weights *w);

#endif /* DF_WAN_WEIGHTS_H */
