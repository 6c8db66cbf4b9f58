// patch_cuda.cu -- patchify (im2col) and unpatchify, one thread per element
// of the token matrix; see kern.h for the two column orders.
#include "kern_cuda.h"
#include "reduce_cuda.cuh"

struct patch_geom {
    int C, T, H, W, pt, ph, pw;
    long long tok_begin;
};

// Latent index of (token, c, kt, kh, kw).
static __device__ __forceinline__ size_t latent_index(const patch_geom &g, long long tok, int c,
                                                      int kt, int kh, int kw)
{
    const int Hp = g.H / g.ph, Wp = g.W / g.pw;
    const int x = (int)(tok % Wp), y = (int)(tok / Wp % Hp), f = (int)(tok / ((long long)Wp * Hp));
    return (((size_t)c * g.T + (size_t)f * g.pt + kt) * g.H + (size_t)y * g.ph + kh) * g.W +
           (size_t)x * g.pw + kw;
}

static __global__ void k_patchify(const float *__restrict__ lat, float *__restrict__ cols,
                                  patch_geom g, size_t n)
{
    const int ncol = g.C * g.pt * g.ph * g.pw;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int col = (int)(i % ncol);
        const long long tok = g.tok_begin + (long long)(i / ncol);
        // column ((c·pt + kt)·ph + kh)·pw + kw
        const int kw = col % g.pw, kh = col / g.pw % g.ph, kt = col / (g.pw * g.ph) % g.pt;
        const int c = col / (g.pw * g.ph * g.pt);
        cols[i] = lat[latent_index(g, tok, c, kt, kh, kw)];
    }
}

static __global__ void k_unpatchify(const float *__restrict__ tokens, float *__restrict__ lat,
                                    patch_geom g, size_t n)
{
    const int ncol = g.C * g.pt * g.ph * g.pw;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int col = (int)(i % ncol);
        const long long tok = g.tok_begin + (long long)(i / ncol);
        // column ((kt·ph + kh)·pw + kw)·C + c
        const int c = col % g.C, kw = col / g.C % g.pw, kh = col / (g.C * g.pw) % g.ph;
        const int kt = col / (g.C * g.pw * g.ph);
        lat[latent_index(g, tok, c, kt, kh, kw)] = tokens[i];
    }
}

extern "C" int patch_cuda_patchify(void *vctx, const float *latent, float *cols, int C, int T,
                                   int H, int W, int pt, int ph, int pw, int64_t tok_begin,
                                   int64_t tok_count, struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    patch_geom g = {C, T, H, W, pt, ph, pw, (long long)tok_begin};
    const size_t n = (size_t)tok_count * C * pt * ph * pw;
    k_patchify<<<grid_for(n, 256), 256, 0, ctx->stream>>>(latent, cols, g, n);
    return cuda_check_launch("kern_patchify", err);
}

extern "C" int patch_cuda_unpatchify(void *vctx, const float *tokens, float *latent, int C, int T,
                                     int H, int W, int pt, int ph, int pw, int64_t tok_begin,
                                     int64_t tok_count, struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    patch_geom g = {C, T, H, W, pt, ph, pw, (long long)tok_begin};
    const size_t n = (size_t)tok_count * C * pt * ph * pw;
    k_unpatchify<<<grid_for(n, 256), 256, 0, ctx->stream>>>(tokens, latent, g, n);
    return cuda_check_launch("kern_unpatchify", err);
}
