/*
 * kern_impl.h -- the op table behind kern.h (internal to kernels/).
 *
 * A backend is a table of function pointers plus a context pointer.  Each
 * backend fills its table with designated initializers, listing every slot
 * (NULL ones too) so it is plain what it leaves out.  The front end
 * (kern.c) has already checked the handle, NULL pointers and sizes before a
 * slot is called, so slots only check what is specific to them.  A NULL op
 * slot makes the front end return DF_E_UNSUPPORTED; a NULL `sync` means
 * "ops are synchronous".  Every op slot returns 0 or a negative DF_E_* code
 * and fills err.
 *
 * This header is C and is included by the CUDA backend's .cu files too.
 */
#ifndef DF_KERN_IMPL_H
#define DF_KERN_IMPL_H

#include "kern.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KERN_BACKEND_MAGIC 0x6b65726eu /* "kern": checked on every front-end call */
#define KERN_WEIGHT_MAGIC 0x77676874u  /* "wght" */

/* A weight as the front end sees it; `data` is the backend's storage. */
struct kern_weight {
    uint32_t magic; /* KERN_WEIGHT_MAGIC while alive */
    int rows;       /* out_features (N) */
    int cols;       /* in_features (K) */
    void *data;     /* backend-owned: fp32 [rows, cols] on cpu, bf16 on cuda */
};

struct kern_backend_i {
    const char *name; /* "cpu", "cuda" */

    /* lifetime and queue */
    void (*free)(void *ctx);                    /* release ctx (pool, stream, handles) */
    int (*sync)(void *ctx, struct df_err *err); /* wait for queued ops (optional) */

    /* memory */
    float *(*alloc)(void *ctx, size_t n, struct df_err *err); /* n floats, 64-byte aligned */
    void (*release)(void *ctx, void *p);                      /* p != NULL */
    int (*upload)(void *ctx, float *dst, const float *src, size_t n, struct df_err *err);
    int (*download)(void *ctx, float *dst, const float *src, size_t n, struct df_err *err);
    int (*copy)(void *ctx, float *dst, const float *src, size_t n, struct df_err *err);
    int (*zero)(void *ctx, float *dst, size_t n, struct df_err *err);

    /* weights: fill w->data from host fp32 [w->rows, w->cols]; free it */
    int (*weight_init)(void *ctx, struct kern_weight *w, const float *host, struct df_err *err);
    void (*weight_fini)(void *ctx, struct kern_weight *w);
    int (*weight_load_bf16)(void *ctx, struct kern_weight *w, const uint16_t *host,
                            struct df_err *err); /* overwrite from bf16 (optional) */

    /* dense and norms */
    int (*linear)(void *ctx, const float *x, const struct kern_weight *w, const float *bias,
                  float *y, int M, int K, int N, struct df_err *err);
    int (*layernorm)(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                     const float *gamma, const float *beta, struct df_err *err);
    int (*rmsnorm)(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                   const float *gamma, struct df_err *err);
    int (*rope)(void *ctx, float *x, int S, int H, int D, const float *cos, const float *sin,
                struct df_err *err);

    /* fused forms (optional: a NULL slot makes kern.c compose the plain ops) */
    int (*linear_gelu)(void *ctx, const float *x, const struct kern_weight *w, const float *bias,
                       float *y, int M, int K, int N, struct df_err *err);
    int (*norm_modulate)(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                         const float *scale, const float *shift, struct df_err *err);
    int (*qk_norm_rope)(void *ctx, float *x, int S, int H, int D, float eps, const float *gamma,
                        const float *cos, const float *sin, struct df_err *err);

    /* attention with LSE, and the merge of two partial results */
    int (*attention)(void *ctx, const float *q, const float *k, const float *v, float *o,
                     float *lse, int Sq, int Sk, int H, int D, int sk_valid, float scale,
                     struct df_err *err);
    int (*attention_merge)(void *ctx, float *o, float *lse, const float *o2, const float *lse2,
                           int Sq, int H, int D, struct df_err *err);
    int (*attention_relbias)(void *ctx, const float *q, const float *k, const float *v, float *o,
                             int Sq, int Sk, int H, int D, float scale, const float *rel_bias,
                             struct df_err *err); /* T5 (optional) */

    /* elementwise */
    int (*gelu_tanh)(void *ctx, const float *x, float *y, size_t n, struct df_err *err);
    int (*silu)(void *ctx, const float *x, float *y, size_t n, struct df_err *err);
    int (*modulate)(void *ctx, const float *x, float *y, int rows, int dim, const float *scale,
                    const float *shift, struct df_err *err);
    int (*gated_add)(void *ctx, float *x, const float *y, const float *gate, int rows, int dim,
                     struct df_err *err);
    int (*add)(void *ctx, float *x, const float *y, size_t n, struct df_err *err);
    int (*scale_add)(void *ctx, float *y, const float *x, float a, size_t n, struct df_err *err);

    /* patch embedding im2col and the output head's inverse (geometry checked) */
    int (*patchify)(void *ctx, const float *latent, float *cols, int C, int T, int H, int W, int pt,
                    int ph, int pw, int64_t tok_begin, int64_t tok_count, struct df_err *err);
    int (*unpatchify)(void *ctx, const float *tokens, float *latent, int C, int T, int H, int W,
                      int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count,
                      struct df_err *err);

    /* convolution helpers (the VAE decoder; geometry checked) */
    int (*im2col_causal)(void *ctx, const float *const *frames, int kt, int H, int W, int C, int kh,
                         int kw, int y0, int y1, float *cols, struct df_err *err);
    int (*upsample2x)(void *ctx, const float *x, float *y, int frames, int H, int W, int C,
                      struct df_err *err);
    int (*copy_2d)(void *ctx, float *dst, size_t dst_ld, const float *src, size_t src_ld,
                   size_t rows, size_t cols, struct df_err *err);
};

struct kern_backend {
    uint32_t magic;                     /* KERN_BACKEND_MAGIC while alive */
    const struct kern_backend_i *iface; /* static table of the backend */
    void *ctx;                          /* backend state, freed by iface->free */
};

/* Backend constructors: fill *iface and *ctx.  n_threads and device as in
 * kern_backend_create_on().  Return 0 or a negative code. */
int kern_cpu_open(int n_threads, int device, const struct kern_backend_i **iface, void **ctx,
                  struct df_err *err);
#ifdef DITFARM_HAVE_CUDA
int kern_cuda_open(int n_threads, int device, const struct kern_backend_i **iface, void **ctx,
                   struct df_err *err);
#endif

#ifdef __cplusplus
}
#endif

#endif /* DF_KERN_IMPL_H */
