/*
 * elem_cpu.c -- elementwise ops, split into contiguous ranges per thread.
 *
 * These are memory-bound (except GELU/SiLU, which go through the vector exp
 * in vmath_cpu.c), so the only tuning is not waking the pool for small n.
 * Row-wise ops (modulate, gated_add) split rows so the [dim] vectors are
 * reused from L1.
 */
#include "kern_cpu.h"

#include "vmath_cpu.h"

enum elem_kind {
    ELEM_GELU_TANH,
    ELEM_SILU,
    ELEM_ADD,
    ELEM_SCALE_ADD,
    ELEM_MODULATE,
    ELEM_GATED_ADD,
};

struct elem_job {
    enum elem_kind kind;
    const float *x;       /* input (y for gated_add / add / scale_add is the other operand) */
    float *y;             /* output */
    const float *v1, *v2; /* scale/shift or gate, [dim] */
    float a;
    size_t n; /* floats (flat ops) or rows (row ops) */
    int dim;  /* row ops */
};

static void elem_flat(const struct elem_job *j, size_t b, size_t e)
{
    const float *x = j->x + b;
    float *y = j->y + b;
    size_t n = e - b;
    switch (j->kind) {
    case ELEM_GELU_TANH:
        vmath_cpu_gelu_tanh(x, y, n);
        break;
    case ELEM_SILU:
        vmath_cpu_silu(x, y, n);
        break;
    case ELEM_ADD:
        for (size_t i = 0; i < n; i++)
            y[i] += x[i];
        break;
    case ELEM_SCALE_ADD:
        for (size_t i = 0; i < n; i++)
            y[i] += j->a * x[i];
        break;
    default:
        break;
    }
}

static void elem_rows(const struct elem_job *j, size_t b, size_t e)
{
    const size_t dim = (size_t)j->dim;
    for (size_t r = b; r < e; r++) {
        const float *x = j->x + r * dim;
        float *y = j->y + r * dim;
        if (j->kind == ELEM_MODULATE)
            for (size_t i = 0; i < dim; i++)
                y[i] = x[i] * (1.0f + j->v1[i]) + j->v2[i];
        else /* ELEM_GATED_ADD: y is the residual stream, x the branch */
            for (size_t i = 0; i < dim; i++)
                y[i] += j->v1[i] * x[i];
    }
}

static void elem_task(void *arg, int ith, int nth)
{
    const struct elem_job *j = arg;
    size_t b, e;
    pool_cpu_range(j->n, ith, nth, &b, &e);
    if (j->kind == ELEM_MODULATE || j->kind == ELEM_GATED_ADD)
        elem_rows(j, b, e);
    else
        elem_flat(j, b, e);
}

static int elem_run(struct cpu_ctx *ctx, struct elem_job *job)
{
    size_t work = job->dim ? job->n * (size_t)job->dim : job->n;
    pool_cpu_run(ctx->pool, elem_task, job, pool_cpu_threads_for(ctx->pool, work, CPU_ELEM_GRAIN));
    return 0;
}

int elem_cpu_gelu_tanh(void *ctx, const float *x, float *y, size_t n, struct df_err *err)
{
    struct elem_job job = {.kind = ELEM_GELU_TANH, .x = x, .y = y, .n = n};
    return elem_run(ctx, &job);
}

int elem_cpu_silu(void *ctx, const float *x, float *y, size_t n, struct df_err *err)
{
    struct elem_job job = {.kind = ELEM_SILU, .x = x, .y = y, .n = n};
    return elem_run(ctx, &job);
}

int elem_cpu_modulate(void *ctx, const float *x, float *y, int rows, int dim, const float *scale,
                      const float *shift, struct df_err *err)
{
    struct elem_job job = {.kind = ELEM_MODULATE,
                           .x = x,
                           .y = y,
                           .v1 = scale,
                           .v2 = shift,
                           .n = (size_t)rows,
                           .dim = dim};
    return elem_run(ctx, &job);
}

int elem_cpu_gated_add(void *ctx, float *x, const float *y, const float *gate, int rows, int dim,
                       struct df_err *err)
{
    struct elem_job job = {
        .kind = ELEM_GATED_ADD, .x = y, .y = x, .v1 = gate, .n = (size_t)rows, .dim = dim};
    return elem_run(ctx, &job);
}

int elem_cpu_add(void *ctx, float *x, const float *y, size_t n, struct df_err *err)
{
    struct elem_job job = {.kind = ELEM_ADD, .x = y, .y = x, .n = n};
    return elem_run(ctx, &job);
}

int elem_cpu_scale_add(void *ctx, float *y, const float *x, float a, size_t n, struct df_err *err)
{
    struct elem_job job = {.kind = ELEM_SCALE_ADD, .x = x, .y = y, .a = a, .n = n};
    return elem_run(ctx, &job);
}
