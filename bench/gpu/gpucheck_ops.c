/*
 * gpucheck_ops.c -- step 1: every op of kern.h on the backend under test
 * against the CPU reference, with fresh random inputs for each op and the
 * outputs poisoned with NaN first (an element the op forgets to write fails).
 *
 * Bounds (relative L2 over the whole output):
 *   fp32 ops (norms, RoPE, elementwise, patch/conv copies, merge): 1e-5
 *   ops whose operands the backend rounds to bf16 (linear, attention on
 *   "cuda"): 1e-2, i.e. a few units of bf16's 2^-8 relative step after
 *   fp32 accumulation; 1e-5 when the backend is fp32 (--cpu).
 */
#include "gpucheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOUND_F32 1e-5
#define BOUND_BF16 1e-2

/* One tensor on the host and in both backends. */
struct pair {
    float *host, *ref, *dut;
    size_t n;
};

struct opctx {
    struct gc *g;
    struct df_err err;
    struct pair bufs[12];
    int nbufs;
    int failed; /* a kern call failed: verdict is an ERROR */
};

static struct pair *alloc_pair(struct opctx *o, size_t n)
{
    if (o->failed || o->nbufs == (int)(sizeof o->bufs / sizeof o->bufs[0])) {
        o->failed = 1;
        return NULL;
    }
    struct pair *p = &o->bufs[o->nbufs++];
    p->n = n;
    p->host = malloc(n * sizeof *p->host);
    p->ref = kern_alloc(o->g->ref, n, &o->err);
    p->dut = p->ref ? kern_alloc(o->g->dut, n, &o->err) : NULL;
    if (!p->host || !p->ref || !p->dut)
        o->failed = 1;
    return o->failed ? NULL : p;
}

/* Fresh random input, the same on both backends. */
static struct pair *in(struct opctx *o, size_t n, float lo, float hi)
{
    struct pair *p = alloc_pair(o, n);
    if (!p)
        return NULL;
    gc_fill(o->g, p->host, n, lo, hi);
    if (kern_upload(o->g->ref, p->ref, p->host, n, &o->err) < 0 ||
        kern_upload(o->g->dut, p->dut, p->host, n, &o->err) < 0)
        o->failed = 1;
    return o->failed ? NULL : p;
}

/* Output poisoned with NaN on both backends. */
static struct pair *out(struct opctx *o, size_t n)
{
    struct pair *p = alloc_pair(o, n);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++)
        p->host[i] = NAN;
    if (kern_upload(o->g->ref, p->ref, p->host, n, &o->err) < 0 ||
        kern_upload(o->g->dut, p->dut, p->host, n, &o->err) < 0)
        o->failed = 1;
    return o->failed ? NULL : p;
}

static void note(struct opctx *o, int rc)
{
    if (rc < 0)
        o->failed = 1;
}

/* Compare p on both backends, print the verdict, free everything. */
static void finish(struct opctx *o, const char *what, struct pair *p, int bf16)
{
    struct gc *g = o->g;
    if (!o->failed && p) {
        float *want = malloc(p->n * sizeof *want);
        if (want && kern_download(g->ref, want, p->ref, p->n, &o->err) == 0 &&
            kern_download(g->dut, p->host, p->dut, p->n, &o->err) == 0)
            gc_verdict(g, what, gc_rel_l2(p->host, want, p->n),
                       bf16 && g->bf16 ? BOUND_BF16 : BOUND_F32);
        else
            o->failed = 1;
        free(want);
    }
    if (o->failed)
        gc_error(g, what, o->err.msg[0] ? o->err.msg : "out of memory");
    for (int i = 0; i < o->nbufs; i++) {
        free(o->bufs[i].host);
        kern_release(g->ref, o->bufs[i].ref);
        kern_release(g->dut, o->bufs[i].dut);
    }
    memset(o->bufs, 0, sizeof o->bufs);
    o->nbufs = 0;
    o->failed = 0;
    df_err_clear(&o->err);
}

/* Run `call` on both backends: expr uses B (backend) and the side X (ref/dut). */
#define BOTH(o, expr)                                                                              \
    do {                                                                                           \
        if (!(o)->failed) {                                                                        \
            kern_backend_t B = (o)->g->ref;                                                        \
            int side_ref = 1;                                                                      \
            note((o), (expr));                                                                     \
            B = (o)->g->dut;                                                                       \
            side_ref = 0;                                                                          \
            if (!(o)->failed)                                                                      \
                note((o), (expr));                                                                 \
        }                                                                                          \
    } while (0)
#define X(p) (side_ref ? (p)->ref : (p)->dut)

static void op_linear(struct opctx *o, int M, int K, int N, int bias)
{
    char what[96];
    snprintf(what, sizeof what, "op linear M=%d K=%d N=%d%s", M, K, N, bias ? " +bias" : "");
    struct pair *x = in(o, (size_t)M * K, -1, 1), *b = in(o, (size_t)N, -1, 1);
    struct pair *y = out(o, (size_t)M * N);
    float *wh = malloc((size_t)N * K * sizeof *wh);
    struct kern_weight *wr = NULL, *wd = NULL;
    if (!o->failed && wh) {
        gc_fill(o->g, wh, (size_t)N * K, -0.05f, 0.05f);
        note(o, kern_weight_create(o->g->ref, wh, N, K, &wr, &o->err));
        if (!o->failed)
            note(o, kern_weight_create(o->g->dut, wh, N, K, &wd, &o->err));
    }
    BOTH(o, kern_linear(B, X(x), side_ref ? wr : wd, bias ? X(b) : NULL, X(y), M, K, N, &o->err));
    finish(o, what, y, 1);
    kern_weight_free(o->g->ref, wr);
    kern_weight_free(o->g->dut, wd);
    free(wh);
}

static void op_linear_gelu(struct opctx *o, int M, int K, int N)
{
    char what[96];
    snprintf(what, sizeof what, "op linear_gelu M=%d K=%d N=%d +bias", M, K, N);
    struct pair *x = in(o, (size_t)M * K, -1, 1), *b = in(o, (size_t)N, -1, 1);
    struct pair *y = out(o, (size_t)M * N);
    float *wh = malloc((size_t)N * K * sizeof *wh);
    struct kern_weight *wr = NULL, *wd = NULL;
    if (!o->failed && wh) {
        gc_fill(o->g, wh, (size_t)N * K, -0.1f, 0.1f);
        note(o, kern_weight_create(o->g->ref, wh, N, K, &wr, &o->err));
        if (!o->failed)
            note(o, kern_weight_create(o->g->dut, wh, N, K, &wd, &o->err));
    }
    BOTH(o, kern_linear_gelu(B, X(x), side_ref ? wr : wd, X(b), X(y), M, K, N, &o->err));
    finish(o, what, y, 1);
    kern_weight_free(o->g->ref, wr);
    kern_weight_free(o->g->dut, wd);
    free(wh);
}

/* The fused norm forms against the reference's composition of plain ops. */
static void op_fused_norms(struct opctx *o, int rows, int H, int D)
{
    char what[96];
    const int dim = H * D;
    struct pair *x = in(o, (size_t)rows * dim, -2, 2), *sc = in(o, (size_t)dim, -1, 1);
    struct pair *sh = in(o, (size_t)dim, -1, 1), *y = out(o, (size_t)rows * dim);
    BOTH(o, kern_norm_modulate(B, X(x), X(y), rows, dim, 1e-6f, X(sc), X(sh), &o->err));
    snprintf(what, sizeof what, "op norm_modulate rows=%d dim=%d", rows, dim);
    finish(o, what, y, 0);
    x = in(o, (size_t)rows * dim, -2, 2);
    struct pair *ga = in(o, (size_t)dim, 0.5f, 1.5f);
    struct pair *c = in(o, (size_t)rows * D / 2, -1, 1), *sn = in(o, (size_t)rows * D / 2, -1, 1);
    BOTH(o, kern_qk_norm_rope(B, X(x), rows, H, D, 1e-6f, X(ga), X(c), X(sn), &o->err));
    snprintf(what, sizeof what, "op qk_norm_rope S=%d H=%d D=%d", rows, H, D);
    finish(o, what, x, 0);
}

static void op_norms(struct opctx *o, int rows, int dim)
{
    char what[96];
    struct pair *x = in(o, (size_t)rows * dim, -2, 2), *ga = in(o, (size_t)dim, 0.5f, 1.5f);
    struct pair *be = in(o, (size_t)dim, -1, 1), *y = out(o, (size_t)rows * dim);
    BOTH(o, kern_layernorm(B, X(x), X(y), rows, dim, 1e-6f, X(ga), X(be), &o->err));
    snprintf(what, sizeof what, "op layernorm rows=%d dim=%d", rows, dim);
    finish(o, what, y, 0);
    x = in(o, (size_t)rows * dim, -2, 2), ga = in(o, (size_t)dim, 0.5f, 1.5f);
    y = out(o, (size_t)rows * dim);
    BOTH(o, kern_rmsnorm(B, X(x), X(y), rows, dim, 1e-6f, X(ga), &o->err));
    snprintf(what, sizeof what, "op rmsnorm rows=%d dim=%d", rows, dim);
    finish(o, what, y, 0);
}

static void op_rope(struct opctx *o, int S, int H, int D)
{
    char what[96];
    snprintf(what, sizeof what, "op rope S=%d H=%d D=%d", S, H, D);
    struct pair *x = in(o, (size_t)S * H * D, -1, 1);
    struct pair *c = in(o, (size_t)S * D / 2, -1, 1), *s = in(o, (size_t)S * D / 2, -1, 1);
    BOTH(o, kern_rope(B, X(x), S, H, D, X(c), X(s), &o->err));
    finish(o, what, x, 0);
}

static void op_attention(struct opctx *o, int Sq, int Sk, int H, int D, int skv)
{
    char what[96];
    const float scale = 1.0f / sqrtf((float)D);
    struct pair *q = in(o, (size_t)Sq * H * D, -2, 2), *k = in(o, (size_t)Sk * H * D, -2, 2);
    struct pair *v = in(o, (size_t)Sk * H * D, -1, 1), *y = out(o, (size_t)Sq * H * D);
    struct pair *lse = out(o, (size_t)H * Sq);
    BOTH(o, kern_attention(B, X(q), X(k), X(v), X(y), X(lse), Sq, Sk, H, D, skv, scale, &o->err));
    snprintf(what, sizeof what, "op attention Sq=%d Sk=%d(%d) H=%d D=%d", Sq, Sk, skv, H, D);
    /* lse first (finish frees every buffer): compare it by hand. */
    if (!o->failed) {
        size_t n = (size_t)H * Sq;
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        if (a && b && kern_download(o->g->ref, a, lse->ref, n, &o->err) == 0 &&
            kern_download(o->g->dut, b, lse->dut, n, &o->err) == 0) {
            char w2[112];
            snprintf(w2, sizeof w2, "%s lse", what);
            gc_verdict(o->g, w2, gc_rel_l2(b, a, n), o->g->bf16 ? BOUND_BF16 : BOUND_F32);
        }
        free(a), free(b);
    }
    finish(o, what, y, 1);
}

static void op_relbias(struct opctx *o, int Sq, int Sk, int H, int D)
{
    char what[96];
    snprintf(what, sizeof what, "op attention_relbias Sq=%d Sk=%d H=%d D=%d", Sq, Sk, H, D);
    struct pair *q = in(o, (size_t)Sq * H * D, -1, 1), *k = in(o, (size_t)Sk * H * D, -1, 1);
    struct pair *v = in(o, (size_t)Sk * H * D, -1, 1), *y = out(o, (size_t)Sq * H * D);
    struct pair *rb = in(o, (size_t)H * (Sq + Sk - 1), -2, 2);
    BOTH(o, kern_attention_relbias(B, X(q), X(k), X(v), X(y), Sq, Sk, H, D, 1.0f, X(rb),
                                   &o->err));
    finish(o, what, y, 0);
}

static void op_merge(struct opctx *o, int Sq, int H, int D)
{
    char what[96];
    snprintf(what, sizeof what, "op attention_merge Sq=%d H=%d D=%d", Sq, H, D);
    struct pair *y = in(o, (size_t)Sq * H * D, -1, 1), *l = in(o, (size_t)H * Sq, -3, 3);
    struct pair *y2 = in(o, (size_t)Sq * H * D, -1, 1), *l2 = in(o, (size_t)H * Sq, -3, 3);
    BOTH(o, kern_attention_merge(B, X(y), X(l), X(y2), X(l2), Sq, H, D, &o->err));
    finish(o, what, y, 0);
}

static void op_elementwise(struct opctx *o, int rows, int dim)
{
    const size_t n = (size_t)rows * dim;
    char what[96];
    struct pair *x = in(o, n, -4, 4), *y = out(o, n);
    BOTH(o, kern_gelu_tanh(B, X(x), X(y), n, &o->err));
    snprintf(what, sizeof what, "op gelu_tanh n=%zu", n);
    finish(o, what, y, 0);
    x = in(o, n, -4, 4), y = out(o, n);
    BOTH(o, kern_silu(B, X(x), X(y), n, &o->err));
    snprintf(what, sizeof what, "op silu n=%zu", n);
    finish(o, what, y, 0);
    x = in(o, n, -2, 2), y = out(o, n);
    struct pair *sc = in(o, (size_t)dim, -1, 1), *sh = in(o, (size_t)dim, -1, 1);
    BOTH(o, kern_modulate(B, X(x), X(y), rows, dim, X(sc), X(sh), &o->err));
    snprintf(what, sizeof what, "op modulate rows=%d dim=%d", rows, dim);
    finish(o, what, y, 0);
    x = in(o, n, -2, 2), y = in(o, n, -2, 2), sc = in(o, (size_t)dim, -1, 1);
    BOTH(o, kern_gated_add(B, X(x), X(y), X(sc), rows, dim, &o->err));
    snprintf(what, sizeof what, "op gated_add rows=%d dim=%d", rows, dim);
    finish(o, what, x, 0);
    x = in(o, n, -2, 2), y = in(o, n, -2, 2);
    BOTH(o, kern_add(B, X(x), X(y), n, &o->err));
    snprintf(what, sizeof what, "op add n=%zu", n);
    finish(o, what, x, 0);
    x = in(o, n, -2, 2), y = in(o, n, -2, 2);
    BOTH(o, kern_scale_add(B, X(y), X(x), -0.37f, n, &o->err));
    snprintf(what, sizeof what, "op scale_add n=%zu", n);
    finish(o, what, y, 0);
}

static void op_patch(struct opctx *o, int C, int T, int H, int W)
{
    char what[96];
    const int pt = 1, ph = 2, pw = 2, P = pt * ph * pw;
    const int64_t ntok = (int64_t)(T / pt) * (H / ph) * (W / pw), b = ntok / 3, cnt = ntok - b;
    const size_t lat = (size_t)C * T * H * W;
    struct pair *l = in(o, lat, -1, 1), *cols = out(o, (size_t)cnt * C * P);
    BOTH(o, kern_patchify(B, X(l), X(cols), C, T, H, W, pt, ph, pw, b, cnt, &o->err));
    snprintf(what, sizeof what, "op patchify C=%d T=%d H=%d W=%d", C, T, H, W);
    finish(o, what, cols, 0);
    /* unpatchify writes only its tokens: start from the same zero latent */
    struct pair *t = in(o, (size_t)cnt * C * P, -1, 1), *lo = in(o, lat, 0, 0);
    BOTH(o, kern_unpatchify(B, X(t), X(lo), C, T, H, W, pt, ph, pw, b, cnt, &o->err));
    snprintf(what, sizeof what, "op unpatchify C=%d T=%d H=%d W=%d", C, T, H, W);
    finish(o, what, lo, 0);
}

static void op_conv(struct opctx *o, int H, int W, int C)
{
    char what[96];
    const size_t fr = (size_t)H * W * C;
    struct pair *f0 = in(o, fr, -1, 1), *f1 = in(o, fr, -1, 1);
    const int y0 = 1, y1 = H - 1;
    struct pair *cols = out(o, (size_t)(y1 - y0) * W * C * 3 * 9);
    BOTH(o, kern_im2col_causal(B, (const float *const[]){NULL, X(f0), X(f1)}, 3, H, W, C, 3, 3, y0,
                               y1, X(cols), &o->err));
    snprintf(what, sizeof what, "op im2col_causal H=%d W=%d C=%d kt=3", H, W, C);
    finish(o, what, cols, 0);
    struct pair *x = in(o, 2 * fr, -1, 1), *y = out(o, 8 * fr);
    BOTH(o, kern_upsample2x(B, X(x), X(y), 2, H, W, C, &o->err));
    snprintf(what, sizeof what, "op upsample2x H=%d W=%d C=%d", H, W, C);
    finish(o, what, y, 0);
    x = in(o, (size_t)H * 3 * C, -1, 1), y = out(o, (size_t)H * C);
    BOTH(o, kern_copy_2d(B, X(y), (size_t)C, X(x) + C, (size_t)3 * C, (size_t)H, (size_t)C,
                         &o->err));
    snprintf(what, sizeof what, "op copy_2d rows=%d cols=%d", H, C);
    finish(o, what, y, 0);
}

int gc_ops(struct gc *g)
{
    struct opctx o = {.g = g};
    if (g->cpu_mode) {
        op_linear(&o, 37, 48, 40, 1);
        op_linear(&o, 5, 64, 24, 0);
        op_linear_gelu(&o, 29, 48, 72);
        op_norms(&o, 33, 64);
        op_fused_norms(&o, 31, 4, 16);
        op_rope(&o, 29, 4, 16);
        op_attention(&o, 45, 45, 4, 16, 45);
        op_attention(&o, 21, 50, 2, 32, 37);
        op_merge(&o, 23, 4, 16);
        op_relbias(&o, 19, 19, 2, 16);
        op_elementwise(&o, 19, 96);
        op_patch(&o, 4, 3, 8, 12);
        op_conv(&o, 6, 10, 8);
        return 0;
    }
    op_linear(&o, 1000, 1536, 1536, 1);  /* a Wan-1.3B projection */
    op_linear(&o, 777, 1536, 8960, 1);   /* FFN in, odd M */
    op_linear(&o, 3, 256, 1536, 1);      /* timestep MLP (tiny M) */
    op_linear(&o, 513, 8960, 1536, 0);
    op_linear_gelu(&o, 777, 1536, 8960); /* the FFN's first GEMM with its GELU */
    op_norms(&o, 1000, 1536);
    op_fused_norms(&o, 1000, 12, 128);
    op_fused_norms(&o, 100, 40, 128);    /* the 14B's width */
    op_norms(&o, 77, 5120);
    op_rope(&o, 1000, 12, 128);
    op_attention(&o, 1000, 1000, 12, 128, 1000);  /* self-attention */
    op_attention(&o, 1000, 1024, 12, 128, 999);   /* padded keys */
    op_attention(&o, 700, 512, 12, 128, 512);     /* cross-attention to text */
    op_attention(&o, 300, 300, 4, 64, 300);
    op_attention(&o, 64, 96, 1, 384, 96);         /* the VAE mid-block (D = channels) */
    op_merge(&o, 1000, 12, 128);
    op_relbias(&o, 512, 512, 64, 64); /* umT5-XXL self-attention */
    op_elementwise(&o, 1000, 1536);
    op_patch(&o, 16, 5, 30, 52);
    op_conv(&o, 30, 52, 96);
    return 0;
}
