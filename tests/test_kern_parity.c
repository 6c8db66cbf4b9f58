/*
 * test_kern_parity.c -- every op on every available backend against "cpu".
 *
 * Each op runs on the reference CPU backend (3 threads) and on the backend
 * under test with the same inputs; outputs are compared by normalized MSE
 * (Σ(a−b)² / Σb², as ggml's test-backend-ops) with a tolerance per op:
 * fp32 ops agree to ~1e-12, the CUDA linear rounds its operands to bf16 and
 * gets ~1e-5.  Backends under test: every one in the registry
 * (lib/backend_desc.h): host-memory backends with 1 thread (results must not
 * depend on the thread split), the others on their first device; a backend
 * not compiled in or with no device here is SKIPPED.
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

struct parity {
    kern_backend_t ref; /* cpu, 3 threads */
    kern_backend_t be;  /* backend under test */
    int bf16_linear;    /* be rounds linear operands to bf16 */
    struct test_rng rng;
};

/* *state is the backend_desc under test (the group's initial state). */
static int open_pair(void **state)
{
    const struct backend_desc *d = *state;
    const char *name = d->name;
    const int n_threads = d->mem == BACKEND_MEM_HOST ? 1 : 0;
    struct parity *p = calloc(1, sizeof *p);
    struct df_err err = {0};
    if (p == NULL)
        return -1;
    p->rng.s = 0x243F6A8885A308D3ULL;
    if (kern_backend_create("cpu", 3, &p->ref, &err) < 0) {
        fprintf(stderr, "parity: cpu: %s\n", err.msg);
        free(p);
        return -1;
    }
    int rc = kern_backend_create(name, n_threads, &p->be, &err);
    if (rc < 0) {
        /* Not available here: the tests of this group skip. */
        fprintf(stderr, "parity: backend %s unavailable, skipping: %s\n", name, err.msg);
        p->be = NULL;
    }
    p->bf16_linear = (d->weight_dtypes & BACKEND_DTYPE_BF16) != 0;
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct parity *p = *state;
    kern_backend_free(p->be);
    kern_backend_free(p->ref);
    free(p);
    return 0;
}

#define NEED_BACKEND(p)                                                                            \
    do {                                                                                           \
        if ((p)->be == NULL)                                                                       \
            skip();                                                                                \
    } while (0)

static double nmse(const float *got, const float *want, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    return den > 0 ? num / den : num;
}

static void expect_close(const char *what, const float *got, const float *want, size_t n,
                         double tol)
{
    double e = nmse(got, want, n);
    if (!(e <= tol))
        fprintf(stderr, "%s: nmse %.3g > %.3g\n", what, e, tol);
    assert_true(e <= tol);
}

/* Backend buffer holding a copy of host[n] (host may be NULL: zeroed). */
static float *up(kern_backend_t be, const float *host, size_t n)
{
    struct df_err err = {0};
    float *d = kern_alloc(be, n, &err);
    assert_non_null(d);
    if (host)
        assert_int_equal(kern_upload(be, d, host, n, &err), 0);
    else
        assert_int_equal(kern_zero(be, d, n, &err), 0);
    return d;
}

/* Host copy of a backend buffer; releases the buffer.  Caller frees. */
static float *down(kern_backend_t be, float *dev, size_t n)
{
    struct df_err err = {0};
    float *h = malloc(n * sizeof *h);
    assert_int_equal(kern_download(be, h, dev, n, &err), 0);
    kern_release(be, dev);
    return h;
}

#define TOL_FP32 1e-11
#define TOL_BF16 2e-5

/* ------------------------------------------------------------------------- */

static float *run_linear(kern_backend_t be, const float *x, const float *w, const float *b, int M,
                         int K, int N)
{
    struct df_err err = {0};
    struct kern_weight *kw = NULL;
    assert_int_equal(kern_weight_create(be, w, N, K, &kw, &err), 0);
    float *dx = up(be, x, (size_t)M * K), *db = b ? up(be, b, (size_t)N) : NULL;
    float *dy = up(be, NULL, (size_t)M * N);
    assert_int_equal(kern_linear(be, dx, kw, db, dy, M, K, N, &err), 0);
    float *y = down(be, dy, (size_t)M * N);
    kern_release(be, dx), kern_release(be, db), kern_weight_free(be, kw);
    return y;
}

static void test_linear(void **state)
{
    struct parity *p = *state;
    NEED_BACKEND(p);
    const int shapes[][3] = {{37, 20, 33}, {300, 256, 130}, {2, 1536, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *x = rng_floats(&p->rng, (size_t)M * K, -1, 1);
        float *w = rng_floats(&p->rng, (size_t)N * K, -1, 1);
        float *b = rng_floats(&p->rng, (size_t)N, -1, 1);
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            float *want = run_linear(p->ref, x, w, with_bias ? b : NULL, M, K, N);
            float *got = run_linear(p->be, x, w, with_bias ? b : NULL, M, K, N);
            expect_close("linear", got, want, (size_t)M * N, p->bf16_linear ? TOL_BF16 : TOL_FP32);
            free(want), free(got);
        }
        free(x), free(w), free(b);
    }
}

/* ------------------------------------------------------------------------- */

static float *run_norm(kern_backend_t be, const float *x, const float *g, const float *b, int rows,
                       int dim, int rms)
{
    struct df_err err = {0};
    size_t n = (size_t)rows * dim;
    float *dx = up(be, x, n), *dg = g ? up(be, g, (size_t)dim) : NULL;
    float *db = b ? up(be, b, (size_t)dim) : NULL;
    if (rms)
        assert_int_equal(kern_rmsnorm(be, dx, dx, rows, dim, 1e-6f, dg, &err), 0);
    else
        assert_int_equal(kern_layernorm(be, dx, dx, rows, dim, 1e-6f, dg, db, &err), 0);
    kern_release(be, dg), kern_release(be, db);
    return down(be, dx, n);
}

static void test_norms(void **state)
{
    struct parity *p = *state;
    NEED_BACKEND(p);
    const int rows = 37, dim = 1536;
    float *x = rng_floats(&p->rng, (size_t)rows * dim, 5, 9);
    float *g = rng_floats(&p->rng, (size_t)dim, 0.5f, 1.5f), *b = rng_floats(&p->rng, dim, -1, 1);
    for (int rms = 0; rms < 2; rms++)
        for (int affine = 0; affine < 2; affine++) {
            float *want = run_norm(p->ref, x, affine ? g : NULL, affine ? b : NULL, rows, dim, rms);
            float *got = run_norm(p->be, x, affine ? g : NULL, affine ? b : NULL, rows, dim, rms);
            expect_close(rms ? "rmsnorm" : "layernorm", got, want, (size_t)rows * dim, TOL_FP32);
            free(want), free(got);
        }
    free(x), free(g), free(b);
}

/* ------------------------------------------------------------------------- */

static float *run_rope(kern_backend_t be, const float *x, const float *c, const float *s, int S,
                       int H, int D)
{
    struct df_err err = {0};
    size_t n = (size_t)S * H * D, nt = (size_t)S * (D / 2);
    float *dx = up(be, x, n), *dc = up(be, c, nt), *ds = up(be, s, nt);
    assert_int_equal(kern_rope(be, dx, S, H, D, dc, ds, &err), 0);
    kern_release(be, dc), kern_release(be, ds);
    return down(be, dx, n);
}

static void test_rope(void **state)
{
    struct parity *p = *state;
    NEED_BACKEND(p);
    const int S = 37, H = 3, D = 20;
    float *x = rng_floats(&p->rng, (size_t)S * H * D, -1, 1);
    float *c = rng_floats(&p->rng, (size_t)S * D / 2, -1, 1);
    float *s = rng_floats(&p->rng, (size_t)S * D / 2, -1, 1);
    float *want = run_rope(p->ref, x, c, s, S, H, D), *got = run_rope(p->be, x, c, s, S, H, D);
    expect_close("rope", got, want, (size_t)S * H * D, TOL_FP32);
    free(x), free(c), free(s), free(want), free(got);
}

/* ------------------------------------------------------------------------- */

/* Runs attention; returns o, stores lse (host, caller frees) in *lse_out. */
static float *run_attn(kern_backend_t be, const float *q, const float *k, const float *v, int Sq,
                       int Sk, int H, int D, int skv, float **lse_out)
{
    struct df_err err = {0};
    size_t nq = (size_t)Sq * H * D, nk = (size_t)Sk * H * D;
    float *dq = up(be, q, nq), *dk = up(be, k, nk), *dv = up(be, v, nk);
    float *dout = up(be, NULL, nq), *dl = up(be, NULL, (size_t)H * Sq);
    assert_int_equal(
        kern_attention(be, dq, dk, dv, dout, dl, Sq, Sk, H, D, skv, 1.0f / sqrtf((float)D), &err),
        0);
    kern_release(be, dq), kern_release(be, dk), kern_release(be, dv);
    *lse_out = down(be, dl, (size_t)H * Sq);
    return down(be, dout, nq);
}

static void test_attention(void **state)
{
    struct parity *p = *state;
    NEED_BACKEND(p);
    /* last case: the VAE mid-block shape (one head, D = channels) */
    const int cases[][5] = {
        {37, 37, 3, 20, 37}, {37, 50, 3, 20, 41}, {200, 333, 2, 128, 300}, {50, 61, 1, 384, 61}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int Sq = cases[c][0], Sk = cases[c][1], H = cases[c][2], D = cases[c][3];
        int skv = cases[c][4];
        float *q = rng_floats(&p->rng, (size_t)Sq * H * D, -2, 2);
        float *k = rng_floats(&p->rng, (size_t)Sk * H * D, -2, 2);
        float *v = rng_floats(&p->rng, (size_t)Sk * H * D, -1, 1);
        float *lw, *lg;
        float *want = run_attn(p->ref, q, k, v, Sq, Sk, H, D, skv, &lw);
        float *got = run_attn(p->be, q, k, v, Sq, Sk, H, D, skv, &lg);
        expect_close("attention o", got, want, (size_t)Sq * H * D, TOL_FP32);
        expect_close("attention lse", lg, lw, (size_t)H * Sq, TOL_FP32);
        free(q), free(k), free(v), free(want), free(got), free(lw), free(lg);
    }
}

static float *run_merge(kern_backend_t be, const float *o, const float *l, const float *o2,
                        const float *l2, int Sq, int H, int D, float **lse_out)
{
    struct df_err err = {0};
    size_t no = (size_t)Sq * H * D, nl = (size_t)H * Sq;
    float *d_o = up(be, o, no), *dl = up(be, l, nl), *d_o2 = up(be, o2, no), *dl2 = up(be, l2, nl);
    assert_int_equal(kern_attention_merge(be, d_o, dl, d_o2, dl2, Sq, H, D, &err), 0);
    kern_release(be, d_o2), kern_release(be, dl2);
    *lse_out = down(be, dl, nl);
    return down(be, d_o, no);
}

static void test_attention_merge(void **state)
{
    struct parity *p = *state;
    NEED_BACKEND(p);
    const int Sq = 37, H = 3, D = 20;
    size_t no = (size_t)Sq * H * D, nl = (size_t)H * Sq;
    float *o = rng_floats(&p->rng, no, -1, 1), *o2 = rng_floats(&p->rng, no, -1, 1);
    float *l = rng_floats(&p->rng, nl, -5, 5), *l2 = rng_floats(&p->rng, nl, -5, 5);
    l[0] = -INFINITY, l2[1] = -INFINITY, l[2] = 80.0f, l2[2] = -80.0f;
    float *lw, *lg;
    float *want = run_merge(p->ref, o, l, o2, l2, Sq, H, D, &lw);
    float *got = run_merge(p->be, o, l, o2, l2, Sq, H, D, &lg);
    expect_close("merge o", got, want, no, TOL_FP32);
    expect_close("merge lse", lg, lw, nl, TOL_FP32);
    free(o), free(o2), free(l), free(l2), free(want), free(got), free(lw), free(lg);
}

/* ------------------------------------------------------------------------- */

enum elem_op { OP_GELU, OP_SILU, OP_MODULATE, OP_GATED_ADD, OP_ADD, OP_SCALE_ADD, OP_COUNT };
static const char *const elem_names[] = {"gelu_tanh", "silu", "modulate",
                                         "gated_add", "add",  "scale_add"};
_Static_assert(sizeof elem_names / sizeof elem_names[0] == OP_COUNT, "one name per op");

static float *run_elem(kern_backend_t be, enum elem_op op, const float *x, const float *y,
                       const float *v1, const float *v2, int rows, int dim)
{
    struct df_err err = {0};
    size_t n = (size_t)rows * dim;
    float *dx = up(be, x, n), *dy = up(be, y, n);
    float *d1 = up(be, v1, (size_t)dim), *d2 = up(be, v2, (size_t)dim);
    int rc = -1;
    switch (op) {
    case OP_GELU:
        rc = kern_gelu_tanh(be, dx, dy, n, &err);
        break;
    case OP_SILU:
        rc = kern_silu(be, dx, dy, n, &err);
        break;
    case OP_MODULATE:
        rc = kern_modulate(be, dx, dy, rows, dim, d1, d2, &err);
        break;
    case OP_GATED_ADD:
        rc = kern_gated_add(be, dy, dx, d1, rows, dim, &err);
        break;
    case OP_ADD:
        rc = kern_add(be, dy, dx, n, &err);
        break;
    case OP_SCALE_ADD:
        rc = kern_scale_add(be, dy, dx, -0.7f, n, &err);
        break;
    default:
        break;
    }
    assert_int_equal(rc, 0);
    kern_release(be, dx), kern_release(be, d1), kern_release(be, d2);
    return down(be, dy, n);
}

static void test_elementwise(void **state)
{
    struct parity *p = *state;
    NEED_BACKEND(p);
    const int rows = 75, dim = 1001;
    size_t n = (size_t)rows * dim;
    float *x = rng_floats(&p->rng, n, -10, 10), *y = rng_floats(&p->rng, n, -3, 3);
    float *v1 = rng_floats(&p->rng, (size_t)dim, -1, 1), *v2 = rng_floats(&p->rng, dim, -1, 1);
    for (int op = 0; op < OP_COUNT; op++) {
        float *want = run_elem(p->ref, (enum elem_op)op, x, y, v1, v2, rows, dim);
        float *got = run_elem(p->be, (enum elem_op)op, x, y, v1, v2, rows, dim);
        expect_close(elem_names[op], got, want, n, TOL_FP32);
        free(want), free(got);
    }
    free(x), free(y), free(v1), free(v2);
}

/* ------------------------------------------------------------------------- */

static float *run_patch(kern_backend_t be, const float *src, size_t n_src, size_t n_dst, int inv,
                        int C, int T, int H, int W, int64_t b, int64_t cnt)
{
    struct df_err err = {0};
    float *ds = up(be, src, n_src), *dd = up(be, NULL, n_dst);
    if (inv)
        assert_int_equal(kern_unpatchify(be, ds, dd, C, T, H, W, 1, 2, 2, b, cnt, &err), 0);
    else
        assert_int_equal(kern_patchify(be, ds, dd, C, T, H, W, 1, 2, 2, b, cnt, &err), 0);
    kern_release(be, ds);
    return down(be, dd, n_dst);
}

static void test_patch(void **state)
{
    struct parity *p = *state;
    NEED_BACKEND(p);
    const int C = 3, T = 3, H = 6, W = 10, ncol = C * 4;
    const int64_t S = (int64_t)T * (H / 2) * (W / 2), b = 5, cnt = S - 9;
    size_t nl = (size_t)C * T * H * W, nt = (size_t)cnt * ncol;
    float *lat = rng_floats(&p->rng, nl, -1, 1), *tok = rng_floats(&p->rng, nt, -1, 1);
    float *want = run_patch(p->ref, lat, nl, nt, 0, C, T, H, W, b, cnt);
    float *got = run_patch(p->be, lat, nl, nt, 0, C, T, H, W, b, cnt);
    expect_close("patchify", got, want, nt, 0.0);
    free(want), free(got);
    want = run_patch(p->ref, tok, nt, nl, 1, C, T, H, W, b, cnt);
    got = run_patch(p->be, tok, nt, nl, 1, C, T, H, W, b, cnt);
    expect_close("unpatchify", got, want, nl, 0.0);
    free(want), free(got), free(lat), free(tok);
}

/* ------------------------------------------------------------------------- */

/* The VAE's conv helpers: causal im2col (first window frame NULL), nearest
 * 2x and the strided copy; pure data movement, so bit-identical. */
static float *run_conv(kern_backend_t be, int op, const float *src, size_t n_src, size_t n_dst)
{
    struct df_err err = {0};
    const int kt = 3, H = 6, W = 9, C = 5;
    const size_t fsz = (size_t)H * W * C;
    float *ds = up(be, src, n_src), *dd = up(be, NULL, n_dst);
    if (op == 0) {
        const float *frames[3] = {NULL, ds, ds + fsz};
        assert_int_equal(kern_im2col_causal(be, frames, kt, H, W, C, 3, 3, 1, 5, dd, &err), 0);
    } else if (op == 1) {
        assert_int_equal(kern_upsample2x(be, ds, dd, 2, H, W, C, &err), 0);
    } else {
        assert_int_equal(kern_copy_2d(be, dd + 1, 7, ds + 2, 11, 9, 4, &err), 0);
    }
    kern_release(be, ds);
    return down(be, dd, n_dst);
}

static void test_conv_helpers(void **state)
{
    struct parity *p = *state;
    NEED_BACKEND(p);
    static const char *const names[] = {"im2col_causal", "upsample2x", "copy_2d"};
    const size_t fsz = 6 * 9 * 5;
    const size_t n_src[] = {2 * fsz, 2 * fsz, 9 * 11};
    const size_t n_dst[] = {4 * 9 * 5 * 27, 8 * fsz, 9 * 7};
    for (int op = 0; op < 3; op++) {
        float *src = rng_floats(&p->rng, n_src[op], -1, 1);
        float *want = run_conv(p->ref, op, src, n_src[op], n_dst[op]);
        float *got = run_conv(p->be, op, src, n_src[op], n_dst[op]);
        expect_close(names[op], got, want, n_dst[op], 0.0);
        free(src), free(want), free(got);
    }
}

/* ------------------------------------------------------------------------- */

#define PARITY_TEST(f, d) cmocka_unit_test_prestate_setup_teardown(f, open_pair, teardown, (void *)(d))

/* One group per backend of the registry: a new backend is tested by adding
 * its line to lib/backend_desc.c, nothing here. */
int main(void)
{
    int failed = 0;
    for (int i = 0; i < backend_desc_count(); i++) {
        const struct backend_desc *d = backend_desc_at(i);
        const struct CMUnitTest tests[] = {
            PARITY_TEST(test_linear, d),          PARITY_TEST(test_norms, d),
            PARITY_TEST(test_rope, d),            PARITY_TEST(test_attention, d),
            PARITY_TEST(test_attention_merge, d), PARITY_TEST(test_elementwise, d),
            PARITY_TEST(test_patch, d),           PARITY_TEST(test_conv_helpers, d),
        };
        char name[96];
        snprintf(name, sizeof name, "parity %s%s vs cpu", d->name,
                 d->mem == BACKEND_MEM_HOST ? "(1 thread)" : "");
        failed += _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL, NULL);
    }
    return failed;
}
