/*
 * kern.h -- the op interface the Wan model is written against.
 *
 * A backend ("cpu": C + OpenBLAS, "cuda": cuBLAS + our kernels) owns the
 * memory that activations live in and runs the handful of ops a video DiT
 * forward needs: linear, norms, RoPE, attention with a log-sum-exp output
 * (so partial results over key shards can be merged, ring-attention style),
 * elementwise helpers and the patch embedding's im2col, plus the VAE
 * decoder's conv helpers (causal im2col, nearest 2x up-sampling, strided 2D
 * copy).  Model code sees only the opaque handle and these calls; the op
 * table behind them lives in kern_impl.h.  All tensors are fp32, row-major
 * and token-major.
 *
 *     kern_backend_t be;
 *     if (kern_backend_create("cpu", 0, &be, &err) < 0) ...
 *     float *x = kern_alloc(be, (size_t)S * dim, &err);
 *     kern_upload(be, x, host_x, (size_t)S * dim, &err);
 *     struct kern_weight *wq;
 *     kern_weight_create(be, host_wq, dim, dim, &wq, &err);   // [out, in]
 *     kern_linear(be, x, wq, bq, q, S, dim, dim, &err);        // q = x·Wqᵀ + bq
 *     kern_attention(be, q, k, v, o, lse, S, S, H, D, S, 1/sqrtf(D), &err);
 *     kern_download(be, host_o, o, (size_t)S * dim, &err);
 *     kern_weight_free(be, wq); kern_release(be, x); kern_backend_free(be);
 *
 * Ordering: ops on one backend run in call order.  The CUDA backend queues
 * them on one stream; kern_download() and kern_sync() wait for the queue, so
 * a host pointer handed to kern_download() is valid when it returns.
 * Pointers passed to ops must come from kern_alloc() of the same backend
 * (on "cpu" any host pointer works).  Every op returns 0 or a negative DF_E_*
 * code with a message naming the op and the bad argument in err; on error
 * the output buffers hold unspecified values.  A backend that lacks an op
 * returns DF_E_UNSUPPORTED.
 *
 * Threads: a backend handle is not thread-safe; use one per thread.  The CPU
 * backend runs every op, GEMMs included, on its own pthread pool and keeps
 * OpenBLAS at one thread (set process-wide at create), so the pool and
 * OpenBLAS never compete for the cores.
 *
 * What a backend is (memory space, device selection, weight storage) comes
 * from its line in lib/backend_desc.c (kern_backend_desc()); code never
 * compares backend names.
 */
#ifndef DF_KERN_H
#define DF_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "backend_desc.h"
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Backends
 * ------------------------------------------------------------------------- */

typedef struct kern_backend *kern_backend_t;

/* Open backend `name` ("cpu" or "cuda").  n_threads: CPU worker threads
 * (0 = all online cores); ignored by "cuda", which uses the current CUDA
 * device.  Returns 0 and sets *out, or DF_E_UNSUPPORTED (unknown name,
 * backend not compiled in, no CUDA device), DF_E_NOMEM. */
int kern_backend_create(const char *name, int n_threads, kern_backend_t *out, struct df_err *err);

/* The same on a given device: "cuda" makes device % (devices visible) current
 * first (a rank passes its local rank so ranks sharing a node spread over its
 * GPUs); -1 keeps the current device; "cpu" ignores it.  Returns as
 * kern_backend_create, or DF_E_UNSUPPORTED when the device cannot be used. */
int kern_backend_create_on(const char *name, int n_threads, int device, kern_backend_t *out,
                           struct df_err *err);

/* What a backend is (lib/backend_desc.h: memory space of its buffers,
 * device selection, weight storage); never NULL for a live handle.  Code
 * that must treat backends differently asks this, never the name. */
const struct backend_desc *kern_backend_desc(kern_backend_t be);

/* 1 when backend `name` is compiled into this build (it may still find no
 * device when opened). */
int kern_backend_compiled(const char *name);

/* Free the backend and its pool/stream/handles.  Accepts NULL.  Buffers and
 * weights must have been released first. */
void kern_backend_free(kern_backend_t be);

/* "cpu" or "cuda"; never NULL ("(null)" for a NULL handle). */
const char *kern_backend_name(kern_backend_t be);

/* Wait until every queued op has finished.  Returns 0 or DF_E_INTERNAL
 * (asynchronous device error, message says which). */
int kern_sync(kern_backend_t be, struct df_err *err);

/* ---------------------------------------------------------------------------
 * Memory: fp32 activation buffers owned by the backend
 * ------------------------------------------------------------------------- */

/* Allocate n_floats floats (uninitialized, 64-byte aligned).  Returns the
 * buffer, or NULL with DF_E_NOMEM / DF_E_INVAL (n_floats == 0) in err.
 * Free with kern_release(). */
float *kern_alloc(kern_backend_t be, size_t n_floats, struct df_err *err);

/* Release a buffer from kern_alloc().  Accepts NULL. */
void kern_release(kern_backend_t be, void *p);

/* Copy n floats host -> backend buffer.  Returns 0 or a negative code. */
int kern_upload(kern_backend_t be, float *dst_dev, const float *src_host, size_t n,
                struct df_err *err);

/* Copy n floats backend buffer -> host; returns after the data is on the
 * host (waits for queued ops).  Returns 0 or a negative code. */
int kern_download(kern_backend_t be, float *dst_host, const float *src_dev, size_t n,
                  struct df_err *err);

/* Copy n floats between two backend buffers (may not overlap).  Returns 0 or
 * a negative code. */
int kern_copy(kern_backend_t be, float *dst, const float *src, size_t n, struct df_err *err);

/* Set n floats of a backend buffer to 0.0f.  Returns 0 or a negative code. */
int kern_zero(kern_backend_t be, float *dst, size_t n, struct df_err *err);

/* ---------------------------------------------------------------------------
 * Weights: linear-layer matrices in the backend's preferred storage
 * ------------------------------------------------------------------------- */

struct kern_weight; /* opaque: fp32 on "cpu", bf16 on "cuda" */

/* Make a weight from host fp32 `host` [rows, cols] row-major (torch
 * nn.Linear layout: rows = out_features, cols = in_features).  The backend
 * copies the data; the caller may free `host` on return.  Returns 0 and sets
 * *out, or DF_E_INVAL (rows/cols <= 0), DF_E_NOMEM. */
int kern_weight_create(kern_backend_t be, const float *host, int rows, int cols,
                       struct kern_weight **out, struct df_err *err);

/* Free a weight from kern_weight_create().  Accepts NULL. */
void kern_weight_free(kern_backend_t be, struct kern_weight *w);

/* Overwrite w's values with host bf16 values of its shape (little-endian
 * uint16 [rows, cols], row-major: straight from a mapped safetensors file),
 * so one weight buffer streams many matrices of that shape without an
 * allocation or an fp32 copy of each (the T5 encoder's path).  Refuses
 * non-finite values, as the safetensors reader does.  Returns 0, DF_E_INVAL
 * (NULL, a NaN/Inf: the message gives its index), DF_E_UNSUPPORTED (backend
 * without the slot: the caller converts and uses kern_weight_create). */
int kern_weight_load_bf16(kern_backend_t be, struct kern_weight *w, const uint16_t *host,
                          struct df_err *err);

/* ---------------------------------------------------------------------------
 * Dense ops
 * ------------------------------------------------------------------------- */

/* y[M,N] = x[M,K] · wᵀ + bias, w being [N,K] (nn.Linear), bias [N] or NULL.
 * x and y must not overlap.  Returns 0, DF_E_INVAL (shape disagrees with w:
 * w->rows != N or w->cols != K, or a dimension <= 0). */
int kern_linear(kern_backend_t be, const float *x, const struct kern_weight *w, const float *bias,
                float *y, int M, int K, int N, struct df_err *err);

/* y = gelu_tanh(x·Wᵀ + bias): kern_linear then kern_gelu_tanh, fused into
 * the GEMM's epilogue where the backend can ("cuda": cuBLASLt GELU_BIAS).
 * Same arguments and codes as kern_linear. */
int kern_linear_gelu(kern_backend_t be, const float *x, const struct kern_weight *w,
                     const float *bias, float *y, int M, int K, int N, struct df_err *err);

/* ---------------------------------------------------------------------------
 * Norms (one row = one token; fp32 statistics)
 * ------------------------------------------------------------------------- */

/* y = (x - mean) / sqrt(var + eps) * gamma + beta per row of `dim` floats
 * (biased variance, like torch).  gamma/beta [dim] or NULL (NULL gamma = 1,
 * NULL beta = 0).  y may equal x.  Returns 0 or DF_E_INVAL. */
int kern_layernorm(kern_backend_t be, const float *x, float *y, int rows, int dim, float eps,
                   const float *gamma, const float *beta, struct df_err *err);

/* y = x / sqrt(mean(x²) + eps) * gamma per row; gamma [dim] or NULL.  Wan's
 * q/k norm is over the whole H*D row (pass dim = H*D).  y may equal x.
 * Returns 0 or DF_E_INVAL. */
int kern_rmsnorm(kern_backend_t be, const float *x, float *y, int rows, int dim, float eps,
                 const float *gamma, struct df_err *err);

/* y = LN(x)·(1 + scale) + shift per row: LayerNorm without affine (fp32
 * statistics, as kern_layernorm) then adaLN modulation (as kern_modulate),
 * one pass where the backend fuses it.  scale, shift [dim].  y may equal x.
 * Returns 0 or DF_E_INVAL. */
int kern_norm_modulate(kern_backend_t be, const float *x, float *y, int rows, int dim, float eps,
                       const float *scale, const float *shift, struct df_err *err);

/* ---------------------------------------------------------------------------
 * Rotary embedding
 * ------------------------------------------------------------------------- */

/* In place on x [S, H, D]: for each token s, head h and pair i < D/2,
 *   (a, b) = (x[s,h,2i], x[s,h,2i+1])
 *   x[s,h,2i]   = a·cos[s,i] − b·sin[s,i]
 *   x[s,h,2i+1] = a·sin[s,i] + b·cos[s,i]
 * (interleaved pairs, diffusers Wan convention).  cos/sin are [S, D/2]; the
 * model builds them from each token's global (t, h, w) position.  Returns 0
 * or DF_E_INVAL (D odd). */
int kern_rope(kern_backend_t be, float *x, int S, int H, int D, const float *cos, const float *sin,
              struct df_err *err);

/* Wan's q/k path in place on x [S, H, D]: RMSNorm over the whole H·D row
 * with gamma [H·D] (or NULL), then kern_rope with cos/sin [S, D/2]; one pass
 * where the backend fuses it.  Returns 0 or DF_E_INVAL (D odd). */
int kern_qk_norm_rope(kern_backend_t be, float *x, int S, int H, int D, float eps,
                      const float *gamma, const float *cos, const float *sin,
                      struct df_err *err);

/* ---------------------------------------------------------------------------
 * Attention
 * ------------------------------------------------------------------------- */

/* Non-causal multi-head attention, per head h:
 *   o[:,h,:] = softmax(q[:,h,:] · k[:sk_valid,h,:]ᵀ · scale) · v[:sk_valid,h,:]
 * q, o [Sq, H, D]; k, v [Sk, H, D] (the layout kern_linear produces, no
 * transposes).  Keys at index >= sk_valid are padding and ignored
 * (sk_valid = Sk when none).  lse [H, Sq] or NULL receives the natural-log
 * sum of exp of the scaled scores of each row, for kern_attention_merge().
 * Sq may differ from Sk (cross-attention to text).  o must not overlap
 * q/k/v.  Returns 0, DF_E_INVAL (sk_valid outside [1, Sk], bad sizes),
 * DF_E_NOMEM (CPU score scratch: (Mb + 2·D)·sk_valid floats per thread),
 * DF_E_UNSUPPORTED ("cuda" with D > 512). */
int kern_attention(kern_backend_t be, const float *q, const float *k, const float *v, float *o,
                   float *lse, int Sq, int Sk, int H, int D, int sk_valid, float scale,
                   struct df_err *err);

/* Merge a second partial attention result (same queries, other keys) into
 * (o, lse):  lse' = log(e^lse + e^lse2),
 *            o'   = e^(lse − lse')·o + e^(lse2 − lse')·o2,
 * computed stably (max-subtracted).  o, o2 [Sq, H, D]; lse, lse2 [H, Sq].
 * An lse of -INFINITY (no keys) is allowed on either side.  Returns 0 or
 * DF_E_INVAL. */
int kern_attention_merge(kern_backend_t be, float *o, float *lse, const float *o2,
                         const float *lse2, int Sq, int H, int D, struct df_err *err);

/* Attention with a relative-position bias (T5 / umT5 self-attention), per
 * head h and query i:
 *   o[i,h,:] = softmax_j(q[i,h,:] · k[j,h,:] · scale + rel_bias[h, j − i + Sq − 1]) · v[j,h,:]
 * over all Sk keys.  q, o [Sq, H, D]; k, v [Sk, H, D]; rel_bias [H, Sq + Sk − 1]
 * holds one value per head and distance j − i, so a T5 bias table costs
 * H·(Sq + Sk) floats instead of H·Sq·Sk.  Padding is not masked here: T5
 * runs each prompt on its real tokens only.  o must not overlap q/k/v.
 * Returns 0, DF_E_INVAL (NULL pointer, bad sizes), DF_E_NOMEM (CPU scratch),
 * DF_E_UNSUPPORTED (backend without the op). */
int kern_attention_relbias(kern_backend_t be, const float *q, const float *k, const float *v,
                           float *o, int Sq, int Sk, int H, int D, float scale,
                           const float *rel_bias, struct df_err *err);

/* ---------------------------------------------------------------------------
 * Elementwise (y may equal x in each)
 * ------------------------------------------------------------------------- */

/* y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))  (gelu, approximate="tanh"). */
int kern_gelu_tanh(kern_backend_t be, const float *x, float *y, size_t n, struct df_err *err);

/* y = x·sigmoid(x). */
int kern_silu(kern_backend_t be, const float *x, float *y, size_t n, struct df_err *err);

/* y[r,:] = x[r,:]·(1 + scale) + shift; scale, shift [dim] (adaLN modulation). */
int kern_modulate(kern_backend_t be, const float *x, float *y, int rows, int dim,
                  const float *scale, const float *shift, struct df_err *err);

/* x[r,:] += gate · y[r,:]; gate [dim] (gated residual). */
int kern_gated_add(kern_backend_t be, float *x, const float *y, const float *gate, int rows,
                   int dim, struct df_err *err);

/* x += y over n floats. */
int kern_add(kern_backend_t be, float *x, const float *y, size_t n, struct df_err *err);

/* y += a·x over n floats. */
int kern_scale_add(kern_backend_t be, float *y, const float *x, float a, size_t n,
                   struct df_err *err);

/* All elementwise ops return 0 or DF_E_INVAL (NULL pointer, bad size). */

/* ---------------------------------------------------------------------------
 * Patch embedding (Conv3d with stride = kernel = patch, as im2col + linear)
 * ------------------------------------------------------------------------- */

/* Tokens of latent [C, T, H, W] cut in (pt, ph, pw) patches: Tp = T/pt,
 * Hp = H/ph, Wp = W/pw, token j = (f·Hp + y)·Wp + x (t-major, then h, then w).
 * Writes rows [tok_begin, tok_begin + tok_count) into cols
 * [tok_count, C·pt·ph·pw] with column ((c·pt + kt)·ph + kh)·pw + kw holding
 *   latent[c, f·pt + kt, y·ph + kh, x·pw + kw]
 * i.e. the torch Conv3d weight [out, C, pt, ph, pw] flattened, so the patch
 * embedding is kern_linear(cols, conv_weight viewed as [out, C·pt·ph·pw]).
 * Returns 0, DF_E_INVAL (T/H/W not divisible by the patch, range outside
 * [0, Tp·Hp·Wp]). */
int kern_patchify(kern_backend_t be, const float *latent, float *cols, int C, int T, int H, int W,
                  int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count, struct df_err *err);

/* Inverse for the model's output head (diffusers WanTransformer3DModel: the
 * proj_out row of a token is reshaped to (pt, ph, pw, C) and permuted back):
 * token row j of `tokens` [tok_count, pt·ph·pw·C], column
 * ((kt·ph + kh)·pw + kw)·C + c, is written to
 *   latent[c, f·pt + kt, y·ph + kh, x·pw + kw]   for global token
 * tok_begin + j = (f·Hp + y)·Wp + x.  Latent positions of other tokens are
 * left untouched, so ranks can fill disjoint ranges of one latent.  Note the
 * column order differs from kern_patchify() (channel last here).
 * Returns 0 or DF_E_INVAL as kern_patchify(). */
int kern_unpatchify(kern_backend_t be, const float *tokens, float *latent, int C, int T, int H,
                    int W, int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count,
                    struct df_err *err);

/* ---------------------------------------------------------------------------
 * Convolution helpers (the VAE decoder: causal Conv3d as im2col + linear,
 * over channel-last frames [H·W, C])
 * ------------------------------------------------------------------------- */

#define KERN_IM2COL_MAX_KT 8 /* most input frames one im2col reads */

/* im2col of a causal 3D convolution, output rows [y0, y1) of one output
 * frame.  frames[dt], dt < kt, is input frame dt of the temporal window: a
 * backend buffer [H·W, C], or NULL for a zero frame (the causal padding);
 * the `frames` array itself is host memory.  Spatial zero padding is kh/2,
 * kw/2 (odd kernels keep the size).  cols is [(y1−y0)·W, C·kt·kh·kw]: row
 * (y−y0)·W + x, column ((c·kt + dt)·kh + dy)·kw + dx holds
 *   frames[dt][((y + dy − kh/2)·W + x + dx − kw/2)·C + c]   (0 outside)
 * i.e. the torch Conv3d weight [out, C, kt, kh, kw] flattened, so the conv
 * is kern_linear(cols, weight viewed as [out, C·kt·kh·kw]).  Returns 0 or
 * DF_E_INVAL (kt outside [1, KERN_IM2COL_MAX_KT], even kh or kw, bad sizes,
 * rows outside [0, H]). */
int kern_im2col_causal(kern_backend_t be, const float *const *frames, int kt, int H, int W, int C,
                       int kh, int kw, int y0, int y1, float *cols, struct df_err *err);

/* Nearest 2× spatial up-sampling of channel-last frames: x [frames, H, W, C]
 * -> y [frames, 2H, 2W, C], y[f, i, j, c] = x[f, i/2, j/2, c].  x and y must
 * not overlap.  Returns 0 or DF_E_INVAL. */
int kern_upsample2x(kern_backend_t be, const float *x, float *y, int frames, int H, int W, int C,
                    struct df_err *err);

/* Strided 2D copy of rows × cols floats: dst[r·dst_ld + c] = src[r·src_ld + c]
 * (cudaMemcpy2D's shape; splits column blocks such as q/k/v out of a fused
 * projection, or interleaves them).  Both ld >= cols; the regions must not
 * overlap.  Returns 0 or DF_E_INVAL. */
int kern_copy_2d(kern_backend_t be, float *dst, size_t dst_ld, const float *src, size_t src_ld,
                 size_t rows, size_t cols, struct df_err *err);

#ifdef __cplusplus
}
#endif

#endif /* DF_KERN_H */
