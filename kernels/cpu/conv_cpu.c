/*
 * conv_cpu.c -- the convolution helpers of the VAE decoder (see kern.h):
 * causal im2col, nearest 2x up-sampling and the strided 2D copy.
 *
 * All three are pure data movement.  im2col splits output pixels (rows of
 * cols) over the pool; each pixel reads kt·kh·kw runs of C contiguous input
 * floats and scatters them with stride kt·kh·kw into its row, which stays in
 * L1/L2 while it is written.  up-sampling splits output rows; the 2D copy
 * splits rows.
 */
#include "kern_cpu.h"

#include <string.h>

struct im2col_job {
    const float *frames[KERN_IM2COL_MAX_KT];
    int kt, H, W, C, kh, kw, y0;
    float *cols;
    size_t n_pix; /* (y1 - y0) · W */
};

static void im2col_pixel(const struct im2col_job *j, size_t p)
{
    const int y = j->y0 + (int)(p / (size_t)j->W), x = (int)(p % (size_t)j->W);
    const int taps = j->kt * j->kh * j->kw, ph = j->kh / 2, pw = j->kw / 2;
    float *row = j->cols + p * (size_t)j->C * taps;
    for (int dt = 0; dt < j->kt; dt++)
        for (int dy = 0; dy < j->kh; dy++)
            for (int dx = 0; dx < j->kw; dx++) {
                const int sy = y + dy - ph, sx = x + dx - pw;
                const int tap = (dt * j->kh + dy) * j->kw + dx;
                float *dst = row + tap;
                if (j->frames[dt] == NULL || sy < 0 || sy >= j->H || sx < 0 || sx >= j->W) {
                    for (int c = 0; c < j->C; c++)
                        dst[(size_t)c * taps] = 0.0f;
                    continue;
                }
                const float *px = j->frames[dt] + ((size_t)sy * j->W + sx) * j->C;
                for (int c = 0; c < j->C; c++)
                    dst[(size_t)c * taps] = px[c];
            }
}

static void im2col_task(void *arg, int ith, int nth)
{
    const struct im2col_job *j = arg;
    size_t b, e;
    pool_cpu_range(j->n_pix, ith, nth, &b, &e);
    for (size_t p = b; p < e; p++)
        im2col_pixel(j, p);
}

int conv_cpu_im2col_causal(void *vctx, const float *const *frames, int kt, int H, int W, int C,
                           int kh, int kw, int y0, int y1, float *cols, struct df_err *err)
{
    struct cpu_ctx *ctx = vctx;
    struct im2col_job job = {.kt = kt,
                             .H = H,
                             .W = W,
                             .C = C,
                             .kh = kh,
                             .kw = kw,
                             .y0 = y0,
                             .cols = cols,
                             .n_pix = (size_t)(y1 - y0) * W};
    for (int dt = 0; dt < kt; dt++)
        job.frames[dt] = frames[dt];
    size_t work = job.n_pix * (size_t)C * kt * kh * kw;
    pool_cpu_run(ctx->pool, im2col_task, &job,
                 pool_cpu_threads_for(ctx->pool, work, CPU_ELEM_GRAIN));
    return 0;
}

struct up_job {
    const float *x;
    float *y;
    int H, W, C;
    size_t n_rows; /* frames · 2H output rows */
};

static void up_task(void *arg, int ith, int nth)
{
    const struct up_job *j = arg;
    size_t b, e;
    pool_cpu_range(j->n_rows, ith, nth, &b, &e);
    const size_t C = (size_t)j->C, W2 = 2 * (size_t)j->W;
    for (size_t r = b; r < e; r++) {
        const size_t f = r / (2 * (size_t)j->H), yo = r % (2 * (size_t)j->H);
        const float *src = j->x + (f * j->H + yo / 2) * j->W * C;
        float *dst = j->y + r * W2 * C;
        for (size_t xo = 0; xo < W2; xo++)
            memcpy(dst + xo * C, src + (xo / 2) * C, C * sizeof *dst);
    }
}

int conv_cpu_upsample2x(void *vctx, const float *x, float *y, int frames, int H, int W, int C,
                        struct df_err *err)
{
    struct cpu_ctx *ctx = vctx;
    struct up_job job = {.x = x, .y = y, .H = H, .W = W, .C = C, .n_rows = (size_t)frames * 2 * H};
    size_t work = job.n_rows * 2 * (size_t)W * C;
    pool_cpu_run(ctx->pool, up_task, &job, pool_cpu_threads_for(ctx->pool, work, CPU_ELEM_GRAIN));
    return 0;
}

struct copy2d_job {
    float *dst;
    const float *src;
    size_t dst_ld, src_ld, rows, cols;
};

static void copy2d_task(void *arg, int ith, int nth)
{
    const struct copy2d_job *j = arg;
    size_t b, e;
    pool_cpu_range(j->rows, ith, nth, &b, &e);
    for (size_t r = b; r < e; r++)
        memcpy(j->dst + r * j->dst_ld, j->src + r * j->src_ld, j->cols * sizeof *j->dst);
}

int conv_cpu_copy_2d(void *vctx, float *dst, size_t dst_ld, const float *src, size_t src_ld,
                     size_t rows, size_t cols, struct df_err *err)
{
    struct cpu_ctx *ctx = vctx;
    struct copy2d_job job = {
        .dst = dst, .src = src, .dst_ld = dst_ld, .src_ld = src_ld, .rows = rows, .cols = cols};
    pool_cpu_run(ctx->pool, copy2d_task, &job,
                 pool_cpu_threads_for(ctx->pool, rows * cols, CPU_ELEM_GRAIN));
    return 0;
}
