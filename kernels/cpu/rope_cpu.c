/*
 * rope_cpu.c -- rotary embedding on interleaved pairs, in place, by token.
 *
 * One cos/sin row per token serves all H heads, so tokens are the unit of
 * work: the table row stays in L1 while the heads stream through.
 */
#include "kern_cpu.h"

struct rope_job {
    float *x;
    const float *cos, *sin;
    int S, H, D;
};

static void rope_task(void *arg, int ith, int nth)
{
    const struct rope_job *j = arg;
    int half = j->D / 2;
    size_t b, e;
    pool_cpu_range((size_t)j->S, ith, nth, &b, &e);
    for (size_t s = b; s < e; s++) {
        const float *c = j->cos + s * half, *sn = j->sin + s * half;
        for (int h = 0; h < j->H; h++) {
            float *p = j->x + (s * j->H + h) * j->D;
            for (int i = 0; i < half; i++) {
                float a = p[2 * i], bb = p[2 * i + 1];
                p[2 * i] = a * c[i] - bb * sn[i];
                p[2 * i + 1] = a * sn[i] + bb * c[i];
            }
        }
    }
}

int rope_cpu(void *vctx, float *x, int S, int H, int D, const float *cos, const float *sin,
             struct df_err *err)
{
    struct cpu_ctx *ctx = vctx;
    struct rope_job job = {.x = x, .cos = cos, .sin = sin, .S = S, .H = H, .D = D};
    size_t work = (size_t)S * H * D;
    pool_cpu_run(ctx->pool, rope_task, &job, pool_cpu_threads_for(ctx->pool, work, CPU_ELEM_GRAIN));
    return 0;
}
