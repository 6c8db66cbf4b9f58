/*
 * attn_cpu.c -- multi-head attention with LSE output, time spent in sgemm.
 *
 * Work unit: one head × one block of Mb queries.  For a unit the full score
 * block against all valid keys is formed at once,
 *     Sc[Mb, Skv] = scale · Q_blk · K_hᵀ          (sgemm, K = D)
 * then each row gets an exact softmax (max-subtracted exp, fp32 sum in
 * lanes -- no online rescaling is needed since the row is complete), and
 *     O_blk = P · V_h                              (sgemm, K = Skv)
 * is scaled by 1/rowsum afterwards (D multiplies per row, not Skv).
 * Memory is O(Mb·Skv + 2·Skv·D) per thread (the context's scratch); Mb
 * shrinks as Skv grows so a block stays a few MiB.  q is read in place
 * with leading dimension H·D.  K_h and V_h are first copied to contiguous
 * [Skv, D] panels once per head and thread: read in place, each of their
 * rows sits on its own 4 KiB page (stride H·D floats), and at Skv = 4096
 * the TLB misses cost a third of the throughput; the copy is Skv·D floats
 * against Mb·Skv·D·4 flops per unit.
 *
 * Units are split over the pool in contiguous head-major ranges, so a
 * thread keeps reusing one head's K and V; each thread calls a
 * single-threaded sgemm (see backend_cpu.c).
 *
 * The T5 variant (attn_cpu_relbias) is the same loop with one more pass: the
 * head's bias for query i is the slice rel_bias[h, Sq−1−i ..] of its
 * per-distance table, added to the score row before the softmax.
 */
#include "kern_cpu.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "vmath_cpu.h"

/* OpenBLAS re-packs the K/V panel on every call, a cost that falls as 1/Mb;
 * 4 MiB score blocks (Mb = 256 at Skv = 4096) measured best on the dev VM
 * against 1 MiB (-10%) and 8 MiB (-8%).  They live in L3, not L2: the
 * softmax pass streams them once, which L3 serves fast enough. */
#ifndef ATTN_MB_MAX
#define ATTN_MB_MAX 256
#endif
#define ATTN_MB_MIN 16
#ifndef ATTN_BLOCK_FLOATS
#define ATTN_BLOCK_FLOATS ((size_t)1 << 20) /* 4 MiB of scores per thread */
#endif

struct attn_job {
    const float *q, *k, *v;
    float *o, *lse;
    float *scratch; /* nth blocks of (Mb + 2·D)·sk_valid floats */
    const float *rel_bias; /* [H, Sq + sk_valid − 1] (T5) or NULL */
    int Sq, H, D, sk_valid, mb, n_qblk;
    float scale;
};

static int attn_block_rows(int sk_valid)
{
    size_t mb = ATTN_BLOCK_FLOATS / (size_t)sk_valid;
    if (mb > ATTN_MB_MAX)
        mb = ATTN_MB_MAX;
    mb &= ~(size_t)(ATTN_MB_MIN - 1);
    return mb < ATTN_MB_MIN ? ATTN_MB_MIN : (int)mb;
}

/* Copy head h of a [skv, H, D] tensor to a contiguous [skv, D] panel. */
static void pack_head(const struct attn_job *j, const float *src, int h, float *dst)
{
    const size_t ld = (size_t)j->H * j->D, D = (size_t)j->D;
    for (size_t r = 0; r < (size_t)j->sk_valid; r++)
        memcpy(dst + r * D, src + r * ld + (size_t)h * D, D * sizeof *dst);
}

/* One head × query block; kp/vp are the head's packed K and V panels. */
static void attn_unit(const struct attn_job *j, int h, int q0, int mq, const float *kp,
                      const float *vp, float *sc)
{
    const int ld = j->H * j->D, skv = j->sk_valid, D = j->D;
    float inv_sum[ATTN_MB_MAX];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mq, skv, D, j->scale,
                j->q + (size_t)q0 * ld + (size_t)h * D, ld, kp, D, 0.0f, sc, skv);
    for (int r = 0; r < mq; r++) {
        float *row = sc + (size_t)r * skv;
        if (j->rel_bias) {
            const float *b = j->rel_bias + (size_t)h * (j->Sq + skv - 1) + (j->Sq - 1 - (q0 + r));
            for (int c = 0; c < skv; c++)
                row[c] += b[c];
        }
        float m = vmath_cpu_max(row, (size_t)skv);
        float sum = vmath_cpu_exp_sum(row, (size_t)skv, m);
        inv_sum[r] = 1.0f / sum;
        if (j->lse)
            j->lse[(size_t)h * j->Sq + q0 + r] = m + logf(sum);
    }
    float *o = j->o + (size_t)q0 * ld + (size_t)h * D;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mq, D, skv, 1.0f, sc, skv, vp, D, 0.0f,
                o, ld);
    for (int r = 0; r < mq; r++)
        vmath_cpu_scale(o + (size_t)r * ld, (size_t)D, inv_sum[r]);
}

static void attn_task(void *arg, int ith, int nth)
{
    const struct attn_job *j = arg;
    const size_t panel = (size_t)j->sk_valid * j->D;
    float *sc = j->scratch + (size_t)ith * ((size_t)j->mb * j->sk_valid + 2 * panel);
    float *kp = sc + (size_t)j->mb * j->sk_valid, *vp = kp + panel;
    size_t b, e;
    int packed = -1; /* head whose panels kp/vp hold */
    pool_cpu_range((size_t)j->H * j->n_qblk, ith, nth, &b, &e);
    for (size_t u = b; u < e; u++) {
        int h = (int)(u / j->n_qblk), q0 = (int)(u % j->n_qblk) * j->mb;
        int mq = j->Sq - q0 < j->mb ? j->Sq - q0 : j->mb;
        if (h != packed) {
            pack_head(j, j->k, h, kp);
            pack_head(j, j->v, h, vp);
            packed = h;
        }
        attn_unit(j, h, q0, mq, kp, vp, sc);
    }
}

static int attn_run(struct cpu_ctx *ctx, struct attn_job job, int Sk, struct df_err *err);

int attn_cpu(void *vctx, const float *q, const float *k, const float *v, float *o, float *lse,
             int Sq, int Sk, int H, int D, int sk_valid, float scale, struct df_err *err)
{
    struct attn_job job = {.q = q,
                           .k = k,
                           .v = v,
                           .o = o,
                           .lse = lse,
                           .Sq = Sq,
                           .H = H,
                           .D = D,
                           .sk_valid = sk_valid,
                           .scale = scale};
    return attn_run(vctx, job, Sk, err);
}

int attn_cpu_relbias(void *vctx, const float *q, const float *k, const float *v, float *o, int Sq,
                     int Sk, int H, int D, float scale, const float *rel_bias, struct df_err *err)
{
    struct attn_job job = {
        .q = q, .k = k, .v = v, .o = o, .Sq = Sq, .H = H, .D = D, .sk_valid = Sk, .scale = scale,
        .rel_bias = rel_bias};
    return attn_run(vctx, job, Sk, err);
}

static int attn_run(struct cpu_ctx *ctx, struct attn_job job, int Sk, struct df_err *err)
{
    const int Sq = job.Sq, H = job.H, D = job.D, sk_valid = job.sk_valid;
    job.mb = attn_block_rows(sk_valid);
    if (job.mb > Sq)
        job.mb = Sq;
    job.n_qblk = (Sq + job.mb - 1) / job.mb;
    size_t units = (size_t)H * job.n_qblk;
    int nth = pool_cpu_size(ctx->pool);
    if ((size_t)nth > units)
        nth = (int)units;
    size_t per_thread = ((size_t)job.mb + 2 * (size_t)D) * (size_t)sk_valid;
    int rc = cpu_scratch_reserve(ctx, (size_t)nth * per_thread, err);
    if (rc < 0) {
        df_err_prefix(err, "kern_attention%s(Sq=%d, Sk=%d, H=%d, D=%d)",
                      job.rel_bias ? "_relbias" : "", Sq, Sk, H, D);
        return rc;
    }
    job.scratch = ctx->scratch;
    pool_cpu_run(ctx->pool, attn_task, &job, nth);
    return 0;
}
