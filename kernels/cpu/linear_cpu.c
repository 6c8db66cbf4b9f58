/*
 * linear_cpu.c -- y = x·Wᵀ + b with OpenBLAS sgemm, split over the pool.
 *
 * Each pool thread runs one single-threaded sgemm on its slice.  Slices are
 * row blocks of x (each thread packs all of W, which is cheap next to
 * 2·M_t·K·N flops once a slice has >= 64 rows) or, for short inputs such as
 * the timestep or text embeddings, column blocks of y (row blocks of W).
 * The bias is written into y first and sgemm adds with beta = 1: sgemm
 * passes over C for beta = 0 anyway, so the bias costs nothing extra.
 */
#include "kern_cpu.h"

#include <cblas.h>
#include <string.h>

struct linear_job {
    const float *x, *w, *bias;
    float *y;
    int M, K, N;
    int split_rows; /* 1: slices are rows of x; 0: slices are rows of W */
};

static void linear_slice(const struct linear_job *j, int m0, int m1, int n0, int n1)
{
    int m = m1 - m0, n = n1 - n0;
    if (m <= 0 || n <= 0)
        return;
    float *y = j->y + (size_t)m0 * j->N + n0;
    float beta = 0.0f;
    if (j->bias != NULL) {
        for (int r = 0; r < m; r++)
            memcpy(y + (size_t)r * j->N, j->bias + n0, (size_t)n * sizeof *y);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, j->K, 1.0f, j->x + (size_t)m0 * j->K,
                j->K, j->w + (size_t)n0 * j->K, j->K, beta, y, j->N);
}

static void linear_task(void *arg, int ith, int nth)
{
    const struct linear_job *j = arg;
    size_t b, e;
    if (j->split_rows) {
        pool_cpu_range((size_t)j->M, ith, nth, &b, &e);
        linear_slice(j, (int)b, (int)e, 0, j->N);
    } else {
        /* Column blocks in multiples of 16 keep sgemm's vector tiles full. */
        size_t blocks = ((size_t)j->N + 15) / 16;
        pool_cpu_range(blocks, ith, nth, &b, &e);
        int n0 = (int)(b * 16), n1 = (int)(e * 16);
        linear_slice(j, 0, j->M, n0, n1 < j->N ? n1 : j->N);
    }
}

int linear_cpu(void *vctx, const float *x, const struct kern_weight *w, const float *bias, float *y,
               int M, int K, int N, struct df_err *err)
{
    struct cpu_ctx *ctx = vctx;
    struct linear_job job = {.x = x, .w = w->data, .bias = bias, .y = y, .M = M, .K = K, .N = N};
    int size = pool_cpu_size(ctx->pool);
    job.split_rows = M >= 64 * size;
    /* Small products are not worth a wake-up. */
    size_t flops = 2 * (size_t)M * (size_t)K * (size_t)N;
    int nth = flops < ((size_t)1 << 22) ? 1 : size;
    pool_cpu_run(ctx->pool, linear_task, &job, nth);
    return 0;
}
