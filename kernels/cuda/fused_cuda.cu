// fused_cuda.cu -- the fused kernels cuBLASLt and cuDNN have no equivalent
// for, one 256-thread block per token row, fp32 statistics:
//   norm_modulate  y = LN(x)·(1 + scale) + shift   (adaLN before attention / FFN)
//   qk_norm_rope   x = RoPE(RMSNorm(x)·gamma)      (Wan's q/k, norm over all heads)
// Each reads its row once for the statistics and once to write, where the
// unfused ops make two or three round trips through memory.  Numerics as
// norm_cuda.cu (LayerNorm deviations from the row's first element, then
// from the mean) and rope_cuda.cu (interleaved pairs).
#include "kern_cuda.h"
#include "reduce_cuda.cuh"

#define FUSED_THREADS 256

static __global__ void norm_modulate_rows(const float *x, float *y, int dim, float eps,
                                          const float *__restrict__ scale,
                                          const float *__restrict__ shift)
{
    __shared__ float red[32];
    const float *xr = x + (size_t)blockIdx.x * dim;
    float *yr = y + (size_t)blockIdx.x * dim;
    const float c = xr[0];
    float s = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        s += xr[i] - c;
    const float dm = block_sum(s, red) / dim;
    float sq = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        const float d = (xr[i] - c) - dm;
        sq += d * d;
    }
    const float inv = rsqrtf(block_sum(sq, red) / dim + eps);
    // y may alias x: block_sum's barrier ordered every read above before
    // these writes, and each thread rewrites only elements it reads here.
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        yr[i] = ((xr[i] - c) - dm) * inv * (1.0f + scale[i]) + shift[i];
}

static __global__ void qk_norm_rope_rows(float *x, int H, int D, float eps,
                                         const float *__restrict__ gamma,
                                         const float *__restrict__ cs,
                                         const float *__restrict__ sn)
{
    __shared__ float red[32];
    const int dim = H * D, half = D / 2;
    float *xr = x + (size_t)blockIdx.x * dim;
    float sq = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        sq += xr[i] * xr[i];
    const float inv = rsqrtf(block_sum(sq, red) / dim + eps);
    const float *c = cs + (size_t)blockIdx.x * half, *s = sn + (size_t)blockIdx.x * half;
    for (int p = threadIdx.x; p < dim / 2; p += blockDim.x) {
        const int i = p % half;
        float a = xr[2 * p] * inv, b = xr[2 * p + 1] * inv;
        if (gamma) {
            a *= gamma[2 * p];
            b *= gamma[2 * p + 1];
        }
        xr[2 * p] = a * c[i] - b * s[i];
        xr[2 * p + 1] = a * s[i] + b * c[i];
    }
}

extern "C" int fused_cuda_norm_modulate(void *vctx, const float *x, float *y, int rows, int dim,
                                        float eps, const float *scale, const float *shift,
                                        struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    norm_modulate_rows<<<(unsigned)rows, FUSED_THREADS, 0, ctx->stream>>>(x, y, dim, eps, scale,
                                                                           shift);
    return cuda_check_launch("kern_norm_modulate", err);
}

extern "C" int fused_cuda_qk_norm_rope(void *vctx, float *x, int S, int H, int D, float eps,
                                       const float *gamma, const float *cos, const float *sin,
                                       struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    qk_norm_rope_rows<<<(unsigned)S, FUSED_THREADS, 0, ctx->stream>>>(x, H, D, eps, gamma, cos,
                                                                       sin);
    return cuda_check_launch("kern_qk_norm_rope", err);
}
