// attn_cuda.cu -- flash-style attention (fp32) with LSE output, and the merge.
//
// Grid: (ceil(Sq / ATTN_WARPS), H).  Each warp owns one query row; the
// block's warps share K/V tiles of ATTN_BK keys staged in shared memory.
// Per tile, lane j scores key j, the warp takes the tile max and updates
// the running (max m, sum l, accumulator o) online-softmax state:
//     m' = max(m, max_j s_j);  o = o·e^(m−m') + Σ_j e^(s_j−m')·v_j;  l likewise
// so memory is O(tile) whatever Sk is.  Each lane keeps NT = ceil(D/32)
// accumulator columns (d = lane + 32·t; NT a template parameter so the
// accumulator stays in registers).  Keys >= sk_valid score −inf and weigh 0.
// D up to 512 (the VAE's mid-block attention has D = channels); above 48 KiB
// of shared memory the launch opts in to the larger carve-out.
// fp32 throughout: the fallback and reference behind cuDNN's fused SDPA
// (attn_cudnn.c), which runs instead whenever it has a plan for the shape.  K tile rows are padded to D+1 floats so the
// 32 lanes reading 32 different keys hit 32 different banks.
#include <cuda_bf16.h>
#include <math.h>
#include <stdio.h>

#include "attn_cudnn.h"
#include "kern_cuda.h"
#include "reduce_cuda.cuh"

#define ATTN_BK 32
#define ATTN_WARPS 8
#define ATTN_DMAX 512

template <int NT>
static __global__ void attn_fwd(const float *__restrict__ q, const float *__restrict__ k,
                                const float *__restrict__ v, float *__restrict__ o,
                                float *__restrict__ lse, int Sq, int H, int D, int skv, float scale)
{
    extern __shared__ float sm[];
    const int dp = D + 1;
    float *ks = sm;                // [ATTN_BK][dp]
    float *vs = ks + ATTN_BK * dp; // [ATTN_BK][dp]
    float *qs = vs + ATTN_BK * dp; // [ATTN_WARPS][D], pre-scaled
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, h = blockIdx.y;
    const int i = blockIdx.x * ATTN_WARPS + warp;
    const bool active = i < Sq;
    const size_t ld = (size_t)H * D;
    float *qw = qs + warp * D;
    if (active)
        for (int d = lane; d < D; d += 32)
            qw[d] = q[(size_t)i * ld + (size_t)h * D + d] * scale;

    float acc[NT];
    for (int t = 0; t < NT; t++)
        acc[t] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int j0 = 0; j0 < skv; j0 += ATTN_BK) {
        __syncthreads(); // previous tile fully consumed (and qs written)
        for (int idx = threadIdx.x; idx < ATTN_BK * D; idx += blockDim.x) {
            const int jj = idx / D, d = idx % D, j = j0 + jj;
            const size_t src = (size_t)j * ld + (size_t)h * D + d;
            ks[jj * dp + d] = j < skv ? k[src] : 0.0f;
            vs[jj * dp + d] = j < skv ? v[src] : 0.0f;
        }
        __syncthreads();
        if (!active)
            continue;
        const int j = j0 + lane;
        float s = -INFINITY;
        if (j < skv) {
            s = 0.0f;
            for (int d = 0; d < D; d++)
                s += qw[d] * ks[lane * dp + d];
        }
        const float m_new = fmaxf(m, warp_max(s)); // finite: tile has >= 1 valid key
        const float p = j < skv ? expf(s - m_new) : 0.0f;
        const float alpha = expf(m - m_new); // 0 on the first tile (m = −inf)
        l = l * alpha + warp_sum(p);
        for (int t = 0; t < NT; t++)
            acc[t] *= alpha;
        const int n_keys = skv - j0 < ATTN_BK ? skv - j0 : ATTN_BK;
        for (int jj = 0; jj < n_keys; jj++) {
            const float pj = __shfl_sync(CUDA_FULL_MASK, p, jj);
            for (int t = 0; t < NT; t++) {
                const int d = lane + 32 * t;
                if (d < D)
                    acc[t] += pj * vs[jj * dp + d];
            }
        }
        m = m_new;
    }
    if (!active)
        return;
    const float inv = 1.0f / l;
    for (int t = 0; t < NT; t++) {
        const int d = lane + 32 * t;
        if (d < D)
            o[(size_t)i * ld + (size_t)h * D + d] = acc[t] * inv;
    }
    if (lse != NULL && lane == 0)
        lse[(size_t)h * Sq + i] = m + logf(l);
}

template <int NT>
static int attn_launch(struct cuda_ctx *ctx, const float *q, const float *k, const float *v,
                       float *o, float *lse, int Sq, int H, int D, int sk_valid, float scale,
                       struct df_err *err)
{
    const size_t smem = (2 * (size_t)ATTN_BK * (D + 1) + (size_t)ATTN_WARPS * D) * sizeof(float);
    if (smem > 48 * 1024)
        DF_TRY(cuda_check(cudaFuncSetAttribute(
                              attn_fwd<NT>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                          "kern_attention: shared memory opt-in", err));
    dim3 grid((unsigned)((Sq + ATTN_WARPS - 1) / ATTN_WARPS), (unsigned)H);
    attn_fwd<NT>
        <<<grid, ATTN_WARPS * 32, smem, ctx->stream>>>(q, k, v, o, lse, Sq, H, D, sk_valid, scale);
    return cuda_check_launch("kern_attention", err);
}

static __global__ void from_bf16(const __nv_bfloat16 *__restrict__ src, float *__restrict__ dst,
                                 size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __bfloat162float(src[i]);
}

// cuDNN's fused SDPA on bf16 copies of q, k, v (in the context's arena; the
// padding keys are simply not copied: they are the last rows), o back to
// fp32.  DF_E_UNSUPPORTED: no cuDNN plan, the caller runs our kernel.
static int attn_cudnn_path(struct cuda_ctx *ctx, const float *q, const float *k, const float *v,
                           float *o, float *lse, int Sq, int H, int D, int skv, float scale,
                           struct df_err *err)
{
    const size_t nq = (size_t)Sq * H * D, nk = (size_t)skv * H * D;
    DF_TRY(cuda_scratch_reserve(ctx, (2 * nq + 2 * nk) * sizeof(__nv_bfloat16), err));
    __nv_bfloat16 *qb = (__nv_bfloat16 *)ctx->scratch, *kb = qb + nq, *vb = kb + nk, *ob = vb + nk;
    DF_TRY(linear_cuda_to_bf16(ctx, q, qb, nq, err));
    DF_TRY(linear_cuda_to_bf16(ctx, k, kb, nk, err));
    DF_TRY(linear_cuda_to_bf16(ctx, v, vb, nk, err));
    DF_TRY(attn_cudnn_run(ctx->dnn, qb, kb, vb, ob, lse, Sq, skv, H, D, scale, err));
    from_bf16<<<grid_for(nq, 256), 256, 0, ctx->stream>>>(ob, o, nq);
    return cuda_check_launch("kern_attention: bf16 -> fp32", err);
}

extern "C" int attn_cuda(void *vctx, const float *q, const float *k, const float *v, float *o,
                         float *lse, int Sq, int Sk, int H, int D, int sk_valid, float scale,
                         struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    const char *why = ctx->dnn == NULL ? "cuDNN not built in, not started, or DITFARM_CUDA_ATTN=own"
                                       : "head dim not a multiple of 8 or above 256";
    if (ctx->dnn != NULL && attn_cudnn_takes(D)) {
        int rc = attn_cudnn_path(ctx, q, k, v, o, lse, Sq, H, D, sk_valid, scale, err);
        if (rc == 0)
            ctx->attn_cudnn++;
        if (rc != DF_E_UNSUPPORTED)
            return rc;
        why = err != NULL ? err->msg : "no cuDNN plan";
    }
    if (ctx->attn_own++ == 0)
        snprintf(ctx->attn_why, sizeof ctx->attn_why, "%.191s", why);
    df_err_clear(err); // our kernel below
    if (D > ATTN_DMAX)
        return df_err_set(err, DF_E_UNSUPPORTED,
                          "kern_attention: cuda backend supports head dim <= %d, got D=%d",
                          ATTN_DMAX, D);
    if (D <= 32)
        return attn_launch<1>(ctx, q, k, v, o, lse, Sq, H, D, sk_valid, scale, err);
    if (D <= 64)
        return attn_launch<2>(ctx, q, k, v, o, lse, Sq, H, D, sk_valid, scale, err);
    if (D <= 128)
        return attn_launch<4>(ctx, q, k, v, o, lse, Sq, H, D, sk_valid, scale, err);
    if (D <= 256)
        return attn_launch<8>(ctx, q, k, v, o, lse, Sq, H, D, sk_valid, scale, err);
    return attn_launch<16>(ctx, q, k, v, o, lse, Sq, H, D, sk_valid, scale, err);
}

// One warp per (query, head): weights from the two LSEs (max-subtracted, so
// both <= 1), lanes over d; lane 0 writes the merged LSE after the warp has
// read the old one.  A side with lse = −inf weighs exactly 0 and its o is
// never read.
static __global__ void attn_merge(float *__restrict__ o, float *__restrict__ lse,
                                  const float *__restrict__ o2, const float *__restrict__ lse2,
                                  int Sq, int H, int D)
{
    const size_t row = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (row >= (size_t)Sq * H)
        return;
    const size_t s = row / H, h = row % H;
    const float l1 = lse[h * Sq + s], l2 = lse2[h * Sq + s];
    float *orow = o + row * D;
    const float *o2row = o2 + row * D;
    if (l2 == -INFINITY)
        return;
    if (l1 == -INFINITY) {
        for (int d = lane; d < D; d += 32)
            orow[d] = o2row[d];
        __syncwarp();
        if (lane == 0)
            lse[h * Sq + s] = l2;
        return;
    }
    const float m = fmaxf(l1, l2);
    const float w1 = expf(l1 - m), w2 = expf(l2 - m), sum = w1 + w2;
    const float a = w1 / sum, b = w2 / sum;
    for (int d = lane; d < D; d += 32)
        orow[d] = a * orow[d] + b * o2row[d];
    __syncwarp();
    if (lane == 0)
        lse[h * Sq + s] = m + logf(sum);
}

extern "C" int attn_cuda_merge(void *vctx, float *o, float *lse, const float *o2, const float *lse2,
                               int Sq, int H, int D, struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    const size_t threads = (size_t)Sq * H * 32;
    attn_merge<<<(unsigned)((threads + 255) / 256), 256, 0, ctx->stream>>>(o, lse, o2, lse2, Sq, H,
                                                                           D);
    return cuda_check_launch("kern_attention_merge", err);
}
