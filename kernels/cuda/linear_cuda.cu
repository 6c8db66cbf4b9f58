// linear_cuda.cu -- y = x·Wᵀ + b on cuBLAS: bf16 operands, fp32 accumulate.
//
// W is stored bf16 (backend_cuda.c).  cuBLAS wants both operands in one
// type, so x is rounded to bf16 into the context's scratch first (the same
// precision torch uses for a bf16 model).  Row-major y[M,N] = x·Wᵀ is, in
// cuBLAS's column-major view, yᵀ[N,M] = W'ᵀ·x' with W' = W viewed as
// [K,N] col-major and x' = x viewed as [K,M]: one GemmEx with (T, N).
// The bias is written into y first and added with beta = 1.
#include <cuda_bf16.h>

#include "kern_cuda.h"
#include "reduce_cuda.cuh"

static __global__ void to_bf16(const float *__restrict__ src, __nv_bfloat16 *__restrict__ dst,
                               size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

extern "C" int linear_cuda_to_bf16(struct cuda_ctx *ctx, const float *src, void *dst, size_t n,
                                   struct df_err *err)
{
    to_bf16<<<grid_for(n, 256), 256, 0, ctx->stream>>>(src, (__nv_bfloat16 *)dst, n);
    return cuda_check_launch("linear: fp32 -> bf16", err);
}

extern "C" int linear_cuda(void *vctx, const float *x, const struct kern_weight *w,
                           const float *bias, float *y, int M, int K, int N, struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    const size_t nx = (size_t)M * K;
    DF_TRY(cuda_scratch_reserve(ctx, nx * sizeof(__nv_bfloat16), err));
    DF_TRY(linear_cuda_to_bf16(ctx, x, ctx->scratch, nx, err));
    float beta = 0.0f;
    if (bias != NULL) {
        DF_TRY(elem_cuda_fill_rows(ctx, y, bias, M, N, err));
        beta = 1.0f;
    }
    const float alpha = 1.0f;
    cublasStatus_t st = cublasGemmEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, w->data,
                                     CUDA_R_16BF, K, ctx->scratch, CUDA_R_16BF, K, &beta, y,
                                     CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        return df_err_set(err, DF_E_INTERNAL, "kern_linear(M=%d, K=%d, N=%d): cublasGemmEx: %s", M,
                          K, N, cublasGetStatusString(st));
    return 0;
}
