// norm_cuda.cu -- LayerNorm / RMSNorm, one 256-thread block per row.
//
// Same numerics as the CPU backend: LayerNorm sums deviations from the
// row's first element (then from the mean) in two passes, so a large
// offset does not swamp fp32; statistics reduce through warp shuffles.
#include "kern_cuda.h"
#include "reduce_cuda.cuh"

#define NORM_THREADS 256

static __global__ void norm_rows(const float *x, float *y, int dim, float eps,
                                 const float *__restrict__ gamma, const float *__restrict__ beta,
                                 int rms)
{
    __shared__ float red[32];
    const float *xr = x + (size_t)blockIdx.x * dim;
    float *yr = y + (size_t)blockIdx.x * dim;
    const float c = rms ? 0.0f : xr[0];
    float dm = 0.0f;
    if (!rms) {
        float s = 0.0f;
        for (int i = threadIdx.x; i < dim; i += blockDim.x)
            s += xr[i] - c;
        dm = block_sum(s, red) / dim;
    }
    float sq = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        const float d = (xr[i] - c) - dm;
        sq += d * d;
    }
    const float inv = rsqrtf(block_sum(sq, red) / dim + eps);
    // y may alias x (no __restrict__ on either): each thread rewrites only the
    // elements it alone reads in this last pass.
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = ((xr[i] - c) - dm) * inv;
        if (gamma)
            v *= gamma[i];
        if (beta)
            v += beta[i];
        yr[i] = v;
    }
}

static int norm_launch(struct cuda_ctx *ctx, const float *x, float *y, int rows, int dim, float eps,
                       const float *gamma, const float *beta, int rms, struct df_err *err)
{
    norm_rows<<<(unsigned)rows, NORM_THREADS, 0, ctx->stream>>>(x, y, dim, eps, gamma, beta, rms);
    return cuda_check_launch(rms ? "kern_rmsnorm" : "kern_layernorm", err);
}

extern "C" int norm_cuda_layer(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                               const float *gamma, const float *beta, struct df_err *err)
{
    return norm_launch((struct cuda_ctx *)ctx, x, y, rows, dim, eps, gamma, beta, 0, err);
}

extern "C" int norm_cuda_rms(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                             const float *gamma, struct df_err *err)
{
    return norm_launch((struct cuda_ctx *)ctx, x, y, rows, dim, eps, gamma, NULL, 1, err);
}
