/*
 * kern_cpu.h -- internals shared by the CPU backend's files (kernels/cpu/).
 *
 * The backend context owns the worker pool and a grow-only scratch buffer
 * (attention score blocks).  Every op function below matches its slot in
 * struct kern_backend_i with `void *ctx` being a struct cpu_ctx; arguments
 * were checked by the front end (kern.c).
 */
#ifndef DF_KERN_CPU_H
#define DF_KERN_CPU_H

#include "kern_impl.h"
#include "pool_cpu.h"

struct cpu_ctx {
    struct pool_cpu *pool; /* n_threads workers, caller included */
    float *scratch;        /* attention score blocks, 64-byte aligned */
    size_t scratch_cap;    /* floats in scratch */
};

/* Make sure ctx->scratch holds n floats.  Returns 0 or DF_E_NOMEM. */
int cpu_scratch_reserve(struct cpu_ctx *ctx, size_t n, struct df_err *err);

/* Elementwise work below this many floats runs on one thread: a wake-up
 * would cost more than it saves. */
#define CPU_ELEM_GRAIN ((size_t)1 << 15)

/* linear_cpu.c */
int linear_cpu(void *ctx, const float *x, const struct kern_weight *w, const float *bias, float *y,
               int M, int K, int N, struct df_err *err);

/* norm_cpu.c */
int norm_cpu_layer(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                   const float *gamma, const float *beta, struct df_err *err);
int norm_cpu_rms(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                 const float *gamma, struct df_err *err);

/* rope_cpu.c */
int rope_cpu(void *ctx, float *x, int S, int H, int D, const float *cos, const float *sin,
             struct df_err *err);

/* attn_cpu.c */
int attn_cpu(void *ctx, const float *q, const float *k, const float *v, float *o, float *lse,
             int Sq, int Sk, int H, int D, int sk_valid, float scale, struct df_err *err);
int attn_cpu_relbias(void *ctx, const float *q, const float *k, const float *v, float *o, int Sq,
                     int Sk, int H, int D, float scale, const float *rel_bias, struct df_err *err);
/* merge_cpu.c */
int merge_cpu(void *ctx, float *o, float *lse, const float *o2, const float *lse2, int Sq, int H,
              int D, struct df_err *err);

/* elem_cpu.c */
int elem_cpu_gelu_tanh(void *ctx, const float *x, float *y, size_t n, struct df_err *err);
int elem_cpu_silu(void *ctx, const float *x, float *y, size_t n, struct df_err *err);
int elem_cpu_modulate(void *ctx, const float *x, float *y, int rows, int dim, const float *scale,
                      const float *shift, struct df_err *err);
int elem_cpu_gated_add(void *ctx, float *x, const float *y, const float *gate, int rows, int dim,
                       struct df_err *err);
int elem_cpu_add(void *ctx, float *x, const float *y, size_t n, struct df_err *err);
int elem_cpu_scale_add(void *ctx, float *y, const float *x, float a, size_t n, struct df_err *err);

/* patch_cpu.c */
int patch_cpu_patchify(void *ctx, const float *latent, float *cols, int C, int T, int H, int W,
                       int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count,
                       struct df_err *err);
int patch_cpu_unpatchify(void *ctx, const float *tokens, float *latent, int C, int T, int H, int W,
                         int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count,
                         struct df_err *err);

/* conv_cpu.c */
int conv_cpu_im2col_causal(void *ctx, const float *const *frames, int kt, int H, int W, int C,
                           int kh, int kw, int y0, int y1, float *cols, struct df_err *err);
int conv_cpu_upsample2x(void *ctx, const float *x, float *y, int frames, int H, int W, int C,
                        struct df_err *err);
int conv_cpu_copy_2d(void *ctx, float *dst, size_t dst_ld, const float *src, size_t src_ld,
                     size_t rows, size_t cols, struct df_err *err);

#endif
