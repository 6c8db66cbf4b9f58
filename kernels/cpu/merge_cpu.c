/*
 * merge_cpu.c -- merge two partial attention results through their LSEs.
 *
 * With m = max(lse, lse2): w1 = e^(lse−m), w2 = e^(lse2−m) (both <= 1, one
 * of them exactly 1, so nothing overflows), lse' = m + log(w1 + w2) and
 * o' = (w1·o + w2·o2) / (w1 + w2).  A side with lse = −inf (no keys) gets
 * weight exactly 0 and its o is not read, so garbage there cannot leak in.
 */
#include "kern_cpu.h"

#include <math.h>

struct merge_job {
    float *o, *lse;
    const float *o2, *lse2;
    int Sq, H, D;
};

static void merge_row(const struct merge_job *j, size_t s, int h)
{
    float *l1 = &j->lse[(size_t)h * j->Sq + s];
    float l2 = j->lse2[(size_t)h * j->Sq + s];
    float *o = j->o + (s * j->H + h) * j->D;
    const float *o2 = j->o2 + (s * j->H + h) * j->D;
    if (l2 == -INFINITY)
        return; /* nothing to add */
    if (*l1 == -INFINITY) {
        for (int d = 0; d < j->D; d++)
            o[d] = o2[d];
        *l1 = l2;
        return;
    }
    float m = *l1 > l2 ? *l1 : l2;
    float w1 = expf(*l1 - m), w2 = expf(l2 - m), sum = w1 + w2;
    float a = w1 / sum, b = w2 / sum;
    for (int d = 0; d < j->D; d++)
        o[d] = a * o[d] + b * o2[d];
    *l1 = m + logf(sum);
}

static void merge_task(void *arg, int ith, int nth)
{
    const struct merge_job *j = arg;
    size_t b, e;
    pool_cpu_range((size_t)j->Sq, ith, nth, &b, &e);
    for (size_t s = b; s < e; s++)
        for (int h = 0; h < j->H; h++)
            merge_row(j, s, h);
}

int merge_cpu(void *vctx, float *o, float *lse, const float *o2, const float *lse2, int Sq, int H,
              int D, struct df_err *err)
{
    struct cpu_ctx *ctx = vctx;
    struct merge_job job = {.o = o, .lse = lse, .o2 = o2, .lse2 = lse2, .Sq = Sq, .H = H, .D = D};
    size_t work = (size_t)Sq * H * D;
    pool_cpu_run(ctx->pool, merge_task, &job,
                 pool_cpu_threads_for(ctx->pool, work, CPU_ELEM_GRAIN));
    return 0;
}
