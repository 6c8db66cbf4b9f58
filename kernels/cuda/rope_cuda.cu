// rope_cuda.cu -- rotary embedding, one thread per (token, head, pair).
#include "kern_cuda.h"
#include "reduce_cuda.cuh"

static __global__ void rope_pairs(float *x, const float *__restrict__ cs,
                                  const float *__restrict__ sn, size_t n_pairs, int H, int half)
{
    for (size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x; p < n_pairs;
         p += (size_t)gridDim.x * blockDim.x) {
        const size_t i = p % half, s = p / half / H;
        const float c = cs[s * half + i], si = sn[s * half + i];
        const float a = x[2 * p], b = x[2 * p + 1];
        x[2 * p] = a * c - b * si;
        x[2 * p + 1] = a * si + b * c;
    }
}

extern "C" int rope_cuda(void *vctx, float *x, int S, int H, int D, const float *cos,
                         const float *sin, struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    const size_t n_pairs = (size_t)S * H * (D / 2);
    rope_pairs<<<grid_for(n_pairs, 256), 256, 0, ctx->stream>>>(x, cos, sin, n_pairs, H, D / 2);
    return cuda_check_launch("kern_rope", err);
}
