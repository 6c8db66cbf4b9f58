// attn_relbias_cuda.cu -- T5 / umT5 self-attention with a relative-position
// bias per distance (kern_attention_relbias), fp32.
//
// One block per (query i, head h): the query row and the whole score row
// [Sk] sit in shared memory (T5 prompts are at most a few hundred tokens, so a
// row is a few KiB), the threads score keys j strided, s_j = scale·q·k_j +
// rel_bias[h, j − i + Sq − 1]; a block max and an exp-sum give an exact
// softmax (no online rescaling: the row is complete), then threads over d
// accumulate Σ_j p_j·v[j, h, d].  Simple rather than fast: the encoder's time
// is in its linears (cuBLASLt), attention is ~2% of its FLOPs at 512 tokens.
#include <math.h>

#include "kern_cuda.h"

#define RB_THREADS 128
#define RB_SMEM_MAX (48 * 1024)

static __device__ float block_reduce(float v, float *red, bool is_max)
{
    const int t = threadIdx.x;
    red[t] = v;
    __syncthreads();
    for (int s = RB_THREADS / 2; s > 0; s >>= 1) {
        if (t < s)
            red[t] = is_max ? fmaxf(red[t], red[t + s]) : red[t] + red[t + s];
        __syncthreads();
    }
    float r = red[0];
    __syncthreads();
    return r;
}

static __global__ void attn_relbias_fwd(const float *__restrict__ q, const float *__restrict__ k,
                                        const float *__restrict__ v, float *__restrict__ o,
                                        const float *__restrict__ rb, int Sq, int Sk, int H,
                                        int D, float scale)
{
    extern __shared__ float sh[];
    float *qs = sh, *sc = sh + D, *red = sc + Sk;
    const int i = blockIdx.x, h = blockIdx.y, t = threadIdx.x;
    const size_t ld = (size_t)H * D;
    for (int d = t; d < D; d += RB_THREADS)
        qs[d] = q[(size_t)i * ld + (size_t)h * D + d];
    __syncthreads();
    const float *bias = rb + (size_t)h * (Sq + Sk - 1) + (Sq - 1 - i);
    float m = -INFINITY;
    for (int j = t; j < Sk; j += RB_THREADS) {
        const float *kj = k + (size_t)j * ld + (size_t)h * D;
        float s = 0.0f;
        for (int d = 0; d < D; d++)
            s += qs[d] * kj[d];
        s = s * scale + bias[j];
        sc[j] = s;
        m = fmaxf(m, s);
    }
    m = block_reduce(m, red, true);
    float l = 0.0f;
    for (int j = t; j < Sk; j += RB_THREADS) {
        float p = expf(sc[j] - m);
        sc[j] = p;
        l += p;
    }
    l = block_reduce(l, red, false);
    const float inv = 1.0f / l;
    for (int d = t; d < D; d += RB_THREADS) {
        float acc = 0.0f;
        for (int j = 0; j < Sk; j++)
            acc += sc[j] * v[(size_t)j * ld + (size_t)h * D + d];
        o[(size_t)i * ld + (size_t)h * D + d] = acc * inv;
    }
}

extern "C" int attn_relbias_cuda(void *vctx, const float *q, const float *k, const float *v,
                                 float *o, int Sq, int Sk, int H, int D, float scale,
                                 const float *rel_bias, struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    const size_t smem = ((size_t)D + (size_t)Sk + RB_THREADS) * sizeof(float);
    if (smem > RB_SMEM_MAX)
        return df_err_set(err, DF_E_UNSUPPORTED,
                          "kern_attention_relbias: cuda backend supports Sk + D up to %d, got "
                          "Sk=%d D=%d",
                          (int)(RB_SMEM_MAX / sizeof(float)) - RB_THREADS, Sk, D);
    dim3 grid((unsigned)Sq, (unsigned)H);
    attn_relbias_fwd<<<grid, RB_THREADS, smem, ctx->stream>>>(q, k, v, o, rel_bias, Sq, Sk, H, D,
                                                               scale);
    return cuda_check_launch("kern_attention_relbias", err);
}
