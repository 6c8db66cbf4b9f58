/*
 * test_kern_ops.c -- every CPU op of kernels/ against a naive double
 * reference written here, plus the front end's argument checks.
 *
 * Sizes are odd on purpose (S=37, H=3, D=20, tails not multiple of 8) and
 * some are large enough to cross the CPU backend's blocking (attention
 * query blocks, linear row/column splits, pool thresholds).  Tolerances are
 * per op: fp32 accumulation over K terms for GEMM-based ops, a few ulp for
 * the rest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "kern.h"
#include "kern_test_util.h"

struct fixture {
    kern_backend_t be;
    struct test_rng rng;
};

static int setup_threads(void **state, int n_threads)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct df_err err = {0};
    if (f == NULL || kern_backend_create("cpu", n_threads, &f->be, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        free(f);
        return -1;
    }
    f->rng.s = 0x9E3779B97F4A7C15ULL;
    *state = f;
    return 0;
}

/* 3 threads on a 2-core machine: uneven splits, more than one worker. */
static int setup(void **state)
{
    return setup_threads(state, 3);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    kern_backend_free(f->be);
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------- */

static void check_linear(struct fixture *f, int M, int K, int N, int with_bias)
{
    struct df_err err = {0};
    float *x = rng_floats(&f->rng, (size_t)M * K, -1, 1);
    float *w = rng_floats(&f->rng, (size_t)N * K, -1, 1);
    float *b = with_bias ? rng_floats(&f->rng, (size_t)N, -1, 1) : NULL;
    float *y = malloc((size_t)M * N * sizeof *y);
    double *ref = malloc((size_t)M * N * sizeof *ref);
    struct kern_weight *kw = NULL;
    assert_int_equal(kern_weight_create(f->be, w, N, K, &kw, &err), 0);
    assert_int_equal(kern_linear(f->be, x, kw, b, y, M, K, N, &err), 0);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = b ? b[n] : 0.0;
            for (int k = 0; k < K; k++)
                s += (double)x[(size_t)m * K + k] * w[(size_t)n * K + k];
            ref[(size_t)m * N + n] = s;
        }
    char what[64];
    snprintf(what, sizeof what, "linear M=%d K=%d N=%d", M, K, N);
    assert_true(close_ratio(what, y, ref, (size_t)M * N, 1e-5 * sqrt(K), 1e-5) <= 1.0);
    kern_weight_free(f->be, kw);
    free(x), free(w), free(b), free(y), free(ref);
}

static void test_linear(void **state)
{
    struct fixture *f = *state;
    check_linear(f, 37, 20, 33, 1);
    check_linear(f, 37, 20, 33, 0);
    check_linear(f, 301, 67, 129, 1);  /* row split over the pool */
    check_linear(f, 3, 1100, 2049, 1); /* column split (short input) */
    check_linear(f, 1, 1, 1, 1);
}

static void test_linear_shape_mismatch(void **state)
{
    struct fixture *f = *state;
    struct df_err err = {0};
    float w[6] = {0}, x[6] = {0}, y[6];
    struct kern_weight *kw = NULL;
    assert_int_equal(kern_weight_create(f->be, w, 2, 3, &kw, &err), 0);
    assert_int_equal(kern_linear(f->be, x, kw, NULL, y, 2, 2, 3, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "weight is [2, 3]"));
    assert_int_equal(kern_weight_create(f->be, w, 0, 3, &kw, &err), DF_E_INVAL);
    kern_weight_free(f->be, kw);
}

/* ------------------------------------------------------------------------- */

static void check_norm(struct fixture *f, int rows, int dim, int rms, int affine, float offset)
{
    struct df_err err = {0};
    size_t n = (size_t)rows * dim;
    float *x = rng_floats(&f->rng, n, offset - 2, offset + 2);
    float *g = affine ? rng_floats(&f->rng, (size_t)dim, 0.5f, 1.5f) : NULL;
    float *b = affine && !rms ? rng_floats(&f->rng, (size_t)dim, -1, 1) : NULL;
    float *y = malloc(n * sizeof *y);
    double *ref = malloc(n * sizeof *ref);
    const float eps = 1e-6f;
    if (rms)
        assert_int_equal(kern_rmsnorm(f->be, x, y, rows, dim, eps, g, &err), 0);
    else
        assert_int_equal(kern_layernorm(f->be, x, y, rows, dim, eps, g, b, &err), 0);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        double mean = 0, var = 0;
        if (!rms) {
            for (int i = 0; i < dim; i++)
                mean += xr[i];
            mean /= dim;
        }
        for (int i = 0; i < dim; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        var /= dim;
        for (int i = 0; i < dim; i++) {
            double v = (xr[i] - mean) / sqrt(var + eps);
            ref[(size_t)r * dim + i] = v * (g ? g[i] : 1.0) + (b ? b[i] : 0.0);
        }
    }
    assert_true(close_ratio(rms ? "rmsnorm" : "layernorm", y, ref, n, 2e-5, 2e-5) <= 1.0);
    /* in place gives the same bits */
    if (rms)
        assert_int_equal(kern_rmsnorm(f->be, x, x, rows, dim, eps, g, &err), 0);
    else
        assert_int_equal(kern_layernorm(f->be, x, x, rows, dim, eps, g, b, &err), 0);
    assert_memory_equal(x, y, n * sizeof *y);
    free(x), free(g), free(b), free(y), free(ref);
}

static void test_norms(void **state)
{
    struct fixture *f = *state;
    check_norm(f, 37, 20, 0, 0, 0.0f);
    check_norm(f, 37, 20, 0, 1, 0.0f);
    check_norm(f, 9, 1536, 0, 1, 300.0f); /* |mean| >> std: two-pass variance */
    check_norm(f, 37, 60, 1, 0, 0.0f);
    check_norm(f, 130, 1537, 1, 1, 0.5f);
}

/* ------------------------------------------------------------------------- */

static void test_rope(void **state)
{
    struct fixture *f = *state;
    struct df_err err = {0};
    const int S = 37, H = 3, D = 20, half = D / 2;
    size_t n = (size_t)S * H * D;
    float *x = rng_floats(&f->rng, n, -1, 1);
    float *ang = rng_floats(&f->rng, (size_t)S * half, -7, 7);
    float *c = malloc((size_t)S * half * sizeof *c), *s = malloc((size_t)S * half * sizeof *s);
    for (int i = 0; i < S * half; i++)
        c[i] = cosf(ang[i]), s[i] = sinf(ang[i]);
    double *ref = malloc(n * sizeof *ref);
    for (int t = 0; t < S; t++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < half; i++) {
                size_t p = ((size_t)t * H + h) * D + 2 * i;
                double a = x[p], b = x[p + 1], cc = c[t * half + i], ss = s[t * half + i];
                ref[p] = a * cc - b * ss;
                ref[p + 1] = a * ss + b * cc;
            }
    assert_int_equal(kern_rope(f->be, x, S, H, D, c, s, &err), 0);
    assert_true(close_ratio("rope", x, ref, n, 1e-6, 1e-6) <= 1.0);
    assert_int_equal(kern_rope(f->be, x, S, H, 7, c, s, &err), DF_E_INVAL);
    free(x), free(ang), free(c), free(s), free(ref);
}

/* ------------------------------------------------------------------------- */

/* Reference attention in double: o [Sq,H,D], lse [H,Sq]. */
static void attention_ref(const float *q, const float *k, const float *v, double *o, double *lse,
                          int Sq, int H, int D, int skv, float scale)
{
    double *sc = malloc((size_t)skv * sizeof *sc);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < Sq; i++) {
            double m = -INFINITY, l = 0;
            for (int j = 0; j < skv; j++) {
                double s = 0;
                for (int d = 0; d < D; d++)
                    s += (double)q[((size_t)i * H + h) * D + d] * k[((size_t)j * H + h) * D + d];
                sc[j] = s * scale;
                m = sc[j] > m ? sc[j] : m;
            }
            for (int j = 0; j < skv; j++)
                l += exp(sc[j] - m);
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int j = 0; j < skv; j++)
                    acc += exp(sc[j] - m) * v[((size_t)j * H + h) * D + d];
                o[((size_t)i * H + h) * D + d] = acc / l;
            }
            lse[(size_t)h * Sq + i] = m + log(l);
        }
    free(sc);
}

static void check_attention(struct fixture *f, int Sq, int Sk, int H, int D, int skv, float amp)
{
    struct df_err err = {0};
    float *q = rng_floats(&f->rng, (size_t)Sq * H * D, -amp, amp);
    float *k = rng_floats(&f->rng, (size_t)Sk * H * D, -amp, amp);
    float *v = rng_floats(&f->rng, (size_t)Sk * H * D, -1, 1);
    /* Padding keys hold huge values: any leak past sk_valid shows. */
    for (size_t i = (size_t)skv * H * D; i < (size_t)Sk * H * D; i++)
        k[i] = 1e4f, v[i] = 1e4f;
    size_t no = (size_t)Sq * H * D, nl = (size_t)H * Sq;
    float *o = malloc(no * sizeof *o), *lse = malloc(nl * sizeof *lse);
    double *ro = malloc(no * sizeof *ro), *rl = malloc(nl * sizeof *rl);
    float scale = 1.0f / sqrtf((float)D);
    assert_int_equal(kern_attention(f->be, q, k, v, o, lse, Sq, Sk, H, D, skv, scale, &err), 0);
    attention_ref(q, k, v, ro, rl, Sq, H, D, skv, scale);
    char what[96];
    snprintf(what, sizeof what, "attention Sq=%d Sk=%d H=%d D=%d valid=%d", Sq, Sk, H, D, skv);
    assert_true(close_ratio(what, o, ro, no, 2e-5, 1e-4) <= 1.0);
    assert_true(close_ratio(what, lse, rl, nl, 2e-5, 1e-5) <= 1.0);
    /* lse is optional */
    assert_int_equal(kern_attention(f->be, q, k, v, o, NULL, Sq, Sk, H, D, skv, scale, &err), 0);
    assert_true(close_ratio(what, o, ro, no, 2e-5, 1e-4) <= 1.0);
    free(q), free(k), free(v), free(o), free(lse), free(ro), free(rl);
}

static void test_attention(void **state)
{
    struct fixture *f = *state;
    check_attention(f, 37, 37, 3, 20, 37, 1.0f);    /* self-attention, odd sizes */
    check_attention(f, 37, 50, 3, 20, 41, 1.0f);    /* cross, padded keys masked */
    check_attention(f, 1, 1, 1, 2, 1, 1.0f);        /* degenerate */
    check_attention(f, 300, 600, 2, 64, 512, 1.0f); /* several query blocks */
    check_attention(f, 37, 29, 3, 20, 29, 6.0f);    /* peaked softmax: max subtraction matters */
}

/* Attention over all keys == merge of attention over each half. */
static void test_attention_merge(void **state)
{
    struct fixture *f = *state;
    struct df_err err = {0};
    const int Sq = 37, Sk = 50, H = 3, D = 20, half = 23;
    const float scale = 0.3f;
    float *q = rng_floats(&f->rng, (size_t)Sq * H * D, -2, 2);
    float *k = rng_floats(&f->rng, (size_t)Sk * H * D, -2, 2);
    float *v = rng_floats(&f->rng, (size_t)Sk * H * D, -1, 1);
    size_t no = (size_t)Sq * H * D, nl = (size_t)H * Sq;
    float *o1 = malloc(no * 4), *o2 = malloc(no * 4), *l1 = malloc(nl * 4), *l2 = malloc(nl * 4);
    double *ro = malloc(no * sizeof *ro), *rl = malloc(nl * sizeof *rl);
    const size_t off = (size_t)half * H * D;
    assert_int_equal(kern_attention(f->be, q, k, v, o1, l1, Sq, half, H, D, half, scale, &err), 0);
    assert_int_equal(kern_attention(f->be, q, k + off, v + off, o2, l2, Sq, Sk - half, H, D,
                                    Sk - half, scale, &err),
                     0);
    assert_int_equal(kern_attention_merge(f->be, o1, l1, o2, l2, Sq, H, D, &err), 0);
    attention_ref(q, k, v, ro, rl, Sq, H, D, Sk, scale);
    assert_true(close_ratio("merge o", o1, ro, no, 2e-5, 1e-4) <= 1.0);
    assert_true(close_ratio("merge lse", l1, rl, nl, 2e-5, 1e-5) <= 1.0);

    /* An empty side (lse = -inf) is the identity, whatever its o holds. */
    for (size_t i = 0; i < nl; i++)
        l2[i] = -INFINITY;
    for (size_t i = 0; i < no; i++)
        o2[i] = NAN;
    assert_int_equal(kern_attention_merge(f->be, o1, l1, o2, l2, Sq, H, D, &err), 0);
    assert_true(close_ratio("merge -inf rhs", o1, ro, no, 2e-5, 1e-4) <= 1.0);
    assert_int_equal(kern_attention_merge(f->be, o2, l2, o1, l1, Sq, H, D, &err), 0);
    assert_true(close_ratio("merge -inf lhs", o2, ro, no, 2e-5, 1e-4) <= 1.0);
    assert_true(close_ratio("merge -inf lhs lse", l2, rl, nl, 2e-5, 1e-5) <= 1.0);
    free(q), free(k), free(v), free(o1), free(o2), free(l1), free(l2), free(ro), free(rl);
}

static void test_attention_args(void **state)
{
    struct fixture *f = *state;
    struct df_err err = {0};
    float buf[64] = {0};
    assert_int_equal(kern_attention(f->be, buf, buf, buf, buf + 32, NULL, 2, 2, 1, 4, 0, 1, &err),
                     DF_E_INVAL);
    assert_non_null(strstr(err.msg, "sk_valid"));
    assert_int_equal(kern_attention(f->be, buf, buf, buf, buf + 32, NULL, 2, 2, 1, 4, 3, 1, &err),
                     DF_E_INVAL);
}

/* ------------------------------------------------------------------------- */

static void test_activations(void **state)
{
    struct fixture *f = *state;
    struct df_err err = {0};
    const size_t n = 100003; /* crosses the pool threshold; tail of 3 */
    float *x = rng_floats(&f->rng, n, -12, 12);
    x[0] = 0.0f, x[1] = -100.0f, x[2] = 100.0f, x[3] = -1e-3f, x[4] = 30.0f, x[n - 1] = -30.0f;
    float *y = malloc(n * sizeof *y);
    double *ref = malloc(n * sizeof *ref);
    assert_int_equal(kern_gelu_tanh(f->be, x, y, n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        double u = x[i];
        ref[i] = 0.5 * u * (1 + tanh(sqrt(2 / M_PI) * (u + 0.044715 * u * u * u)));
    }
    assert_true(close_ratio("gelu_tanh", y, ref, n, 1e-6, 2e-6) <= 1.0);
    assert_int_equal(kern_silu(f->be, x, y, n, &err), 0);
    for (size_t i = 0; i < n; i++)
        ref[i] = x[i] / (1 + exp(-(double)x[i]));
    assert_true(close_ratio("silu", y, ref, n, 1e-6, 2e-6) <= 1.0);
    /* short input, in place */
    memcpy(y, x, 5 * sizeof *y);
    assert_int_equal(kern_silu(f->be, y, y, 5, &err), 0);
    assert_true(close_ratio("silu short", y, ref, 5, 1e-6, 2e-6) <= 1.0);
    free(x), free(y), free(ref);
}

static void test_elementwise(void **state)
{
    struct fixture *f = *state;
    struct df_err err = {0};
    const int rows = 75, dim = 1001;
    const size_t n = (size_t)rows * dim;
    float *x = rng_floats(&f->rng, n, -3, 3), *y = rng_floats(&f->rng, n, -3, 3);
    float *sc = rng_floats(&f->rng, (size_t)dim, -1, 1),
          *sh = rng_floats(&f->rng, (size_t)dim, -1, 1);
    float *out = malloc(n * sizeof *out), *acc = malloc(n * sizeof *acc);
    double *ref = malloc(n * sizeof *ref);

    assert_int_equal(kern_modulate(f->be, x, out, rows, dim, sc, sh, &err), 0);
    for (size_t i = 0; i < n; i++)
        ref[i] = (double)x[i] * (1.0 + sc[i % dim]) + sh[i % dim];
    assert_true(close_ratio("modulate", out, ref, n, 1e-6, 1e-6) <= 1.0);

    memcpy(acc, x, n * sizeof *acc);
    assert_int_equal(kern_gated_add(f->be, acc, y, sc, rows, dim, &err), 0);
    for (size_t i = 0; i < n; i++)
        ref[i] = (double)x[i] + (double)sc[i % dim] * y[i];
    assert_true(close_ratio("gated_add", acc, ref, n, 1e-6, 1e-6) <= 1.0);

    memcpy(acc, x, n * sizeof *acc);
    assert_int_equal(kern_add(f->be, acc, y, n, &err), 0);
    for (size_t i = 0; i < n; i++)
        ref[i] = (double)x[i] + y[i];
    assert_true(close_ratio("add", acc, ref, n, 1e-6, 1e-6) <= 1.0);

    memcpy(acc, y, n * sizeof *acc);
    assert_int_equal(kern_scale_add(f->be, acc, x, -0.37f, n, &err), 0);
    for (size_t i = 0; i < n; i++)
        ref[i] = (double)y[i] - 0.37f * (double)x[i];
    assert_true(close_ratio("scale_add", acc, ref, n, 1e-6, 1e-6) <= 1.0);
    free(x), free(y), free(sc), free(sh), free(out), free(acc), free(ref);
}

/* ------------------------------------------------------------------------- */

static void check_patch(struct fixture *f, int C, int T, int H, int W, int pt, int ph, int pw)
{
    struct df_err err = {0};
    const int Tp = T / pt, Hp = H / ph, Wp = W / pw, P = pt * ph * pw, ncol = C * P;
    const int64_t S = (int64_t)Tp * Hp * Wp;
    size_t nl = (size_t)C * T * H * W;
    float *lat = rng_floats(&f->rng, nl, -1, 1);
    float *cols = malloc((size_t)S * ncol * sizeof *cols);
    double *ref = malloc((size_t)S * ncol * sizeof *ref);
    /* the whole range in two pieces, as two ranks would */
    const int64_t cut = S / 3;
    assert_int_equal(kern_patchify(f->be, lat, cols, C, T, H, W, pt, ph, pw, 0, cut, &err), 0);
    assert_int_equal(kern_patchify(f->be, lat, cols + (size_t)cut * ncol, C, T, H, W, pt, ph, pw,
                                   cut, S - cut, &err),
                     0);
    for (int fi = 0; fi < Tp; fi++)
        for (int y = 0; y < Hp; y++)
            for (int x = 0; x < Wp; x++)
                for (int c = 0; c < C; c++)
                    for (int kt = 0; kt < pt; kt++)
                        for (int kh = 0; kh < ph; kh++)
                            for (int kw = 0; kw < pw; kw++) {
                                size_t tok = ((size_t)fi * Hp + y) * Wp + x;
                                size_t col = (((size_t)c * pt + kt) * ph + kh) * pw + kw;
                                size_t li = (((size_t)c * T + fi * pt + kt) * H + y * ph + kh) * W +
                                            x * pw + kw;
                                ref[tok * ncol + col] = lat[li];
                            }
    assert_true(close_ratio("patchify", cols, ref, (size_t)S * ncol, 0, 0) <= 1.0);

    /* unpatchify: tokens in proj_out order (kt, kh, kw, c) back to the latent */
    float *tok = rng_floats(&f->rng, (size_t)S * ncol, -1, 1);
    float *out = malloc(nl * sizeof *out);
    double *lref = malloc(nl * sizeof *lref);
    for (size_t i = 0; i < nl; i++)
        out[i] = 7.0f, lref[i] = 7.0;
    const int64_t b = 1, cnt = S - 2; /* leave first and last token untouched */
    assert_int_equal(
        kern_unpatchify(f->be, tok + (size_t)b * ncol, out, C, T, H, W, pt, ph, pw, b, cnt, &err),
        0);
    for (int64_t t = b; t < b + cnt; t++) {
        int x = (int)(t % Wp), y = (int)(t / Wp % Hp), fi = (int)(t / ((int64_t)Wp * Hp));
        for (int kt = 0; kt < pt; kt++)
            for (int kh = 0; kh < ph; kh++)
                for (int kw = 0; kw < pw; kw++)
                    for (int c = 0; c < C; c++) {
                        size_t col = (((size_t)kt * ph + kh) * pw + kw) * C + c;
                        size_t li =
                            (((size_t)c * T + fi * pt + kt) * H + y * ph + kh) * W + x * pw + kw;
                        lref[li] = tok[(size_t)t * ncol + col];
                    }
    }
    assert_true(close_ratio("unpatchify", out, lref, nl, 0, 0) <= 1.0);
    free(lat), free(cols), free(ref), free(tok), free(out), free(lref);
}

static void test_patch(void **state)
{
    struct fixture *f = *state;
    struct df_err err = {0};
    check_patch(f, 3, 4, 6, 8, 1, 2, 2); /* Wan's (1, 2, 2) */
    check_patch(f, 2, 4, 6, 9, 2, 3, 3);
    float buf[1024];
    assert_int_equal(kern_patchify(f->be, buf, buf, 1, 4, 5, 4, 1, 2, 2, 0, 1, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "not divisible"));
    assert_int_equal(kern_patchify(f->be, buf, buf, 1, 4, 4, 4, 1, 2, 2, 10, 7, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "token range"));
}

/* ------------------------------------------------------------------------- */

/* Causal im2col of rows [y0, y1) against the formula in kern.h; frame 0 of
 * the window is NULL (causal zero padding) when kt > 1. */
static void check_im2col(struct fixture *f, int kt, int H, int W, int C, int kh, int kw, int y0,
                         int y1)
{
    struct df_err err = {0};
    const float *frames[KERN_IM2COL_MAX_KT] = {0};
    float *data[KERN_IM2COL_MAX_KT] = {0};
    for (int dt = kt > 1 ? 1 : 0; dt < kt; dt++)
        frames[dt] = data[dt] = rng_floats(&f->rng, (size_t)H * W * C, -1, 1);
    const int taps = kt * kh * kw;
    const size_t ncol = (size_t)C * taps, n = (size_t)(y1 - y0) * W * ncol;
    float *cols = malloc(n * sizeof *cols);
    double *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n; i++)
        cols[i] = NAN;
    assert_int_equal(kern_im2col_causal(f->be, frames, kt, H, W, C, kh, kw, y0, y1, cols, &err), 0);
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++)
                for (int dt = 0; dt < kt; dt++)
                    for (int dy = 0; dy < kh; dy++)
                        for (int dx = 0; dx < kw; dx++) {
                            int sy = y + dy - kh / 2, sx = x + dx - kw / 2;
                            size_t row = (size_t)(y - y0) * W + x;
                            size_t col = (((size_t)c * kt + dt) * kh + dy) * kw + dx;
                            int in = frames[dt] && sy >= 0 && sy < H && sx >= 0 && sx < W;
                            ref[row * ncol + col] =
                                in ? frames[dt][((size_t)sy * W + sx) * C + c] : 0.0;
                        }
    char what[96];
    snprintf(what, sizeof what, "im2col kt=%d %dx%dx%d k=%dx%d rows [%d,%d)", kt, H, W, C, kh, kw,
             y0, y1);
    assert_true(close_ratio(what, cols, ref, n, 0, 0) <= 1.0);
    for (int dt = 0; dt < kt; dt++)
        free(data[dt]);
    free(cols), free(ref);
}

static void test_conv_helpers(void **state)
{
    struct fixture *f = *state;
    struct df_err err = {0};
    check_im2col(f, 3, 5, 7, 3, 3, 3, 0, 5);    /* the VAE's causal 3x3x3 */
    check_im2col(f, 3, 6, 9, 5, 3, 3, 2, 5);    /* a band of rows */
    check_im2col(f, 1, 4, 6, 4, 3, 3, 1, 4);    /* conv2d (up-sampler) */
    check_im2col(f, 3, 3, 4, 2, 1, 1, 0, 3);    /* time conv (3, 1, 1) */
    check_im2col(f, 2, 40, 37, 9, 5, 3, 3, 38); /* big enough for the pool */

    /* nearest 2x */
    const int F = 2, H = 3, W = 5, C = 4;
    size_t nx = (size_t)F * H * W * C, ny = nx * 4;
    float *x = rng_floats(&f->rng, nx, -1, 1), *y = malloc(ny * sizeof *y);
    double *ref = malloc(ny * sizeof *ref);
    assert_int_equal(kern_upsample2x(f->be, x, y, F, H, W, C, &err), 0);
    for (int fr = 0; fr < F; fr++)
        for (int i = 0; i < 2 * H; i++)
            for (int j = 0; j < 2 * W; j++)
                for (int c = 0; c < C; c++)
                    ref[(((size_t)fr * 2 * H + i) * 2 * W + j) * C + c] =
                        x[(((size_t)fr * H + i / 2) * W + j / 2) * C + c];
    assert_true(close_ratio("upsample2x", y, ref, ny, 0, 0) <= 1.0);
    free(x), free(y), free(ref);

    /* strided 2D copy leaves the gaps alone */
    const size_t rows = 7, cols = 5, sld = 12, dld = 9;
    float *src = rng_floats(&f->rng, rows * sld, -1, 1), *dst = malloc(rows * dld * sizeof *dst);
    double *dref = malloc(rows * dld * sizeof *dref);
    for (size_t i = 0; i < rows * dld; i++)
        dst[i] = 7.0f, dref[i] = 7.0;
    assert_int_equal(kern_copy_2d(f->be, dst, dld, src + 3, sld, rows, cols, &err), 0);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            dref[r * dld + c] = src[r * sld + 3 + c];
    assert_true(close_ratio("copy_2d", dst, dref, rows * dld, 0, 0) <= 1.0);
    free(src), free(dst), free(dref);

    /* argument checks */
    float buf[64];
    const float *fr[1] = {buf};
    assert_int_equal(kern_im2col_causal(f->be, fr, 1, 4, 4, 1, 2, 3, 0, 4, buf, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "must be odd"));
    assert_int_equal(kern_im2col_causal(f->be, fr, 9, 4, 4, 1, 3, 3, 0, 4, buf, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "kt=9"));
    assert_int_equal(kern_im2col_causal(f->be, fr, 1, 4, 4, 1, 3, 3, 2, 5, buf, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "rows [2, 5)"));
    assert_int_equal(kern_copy_2d(f->be, buf, 3, buf + 32, 8, 2, 4, &err), DF_E_INVAL);
    assert_int_equal(kern_upsample2x(f->be, buf, buf + 8, 1, 0, 2, 1, &err), DF_E_INVAL);
}

/* ------------------------------------------------------------------------- */

static void test_backend_lifecycle(void **state)
{
    (void)state;
    struct df_err err = {0};
    kern_backend_t be = NULL;
    assert_int_equal(kern_backend_create("tpu", 0, &be, &err), DF_E_UNSUPPORTED);
    assert_null(be);
    assert_non_null(strstr(err.msg, "tpu"));
    /* "cuda" either opens (device present) or fails cleanly with a reason. */
    int rc = kern_backend_create("cuda", 0, &be, &err);
    if (rc == 0) {
        assert_string_equal(kern_backend_name(be), "cuda");
        kern_backend_free(be);
    } else {
        assert_int_equal(rc, DF_E_UNSUPPORTED);
        assert_non_null(strstr(err.msg, "cuda"));
    }
    assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
    assert_string_equal(kern_backend_name(be), "cpu");
    float *p = kern_alloc(be, 1000, &err), h[1000];
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    for (int i = 0; i < 1000; i++)
        h[i] = (float)i;
    assert_int_equal(kern_upload(be, p, h, 1000, &err), 0);
    assert_int_equal(kern_zero(be, p, 10, &err), 0);
    assert_int_equal(kern_download(be, h, p, 1000, &err), 0);
    assert_true(h[9] == 0.0f && h[10] == 10.0f);
    assert_null(kern_alloc(be, 0, &err));
    assert_int_equal(kern_sync(be, &err), 0);
    kern_release(be, p);
    kern_release(be, NULL);
    kern_backend_free(be);
    kern_backend_free(NULL);
    assert_string_equal(kern_backend_name(NULL), "(null)");
    assert_int_equal(kern_add(NULL, h, h, 1, &err), DF_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_linear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_linear_shape_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attention_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attention_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_activations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elementwise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conv_helpers, setup, teardown),
        cmocka_unit_test(test_backend_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
