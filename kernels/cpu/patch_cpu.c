/*
 * patch_cpu.c -- im2col for the patch-embedding Conv3d and its inverse for
 * the output head, over a token range (see kern.h for both column orders).
 *
 * Work is split by token; for each token the inner loop over kw reads (or
 * writes) pw consecutive latent floats, which is as contiguous as the
 * [C, T, H, W] layout allows.
 */
#include "kern_cpu.h"

struct patch_job {
    const float *src;
    float *dst;
    int C, T, H, W, pt, ph, pw;
    int64_t tok_begin, tok_count;
    int inverse; /* 0: latent -> cols, 1: tokens -> latent */
};

static void patch_token(const struct patch_job *j, int64_t row)
{
    const int Hp = j->H / j->ph, Wp = j->W / j->pw;
    int64_t tok = j->tok_begin + row;
    const int x = (int)(tok % Wp), y = (int)(tok / Wp % Hp), f = (int)(tok / ((int64_t)Wp * Hp));
    const size_t ncol = (size_t)j->C * j->pt * j->ph * j->pw;
    const size_t plane = (size_t)j->H * j->W, vol = plane * j->T;
    for (int c = 0; c < j->C; c++)
        for (int kt = 0; kt < j->pt; kt++)
            for (int kh = 0; kh < j->ph; kh++) {
                size_t lat = c * vol + (size_t)(f * j->pt + kt) * plane +
                             (size_t)(y * j->ph + kh) * j->W + (size_t)x * j->pw;
                if (!j->inverse) {
                    float *dst = j->dst + (size_t)row * ncol +
                                 ((size_t)(c * j->pt + kt) * j->ph + kh) * j->pw;
                    for (int kw = 0; kw < j->pw; kw++)
                        dst[kw] = j->src[lat + kw];
                } else {
                    const float *src = j->src + (size_t)row * ncol;
                    for (int kw = 0; kw < j->pw; kw++) {
                        size_t col = ((size_t)(kt * j->ph + kh) * j->pw + kw) * j->C + c;
                        j->dst[lat + kw] = src[col];
                    }
                }
            }
}

static void patch_task(void *arg, int ith, int nth)
{
    const struct patch_job *j = arg;
    size_t b, e;
    pool_cpu_range((size_t)j->tok_count, ith, nth, &b, &e);
    for (size_t r = b; r < e; r++)
        patch_token(j, (int64_t)r);
}

/* Patchify (inverse 0: src latent -> dst cols) or unpatchify (inverse 1). */
static int patch_run(void *ctx, const float *src, float *dst, int C, int T, int H, int W, int pt,
                     int ph, int pw, int64_t tok_begin, int64_t tok_count, int inverse)
{
    struct cpu_ctx *cpu = ctx;
    struct patch_job job = {.src = src, .dst = dst, .C = C, .T = T, .H = H, .W = W,
                            .pt = pt, .ph = ph, .pw = pw, .tok_begin = tok_begin,
                            .tok_count = tok_count, .inverse = inverse};
    size_t work = (size_t)tok_count * C * pt * ph * pw;
    pool_cpu_run(cpu->pool, patch_task, &job, pool_cpu_threads_for(cpu->pool, work, CPU_ELEM_GRAIN));
    return 0;
}

int patch_cpu_patchify(void *ctx, const float *latent, float *cols, int C, int T, int H, int W,
                       int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count,
                       struct df_err *err)
{
    (void)err;
    return patch_run(ctx, latent, cols, C, T, H, W, pt, ph, pw, tok_begin, tok_count, 0);
}

int patch_cpu_unpatchify(void *ctx, const float *tokens, float *latent, int C, int T, int H, int W,
                         int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count,
                         struct df_err *err)
{
    (void)err;
    return patch_run(ctx, tokens, latent, C, T, H, W, pt, ph, pw, tok_begin, tok_count, 1);
}
