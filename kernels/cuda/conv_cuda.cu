// conv_cuda.cu -- the VAE decoder's convolution helpers (see kern.h): causal
// im2col and nearest 2x up-sampling as one thread per output element, the
// strided copy as cudaMemcpy2DAsync on the stream.
//
// im2col writes cols row-major, so consecutive threads write consecutive
// columns (coalesced); the reads gather C-strided input floats, which the
// L2 serves since a pixel's kt·kh·kw neighbourhood is read by many threads.
#include "kern_cuda.h"
#include "reduce_cuda.cuh"

#define CONV_THREADS 256

// The window's frame pointers travel by value in the kernel parameters.
struct im2col_geom {
    const float *frames[KERN_IM2COL_MAX_KT];
    int kt, H, W, C, kh, kw, y0;
};

static __global__ void k_im2col_causal(im2col_geom g, float *__restrict__ cols, size_t n)
{
    const int taps = g.kt * g.kh * g.kw;
    const size_t ncol = (size_t)g.C * taps;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t p = i / ncol;
        const int col = (int)(i % ncol);
        // column ((c·kt + dt)·kh + dy)·kw + dx
        const int c = col / taps, tap = col % taps;
        const int dx = tap % g.kw, dy = tap / g.kw % g.kh, dt = tap / (g.kw * g.kh);
        const int y = g.y0 + (int)(p / g.W) + dy - g.kh / 2, x = (int)(p % g.W) + dx - g.kw / 2;
        const float *f = g.frames[dt];
        float v = 0.0f;
        if (f != nullptr && y >= 0 && y < g.H && x >= 0 && x < g.W)
            v = f[((size_t)y * g.W + x) * g.C + c];
        cols[i] = v;
    }
}

extern "C" int conv_cuda_im2col_causal(void *vctx, const float *const *frames, int kt, int H, int W,
                                       int C, int kh, int kw, int y0, int y1, float *cols,
                                       struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    im2col_geom g = {};
    for (int dt = 0; dt < kt; dt++)
        g.frames[dt] = frames[dt];
    g.kt = kt, g.H = H, g.W = W, g.C = C, g.kh = kh, g.kw = kw, g.y0 = y0;
    const size_t n = (size_t)(y1 - y0) * W * C * kt * kh * kw;
    k_im2col_causal<<<grid_for(n, CONV_THREADS), CONV_THREADS, 0, ctx->stream>>>(g, cols, n);
    return cuda_check_launch("kern_im2col_causal", err);
}

static __global__ void k_upsample2x(const float *__restrict__ x, float *__restrict__ y, int H,
                                    int W, int C, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int c = (int)(i % C);
        const size_t pix = i / C; // (f·2H + yo)·2W + xo
        const int xo = (int)(pix % (2 * (size_t)W));
        const size_t row = pix / (2 * (size_t)W);
        const int yo = (int)(row % (2 * (size_t)H));
        const size_t f = row / (2 * (size_t)H);
        y[i] = x[((f * H + yo / 2) * W + xo / 2) * C + c];
    }
}

extern "C" int conv_cuda_upsample2x(void *vctx, const float *x, float *y, int frames, int H, int W,
                                    int C, struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    const size_t n = (size_t)frames * 4 * H * W * C;
    k_upsample2x<<<grid_for(n, CONV_THREADS), CONV_THREADS, 0, ctx->stream>>>(x, y, H, W, C, n);
    return cuda_check_launch("kern_upsample2x", err);
}

extern "C" int conv_cuda_copy_2d(void *vctx, float *dst, size_t dst_ld, const float *src,
                                 size_t src_ld, size_t rows, size_t cols, struct df_err *err)
{
    struct cuda_ctx *ctx = (struct cuda_ctx *)vctx;
    return cuda_check(cudaMemcpy2DAsync(dst, dst_ld * sizeof(float), src, src_ld * sizeof(float),
                                        cols * sizeof(float), rows, cudaMemcpyDeviceToDevice,
                                        ctx->stream),
                      "kern_copy_2d", err);
}
