/*
 * norm_cpu.c -- LayerNorm and RMSNorm over rows, split by (ith, nth).
 *
 * Statistics are fp32 sums kept in 8 independent lanes (so the compiler can
 * vectorize without reassociating) and finished in double; LayerNorm takes
 * two passes (mean, then squared deviations) instead of E[x²] − E[x]², which
 * cancels badly when |mean| >> std, and sums deviations from the row's first
 * element so large offsets do not eat the fp32 lanes' precision.
 */
#include "kern_cpu.h"

#include <math.h>

struct norm_job {
    const float *x, *gamma, *beta;
    float *y;
    int rows, dim;
    float eps;
    int rms; /* 1: RMSNorm, 0: LayerNorm */
};

/* Sum of (x − c − dm) or its square over n floats.  c is a float taken
 * from the row itself, so x − c is exact for the typical |x − c| < |c|;
 * dm is the small remaining mean.  This keeps the statistics accurate even
 * when |mean| >> std. */
static double lane_sum(const float *x, int n, float c, float dm, int square)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            float d = (x[i + l] - c) - dm;
            acc[l] += square ? d * d : d;
        }
    double s = 0.0;
    for (int l = 0; l < 8; l++)
        s += acc[l];
    for (; i < n; i++) {
        double d = (double)(x[i] - c) - dm;
        s += square ? d * d : d;
    }
    return s;
}

static void norm_row(const struct norm_job *j, const float *x, float *y)
{
    int n = j->dim;
    float c = 0.0f, dm = 0.0f;
    if (!j->rms) {
        c = x[0];
        dm = (float)(lane_sum(x, n, c, 0.0f, 0) / n);
    }
    double var = lane_sum(x, n, c, dm, 1) / n;
    float inv = (float)(1.0 / sqrt(var + j->eps));
    for (int i = 0; i < n; i++) {
        float v = ((x[i] - c) - dm) * inv;
        if (j->gamma)
            v *= j->gamma[i];
        if (j->beta)
            v += j->beta[i];
        y[i] = v;
    }
}

static void norm_task(void *arg, int ith, int nth)
{
    const struct norm_job *j = arg;
    size_t b, e;
    pool_cpu_range((size_t)j->rows, ith, nth, &b, &e);
    for (size_t r = b; r < e; r++)
        norm_row(j, j->x + r * j->dim, j->y + r * j->dim);
}

static int norm_run(struct cpu_ctx *ctx, const struct norm_job *job)
{
    size_t work = (size_t)job->rows * job->dim;
    pool_cpu_run(ctx->pool, norm_task, (void *)job,
                 pool_cpu_threads_for(ctx->pool, work, CPU_ELEM_GRAIN));
    return 0;
}

int norm_cpu_layer(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                   const float *gamma, const float *beta, struct df_err *err)
{
    struct norm_job job = {.x = x,
                           .y = y,
                           .gamma = gamma,
                           .beta = beta,
                           .rows = rows,
                           .dim = dim,
                           .eps = eps,
                           .rms = 0};
    return norm_run(ctx, &job);
}

int norm_cpu_rms(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                 const float *gamma, struct df_err *err)
{
    struct norm_job job = {
        .x = x, .y = y, .gamma = gamma, .rows = rows, .dim = dim, .eps = eps, .rms = 1};
    return norm_run(ctx, &job);
}
