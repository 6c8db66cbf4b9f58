/*
 * backend_cpu.c -- the CPU backend's table, context and memory slots.
 *
 * Buffers are plain 64-byte-aligned host memory; weights are fp32 copies.
 * The reference backend: every other backend is checked against it
 * (tests/test_kern_parity.c).
 *
 * Threading: the context owns a pool of n_threads (caller included).  Each
 * op splits its rows over the pool; GEMMs too, each pool thread calling a
 * single-threaded OpenBLAS sgemm on its slice.  That is why create sets
 * OpenBLAS to one thread (a process-wide OpenBLAS setting): the pool and
 * OpenBLAS's own threads then never run at the same time or fight for the
 * cores, and attention can run many small per-head GEMMs side by side.
 */
#include "kern_cpu.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Debian's OpenBLAS declares this in cblas.h; declared here as well so a
 * cblas.h from another BLAS still compiles (the link needs OpenBLAS). */
void openblas_set_num_threads(int num_threads);

static void *aligned_floats(size_t n)
{
    void *p = NULL;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    return posix_memalign(&p, 64, bytes) == 0 ? p : NULL;
}

int cpu_scratch_reserve(struct cpu_ctx *ctx, size_t n, struct df_err *err)
{
    if (n <= ctx->scratch_cap)
        return 0;
    float *p = aligned_floats(n);
    if (p == NULL)
        return df_err_set(err, DF_E_NOMEM, "cpu backend: scratch of %zu floats: out of memory", n);
    free(ctx->scratch);
    ctx->scratch = p;
    ctx->scratch_cap = n;
    return 0;
}

static void cpu_free(void *vctx)
{
    struct cpu_ctx *ctx = vctx;
    if (ctx == NULL)
        return;
    pool_cpu_free(ctx->pool);
    free(ctx->scratch);
    free(ctx);
}

static float *cpu_alloc(void *ctx, size_t n, struct df_err *err)
{
    float *p = aligned_floats(n);
    if (p == NULL)
        df_err_set(err, DF_E_NOMEM, "cpu backend: alloc of %zu floats: out of memory", n);
    return p;
}

static void cpu_release(void *ctx, void *p)
{
    free(p);
}

static int cpu_copy(void *ctx, float *dst, const float *src, size_t n, struct df_err *err)
{
    if (dst != src)
        memmove(dst, src, n * sizeof *dst);
    return 0;
}

static int cpu_zero(void *ctx, float *dst, size_t n, struct df_err *err)
{
    memset(dst, 0, n * sizeof *dst);
    return 0;
}

static int cpu_weight_init(void *ctx, struct kern_weight *w, const float *host, struct df_err *err)
{
    size_t n = (size_t)w->rows * (size_t)w->cols;
    float *data = aligned_floats(n);
    if (data == NULL)
        return df_err_set(err, DF_E_NOMEM, "cpu backend: weight [%d, %d]: out of memory", w->rows,
                          w->cols);
    memcpy(data, host, n * sizeof *data);
    w->data = data;
    return 0;
}

struct bf16_job {
    const uint16_t *src;
    float *dst;
    size_t n;
    size_t bad[64]; /* per thread: index + 1 of its first non-finite value, 0 none */
};

static void bf16_task(void *arg, int ith, int nth)
{
    struct bf16_job *j = arg;
    size_t b, e;
    pool_cpu_range(j->n, ith, nth, &b, &e);
    unsigned bad = 0;
    for (size_t i = b; i < e; i++) {
        uint32_t h = j->src[i], bits = h << 16;
        memcpy(&j->dst[i], &bits, sizeof bits);
        bad |= (h & 0x7f80u) == 0x7f80u;
    }
    j->bad[ith] = 0;
    for (size_t i = b; bad && i < e; i++)
        if ((j->src[i] & 0x7f80u) == 0x7f80u) {
            j->bad[ith] = i + 1;
            break;
        }
}

/* bf16 -> fp32 into the weight's own storage, split over the pool: one pass,
 * no allocation (the host is little-endian, as everywhere in ditfarm). */
static int cpu_weight_load_bf16(void *vctx, struct kern_weight *w, const uint16_t *host,
                                struct df_err *err)
{
    struct cpu_ctx *ctx = vctx;
    struct bf16_job job = {.src = host, .dst = w->data, .n = (size_t)w->rows * (size_t)w->cols};
    int nth = pool_cpu_size(ctx->pool);
    if (nth > 64)
        nth = 64;
    if (job.n < ((size_t)1 << 16))
        nth = 1;
    pool_cpu_run(ctx->pool, bf16_task, &job, nth);
    for (int i = 0; i < nth; i++)
        if (job.bad[i])
            return df_err_set(err, DF_E_INVAL,
                              "kern_weight_load_bf16: value %zu of [%d, %d] is not finite (NaN or "
                              "Inf)",
                              job.bad[i] - 1, w->rows, w->cols);
    return 0;
}

static void cpu_weight_fini(void *ctx, struct kern_weight *w)
{
    free(w->data);
    w->data = NULL;
}

static const struct kern_backend_i cpu_iface = {
    .name = "cpu",
    .free = cpu_free,
    .sync = NULL, /* every op has finished when it returns */
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .weight_init = cpu_weight_init,
    .weight_fini = cpu_weight_fini,
    .weight_load_bf16 = cpu_weight_load_bf16,
    .linear = linear_cpu,
    .layernorm = norm_cpu_layer,
    .rmsnorm = norm_cpu_rms,
    .rope = rope_cpu,
    .linear_gelu = NULL,   /* the reference: kern.c composes the plain ops */
    .norm_modulate = NULL,
    .qk_norm_rope = NULL,
    .attention = attn_cpu,
    .attention_merge = merge_cpu,
    .attention_relbias = attn_cpu_relbias,
    .gelu_tanh = elem_cpu_gelu_tanh,
    .silu = elem_cpu_silu,
    .modulate = elem_cpu_modulate,
    .gated_add = elem_cpu_gated_add,
    .add = elem_cpu_add,
    .scale_add = elem_cpu_scale_add,
    .patchify = patch_cpu_patchify,
    .unpatchify = patch_cpu_unpatchify,
    .im2col_causal = conv_cpu_im2col_causal,
    .upsample2x = conv_cpu_upsample2x,
    .copy_2d = conv_cpu_copy_2d,
};

int kern_cpu_open(int n_threads, int device, const struct kern_backend_i **iface, void **out,
                  struct df_err *err)
{
    (void)device; /* one host */
    if (n_threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = online > 0 ? (int)online : 1;
    }
    struct cpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return df_err_set(err, DF_E_NOMEM, "cpu backend: out of memory");
    int rc = pool_cpu_create(n_threads, &ctx->pool, err);
    if (rc < 0) {
        free(ctx);
        return rc;
    }
    openblas_set_num_threads(1);
    *iface = &cpu_iface;
    *out = ctx;
    return 0;
}
