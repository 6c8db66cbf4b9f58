/*
 * gpucheck_wan.c -- steps 2 and 3: a whole Wan2.1 forward on the backend
 * under test against the CPU fp32 forward on the same (synthetic) weights,
 * and the forward benchmarks against the matmul peak measured in this run.
 *
 * Forward bound: 2e-2 relative L2 over the output when the backend computes
 * in bf16 (the target for the GPU path), 1e-5 when it is fp32.
 *
 * Benchmarks (GPU mode):
 *   wan2.1-1.3b  30 layers, 480p x 81 frames: latent 21 x 60 x 104 =
 *                32,760 tokens, 512 text tokens
 *   wan2.1-14b   the 14B block shape (dim 5120, 40 x 128, FFN 13824), a few
 *                layers, 720p x 81 frames: latent 21 x 90 x 160 = 75,600 tokens
 * Each: one warm-up, then `reps` timed forwards (wan_model_forward: upload,
 * embed, blocks, head, download); best time, TFLOP/s by wan_model_flops()
 * (linears + attention's two matmuls), and the ratio to the matmul peak:
 * cuBLASLt bf16 8192^3 on "cuda" (kern_cuda_gemm_peak), kern_linear 1024^3
 * on "cpu".
 */
#include "gpucheck.h"

#include "kern_build.h"
#include "wan_synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static struct wan_config derive(struct wan_config c)
{
    c.dim = c.num_heads * c.head_dim;
    c.rope_dims[1] = c.rope_dims[2] = 2 * (c.head_dim / 6);
    c.rope_dims[0] = c.head_dim - 2 * c.rope_dims[1];
    return c;
}

struct wan_config gc_wan_1_3b(int layers)
{
    return derive((struct wan_config){.num_layers = layers, .num_heads = 12, .head_dim = 128,
                                      .ffn_dim = 8960, .in_channels = 16, .out_channels = 16,
                                      .text_dim = 4096, .freq_dim = 256, .patch = {1, 2, 2},
                                      .cross_attn_norm = 1, .rope_max_seq_len = 1024,
                                      .eps = 1e-6f});
}

struct wan_config gc_wan_14b(int layers)
{
    struct wan_config c = gc_wan_1_3b(layers);
    c.num_heads = 40;
    c.ffn_dim = 13824;
    return derive(c);
}

struct wan_config gc_wan_tiny(void)
{
    return derive((struct wan_config){.num_layers = 2, .num_heads = 4, .head_dim = 16,
                                      .ffn_dim = 128, .in_channels = 16, .out_channels = 16,
                                      .text_dim = 64, .freq_dim = 256, .patch = {1, 2, 2},
                                      .cross_attn_norm = 1, .rope_max_seq_len = 1024,
                                      .eps = 1e-6f});
}

static size_t latent_floats(int channels, const struct wan_shape *sh)
{
    return (size_t)channels * sh->frames * sh->height * sh->width;
}

/* The check's weights: wan_synth_read's (seeded Gaussian, diffusers-like
 * scales) for the small tensors, and for matrices of >= 1M elements a fast
 * uniform with the same variance (1/fan_in): a 1.3B model's Gaussians take
 * minutes on one core, this takes seconds.  Same name = same values, so the
 * CPU and GPU models of one run hold identical weights. */
struct fast_src {
    struct wan_synth ws;
    int64_t fast_min; /* matrices of at least this many elements take the fast path */
};

static int fast_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                     struct df_err *err)
{
    const struct fast_src *fs = ctx;
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= shape[i];
    if (numel < fs->fast_min || ndim != 2)
        return wan_synth_read((void *)&fs->ws, name, ndim, shape, dst, err);
    uint64_t h = 1469598103934665603ULL; /* FNV-1a of the name: the stream */
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    const float a = sqrtf(3.0f / (float)shape[1]); /* U(-a, a) has variance 1/fan_in */
    uint64_t x = h | 1;
    for (int64_t i = 0; i < numel; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        const float u = (float)((x * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f;
        dst[i] = a * (2.0f * u - 1.0f);
    }
    return 0;
}

/* A model with the check's synthetic weights on `be`, reserved for `sh`
 * (--cpu: the fast path from 4096 elements, so CI runs both paths). */
static int make_model(struct gc *g, kern_backend_t be, const struct wan_config *c,
                      const struct wan_shape *sh, struct wan_model **m, struct df_err *err)
{
    struct fast_src fs = {.ws = {.seed = 1}, .fast_min = g->cpu_mode ? 4096 : 1 << 20};
    struct wan_tensor_source src = {fast_read, &fs};
    DF_TRY(wan_model_create(be, c, &src, m, err));
    int rc = wan_model_reserve(*m, sh, err);
    if (rc < 0) {
        wan_model_free(*m);
        *m = NULL;
    }
    return rc;
}

/* One forward of `m` on random inputs; out gets the output latent. */
static int forward(struct wan_model *m, const struct wan_config *c, const struct wan_shape *sh,
                   const float *latent, const float *text, float *out, struct df_err *err)
{
    (void)c;
    return wan_model_forward(m, sh, latent, 700.0f, text, out, err);
}

int gc_forward(struct gc *g)
{
    struct wan_config c = g->cpu_mode ? gc_wan_tiny() : gc_wan_1_3b(30);
    struct wan_shape sh = g->cpu_mode
                              ? (struct wan_shape){.frames = 3, .height = 8, .width = 12,
                                                   .text_len = 7}
                              : (struct wan_shape){.frames = 4, .height = 16, .width = 16,
                                                   .text_len = 64};
    char what[96];
    snprintf(what, sizeof what, "forward %s %d layers, %lld tokens",
             g->cpu_mode ? "tiny" : "wan2.1-1.3b", c.num_layers,
             (long long)(sh.frames * sh.height * sh.width / 4));
    struct df_err err = {0};
    size_t nl = latent_floats(c.in_channels, &sh), no = latent_floats(c.out_channels, &sh);
    size_t nt = (size_t)sh.text_len * c.text_dim;
    float *lat = malloc(nl * sizeof *lat), *text = malloc(nt * sizeof *text);
    float *want = calloc(no, sizeof *want), *got = calloc(no, sizeof *got);
    struct wan_model *mr = NULL, *md = NULL;
    int rc = lat && text && want && got ? 0 : df_err_set(&err, DF_E_NOMEM, "out of memory");
    if (rc == 0) {
        gc_fill(g, lat, nl, -1, 1);
        gc_fill(g, text, nt, -1, 1);
        rc = make_model(g, g->ref, &c, &sh, &mr, &err);
    }
    if (rc == 0)
        rc = forward(mr, &c, &sh, lat, text, want, &err);
    wan_model_free(mr);
    if (rc == 0)
        rc = make_model(g, g->dut, &c, &sh, &md, &err);
    if (rc == 0)
        rc = forward(md, &c, &sh, lat, text, got, &err);
    wan_model_free(md);
    if (rc < 0)
        gc_error(g, what, err.msg);
    else
        gc_verdict(g, what, gc_rel_l2(got, want, no), g->bf16 ? 2e-2 : 1e-5);
    free(lat), free(text), free(want), free(got);
    return 0;
}

/* The matmul peak of the backend under test, TFLOP/s. */
static double matmul_peak(struct gc *g, struct df_err *err)
{
#ifdef DITFARM_HAVE_CUDA
    if (!g->cpu_mode) {
        double tf = 0.0;
        if (kern_cuda_gemm_peak(8192, 10, &tf, err) < 0)
            return -1.0;
        return tf;
    }
#endif
    const int n = 1024;
    float *x = kern_alloc(g->dut, (size_t)n * n, err), *y = kern_alloc(g->dut, (size_t)n * n, err);
    float *h = malloc((size_t)n * n * sizeof *h);
    struct kern_weight *w = NULL;
    double best = INFINITY;
    int rc = x && y && h ? 0 : -1;
    if (rc == 0) {
        gc_fill(g, h, (size_t)n * n, -1, 1);
        rc = kern_upload(g->dut, x, h, (size_t)n * n, err);
    }
    if (rc == 0)
        rc = kern_weight_create(g->dut, h, n, n, &w, err);
    for (int r = 0; rc == 0 && r < 4; r++) {
        double t0 = gc_now();
        rc = kern_linear(g->dut, x, w, NULL, y, n, n, n, err);
        if (rc == 0)
            rc = kern_sync(g->dut, err);
        double dt = gc_now() - t0;
        best = r > 0 && dt < best ? dt : best; /* r == 0 warms up */
    }
    kern_weight_free(g->dut, w);
    kern_release(g->dut, x);
    kern_release(g->dut, y);
    free(h);
    return rc < 0 ? -1.0 : 2.0 * n * n * (double)n / best / 1e12;
}

static void bench_case(struct gc *g, const char *name, const struct wan_config *c,
                       const struct wan_shape *sh, double peak)
{
    struct df_err err = {0};
    struct wan_model *m = NULL;
    size_t nl = latent_floats(c->in_channels, sh), no = latent_floats(c->out_channels, sh);
    size_t nt = (size_t)sh->text_len * c->text_dim;
    float *lat = malloc(nl * sizeof *lat), *text = malloc(nt * sizeof *text);
    float *out = calloc(no, sizeof *out);
    int rc = lat && text && out ? 0 : df_err_set(&err, DF_E_NOMEM, "out of memory");
    if (rc == 0) {
        gc_fill(g, lat, nl, -1, 1);
        gc_fill(g, text, nt, -1, 1);
        rc = make_model(g, g->dut, c, sh, &m, &err);
    }
    double best = INFINITY, sum = 0.0;
    int reps = g->reps, timed = 0;
    for (int r = 0; rc == 0 && r <= reps; r++) { /* r == 0 warms up */
        double t0 = gc_now();
        rc = forward(m, c, sh, lat, text, out, &err);
        double dt = gc_now() - t0;
        if (r == 0 && dt > 20.0) { /* far off the target: keep the 8-minute budget */
            best = sum = dt;
            timed = 1;
            printf("gpucheck: bench %s: warm-up took %.1f s, reporting it (no timed runs)\n",
                   name, dt);
            break;
        }
        if (r > 0) {
            best = dt < best ? dt : best;
            sum += dt;
            timed++;
        }
    }
    if (rc < 0) {
        gc_error(g, name, err.msg);
    } else {
        long long S = (long long)(sh->frames / c->patch[0]) * (sh->height / c->patch[1]) *
                      (sh->width / c->patch[2]);
        double tf = wan_model_flops(c, sh) / best / 1e12;
        printf("gpucheck: bench %s layers=%d tokens=%lld text=%d time_ms=%.1f mean_ms=%.1f "
               "TFLOP/s=%.3g peak_pct=%.1f\n",
               name, c->num_layers, S, sh->text_len, best * 1e3, sum / timed * 1e3, tf,
               100.0 * tf / peak);
        fflush(stdout);
    }
    wan_model_free(m);
    free(lat), free(text), free(out);
}

/* Self-attention alone at the 1.3B's head shape, S tokens: cuDNN's SDPA
 * (the dut) against our fp32 kernel (a second cuda backend opened with
 * DITFARM_CUDA_ATTN=own), best of 3 each after a warm-up. */
static void bench_attention(struct gc *g, int S)
{
#ifdef DITFARM_HAVE_CUDA
    const int H = 12, D = 128;
    const size_t n = (size_t)S * H * D;
    struct df_err err = {0};
    kern_backend_t own = NULL;
    setenv("DITFARM_CUDA_ATTN", "own", 1);
    int rc = kern_backend_create("cuda", 0, &own, &err);
    unsetenv("DITFARM_CUDA_ATTN");
    kern_backend_t bes[2] = {g->dut, own};
    double ms[2] = {0, 0};
    float *h = malloc(n * sizeof *h);
    for (int b = 0; rc == 0 && b < 2; b++) {
        float *q = kern_alloc(bes[b], n, &err), *k = kern_alloc(bes[b], n, &err);
        float *v = kern_alloc(bes[b], n, &err), *o = kern_alloc(bes[b], n, &err);
        rc = q && k && v && o && h ? 0 : DF_E_NOMEM;
        if (rc == 0) {
            gc_fill(g, h, n, -1, 1);
            rc = kern_upload(bes[b], q, h, n, &err);
        }
        if (rc == 0)
            rc = kern_upload(bes[b], k, h, n, &err);
        if (rc == 0)
            rc = kern_upload(bes[b], v, h, n, &err);
        double best = INFINITY;
        for (int r = 0; rc == 0 && r < 4; r++) {
            double t0 = gc_now();
            rc = kern_attention(bes[b], q, k, v, o, NULL, S, S, H, D, S, 1.0f / sqrtf((float)D),
                                &err);
            if (rc == 0)
                rc = kern_sync(bes[b], &err);
            double dt = gc_now() - t0;
            if (r > 0 && dt < best)
                best = dt;
        }
        ms[b] = best * 1e3;
        kern_release(bes[b], q), kern_release(bes[b], k), kern_release(bes[b], v);
        kern_release(bes[b], o);
    }
    free(h);
    kern_backend_free(own);
    if (rc < 0) {
        gc_error(g, "bench attention", err.msg[0] ? err.msg : "out of memory");
        return;
    }
    const double tf = 4.0 * S * (double)S * H * D / 1e12;
    printf("gpucheck: bench attention S=%d H=%d D=%d: backend %.2f ms (%.1f TFLOP/s), our fp32 "
           "kernel %.2f ms (%.1f TFLOP/s), ratio %.1fx\n",
           S, H, D, ms[0], tf / (ms[0] * 1e-3), ms[1], tf / (ms[1] * 1e-3), ms[1] / ms[0]);
    fflush(stdout);
#else
    (void)g, (void)S;
#endif
}

int gc_bench(struct gc *g)
{
    struct df_err err = {0};
    double peak = matmul_peak(g, &err);
    if (peak <= 0.0) {
        gc_error(g, "bench matmul peak", err.msg);
        return -1;
    }
    printf("gpucheck: peak %s matmul TFLOP/s=%.3g\n",
           g->cpu_mode ? "cpu fp32 kern_linear 1024^3" : "cuBLASLt bf16 8192^3", peak);
    fflush(stdout);
    if (g->cpu_mode) {
        struct wan_config c = gc_wan_tiny();
        struct wan_shape sh = {.frames = 4, .height = 16, .width = 16, .text_len = 16};
        bench_case(g, "wan-tiny", &c, &sh, peak);
        return 0;
    }
    bench_attention(g, 8192);
    struct wan_config c13 = gc_wan_1_3b(30), c14 = gc_wan_14b(4);
    struct wan_shape s480 = {.frames = 21, .height = 60, .width = 104, .text_len = 512};
    struct wan_shape s720 = {.frames = 21, .height = 90, .width = 160, .text_len = 512};
    bench_case(g, "wan2.1-1.3b-480p", &c13, &s480, peak);
    bench_case(g, "wan2.1-14b-shape-720p", &c14, &s720, peak);
    return 0;
}
