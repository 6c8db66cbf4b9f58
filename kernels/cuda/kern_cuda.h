/*
 * kern_cuda.h -- internals shared by the CUDA backend's files (C and CUDA).
 *
 * backend_cuda.c (plain C: the op table, memory, weights) calls the op
 * entry points declared in the per-op .cuh headers below; each lives in its
 * .cu file next to its kernels.  All work is queued on the context's one
 * stream, so ops run in call order; the entry points never synchronize
 * (kern_download / kern_sync do).  Arguments were checked by kern.c.
 */
#ifndef DF_KERN_CUDA_H
#define DF_KERN_CUDA_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kern_impl.h" /* C headers (err.h has no C++ guard of its own) */

/* One cached cuBLASLt plan: the algorithm the heuristic picked for a shape. */
struct lt_plan {
    int M, K, N, epilogue; /* key; epilogue: 0 none, 1 bias, 2 gelu+bias, 3 gelu */
    int align;             /* key: alignment (bytes, <= 256) of y and the bias */
    int valid;
    cublasLtMatmulAlgo_t algo;
};

#define CUDA_LT_PLANS 32           /* distinct linear shapes of a forward fit */
#define CUDA_LT_WORKSPACE (32u << 20) /* cuBLASLt's split-K etc. scratch, bytes */

struct cudnn_attn; /* attn_cudnn.c: cuDNN handle and SDPA plan cache (NULL: own kernel) */

struct cuda_ctx {
    int device;           /* CUDA device ordinal (the current one at create) */
    cudaStream_t stream;  /* every op and copy is queued here */
    cublasHandle_t blas;  /* bound to stream */
    cublasLtHandle_t lt;  /* cuBLASLt: the linears (bias / GELU epilogues) */
    void *lt_ws;          /* CUDA_LT_WORKSPACE bytes, allocated at open */
    struct lt_plan plans[CUDA_LT_PLANS]; /* round-robin cache */
    int next_plan;
    struct cudnn_attn *dnn; /* NULL when built without cuDNN or it failed to start */
    long attn_cudnn, attn_own; /* attention calls per path (kern_cuda_attn_stats) */
    char attn_why[192];        /* why the first call on our kernel did not use cuDNN */
    /* Arena of bf16 operands (x of a linear; q, k, v, o of attention):
     * grow-only, so after the first forward of a shape a step allocates
     * nothing on the device. */
    void *scratch;
    size_t scratch_bytes;
};

/* 0 if e == cudaSuccess, else DF_E_INTERNAL with "what: <cuda error>". */
int cuda_check(cudaError_t e, const char *what, struct df_err *err);

/* Launch check: the pending launch error of the last kernel, if any. */
int cuda_check_launch(const char *what, struct df_err *err);

/* Make ctx->scratch hold `bytes`.  Returns 0 or DF_E_NOMEM. */
int cuda_scratch_reserve(struct cuda_ctx *ctx, size_t bytes, struct df_err *err);

#ifdef __cplusplus
}
#endif

#include "attn_cuda.cuh"
#include "attn_relbias_cuda.cuh"
#include "attn_cudnn.h"
#include "conv_cuda.cuh"
#include "elem_cuda.cuh"
#include "fused_cuda.cuh"
#include "linear_cuda.cuh"
#include "norm_cuda.cuh"
#include "patch_cuda.cuh"
#include "rope_cuda.cuh"

#endif
