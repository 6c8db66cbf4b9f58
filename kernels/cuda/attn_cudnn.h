/* attn_cudnn.h -- attention through cuDNN's fused SDPA (flash attention) on
 * the graph backend API: bf16 Q/K/V/O in the [S, H, D] token-major layout
 * (strided views, no transposes), fp32 softmax statistics (natural-log
 * sum-exp per query and head, [H, Sq]: exactly kern_attention's lse).
 * Built only with DITFARM_HAVE_CUDNN; otherwise open answers NULL and the
 * backend keeps its own kernel.  Plain C (cudnn_graph.h is a C header). */
#ifndef DF_ATTN_CUDNN_H
#define DF_ATTN_CUDNN_H

#include <cuda_runtime_api.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "err.h" /* no C++ guard of its own */

struct cudnn_attn;

/* A cuDNN handle on `stream` and an empty plan cache, or NULL when cuDNN is
 * not compiled in, fails to start, or DITFARM_CUDA_ATTN=own asks for our
 * kernel (read once here). */
struct cudnn_attn *attn_cudnn_open(cudaStream_t stream);

/* Accepts NULL. */
void attn_cudnn_free(struct cudnn_attn *a);

/* Whether cuDNN's SDPA can take head dim D at all (multiple of 8, <= 256). */
int attn_cudnn_takes(int D);

/* o = softmax(q·kᵀ·scale)·v per head on device bf16 buffers q, o [Sq, H, D]
 * and k, v [Skv, H, D] (all keys valid); lse [H, Sq] fp32 or NULL.  The
 * first call of a shape builds and caches its plan (graph, heuristics,
 * execution plan, workspace), so later calls allocate nothing.  Returns 0,
 * DF_E_UNSUPPORTED (no cuDNN engine for this shape: the caller runs its own
 * kernel; remembered, so the graph is not rebuilt), DF_E_NOMEM (workspace),
 * DF_E_INTERNAL (execution failed). */
int attn_cudnn_run(struct cudnn_attn *a, const void *q, const void *k, const void *v, void *o,
                   float *lse, int Sq, int Skv, int H, int D, float scale, struct df_err *err);

#ifdef __cplusplus
}
#endif

#endif
