/*
 * bench_kern.c -- CPU kernels against the machine's own sgemm peak.
 *
 * In one run: (1) OpenBLAS sgemm on a large square problem with OpenBLAS's
 * own threads = the peak we compare to; (2) kern_linear at the Wan2.1-1.3B
 * shapes (dim 1536, FFN 8960) and kern_attention (self: S x S, head_dim
 * 128, 12 heads; cross: S x 512 text tokens; and self with head_dim 64),
 * each printed in GFLOP/s and as a fraction of that peak.  Ratios measured side by side are what we
 * track in bench/RESULTS.md; absolute numbers depend on the machine.  The peak is measured before
 * and after the kernels and the higher one is used, so a burst of load from elsewhere during one
 * sgemm run does not flatter the ratios (results are printed at the end).
 *
 *     bench_kern [S] [threads]      (defaults: 4096 tokens, all cores)
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "clock.h"
#include "kern.h"

/* Best of `reps` timings of one call, after a warm-up call. */
#define TIME_BEST(reps, best, call)                                                                \
    do {                                                                                           \
        call;                                                                                      \
        best = INFINITY;                                                                           \
        for (int r_ = 0; r_ < (reps); r_++) {                                                      \
            double t0_ = df_clock_s();                                                             \
            call;                                                                                  \
            double dt_ = df_clock_s() - t0_;                                                       \
            best = dt_ < best ? dt_ : best;                                                        \
        }                                                                                          \
    } while (0)

struct result {
    char what[96]; /* op and shape */
    double flops;  /* per call */
    double secs;   /* best call */
};

struct results {
    struct result r[16];
    int n;
};

static void record(struct results *res, const char *what, double flops, double secs)
{
    if (res->n < (int)(sizeof res->r / sizeof res->r[0])) {
        struct result *r = &res->r[res->n++];
        snprintf(r->what, sizeof r->what, "%s", what);
        r->flops = flops;
        r->secs = secs;
    }
}

static void report(const struct results *res, double peak)
{
    for (int i = 0; i < res->n; i++) {
        const struct result *r = &res->r[i];
        double gf = r->flops / r->secs / 1e9;
        printf("%-44s %8.2f ms %8.1f GFLOP/s %6.1f%% of peak\n", r->what, r->secs * 1e3, gf,
               100.0 * gf / peak);
    }
}

static int bench_linear(kern_backend_t be, int M, int K, int N, struct results *res,
                        struct df_err *err)
{
    float *x = bench_filled((size_t)M * K, 4, 0.5f), *w = bench_filled((size_t)N * K, 5, 0.5f),
          *b = bench_filled((size_t)N, 6, 0.5f);
    float *y = malloc((size_t)M * N * sizeof *y);
    struct kern_weight *kw = NULL;
    int rc = kern_weight_create(be, w, N, K, &kw, err);
    if (rc == 0) {
        double best;
        TIME_BEST(3, best, rc = kern_linear(be, x, kw, b, y, M, K, N, err));
        char what[96];
        snprintf(what, sizeof what, "linear %dx%d -> %d (+bias)", M, K, N);
        record(res, what, 2.0 * M * K * (double)N, best);
    }
    kern_weight_free(be, kw);
    free(x), free(w), free(b), free(y);
    return rc;
}

static int bench_attention(kern_backend_t be, int Sq, int Sk, int H, int D, struct results *res,
                           struct df_err *err)
{
    float *q = bench_filled((size_t)Sq * H * D, 7, 0.5f),
          *k = bench_filled((size_t)Sk * H * D, 8, 0.5f);
    float *v = bench_filled((size_t)Sk * H * D, 9, 0.5f),
          *o = malloc((size_t)Sq * H * D * sizeof *o);
    float *lse = malloc((size_t)H * Sq * sizeof *lse);
    double best;
    int rc = 0;
    TIME_BEST(
        2, best,
        rc = kern_attention(be, q, k, v, o, lse, Sq, Sk, H, D, Sk, 1.0f / sqrtf((float)D), err));
    char what[96];
    snprintf(what, sizeof what, "attention Sq=%d Sk=%d H=%d D=%d (+lse)", Sq, Sk, H, D);
    if (rc == 0)
        record(res, what, 4.0 * Sq * (double)Sk * D * H, best);
    free(q), free(k), free(v), free(o), free(lse);
    return rc;
}

int main(int argc, char **argv)
{
    int S = argc > 1 ? atoi(argv[1]) : 4096;
    int threads = argc > 2 ? atoi(argv[2]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (S <= 0 || threads <= 0) {
        fprintf(stderr, "usage: bench_kern [S] [threads]\n");
        return 2;
    }
    double peak_before = bench_sgemm_peak(4096, threads);

    struct df_err err = {0};
    kern_backend_t be = NULL;
    if (kern_backend_create("cpu", threads, &be, &err) < 0) {
        fprintf(stderr, "bench_kern: %s\n", err.msg);
        return 1;
    }
    const int dim = 1536, ffn = 8960, H = 12, D = 128, text = 512;
    struct results res = {0};
    int rc = 0;
    rc = rc ? rc : bench_linear(be, S, dim, dim, &res, &err);
    rc = rc ? rc : bench_linear(be, S, dim, ffn, &res, &err);
    rc = rc ? rc : bench_linear(be, S, ffn, dim, &res, &err);
    rc = rc ? rc : bench_attention(be, S, S, H, D, &res, &err);
    rc = rc ? rc : bench_attention(be, S, text, H, D, &res, &err);
    /* head_dim 64 (the test models' width): half the flops per score, so the
     * softmax weighs twice as much. */
    rc = rc ? rc : bench_attention(be, S, S, 8, 64, &res, &err);
    kern_backend_free(be);
    if (rc < 0) {
        fprintf(stderr, "bench_kern: %s\n", err.msg);
        return 1;
    }
    double peak_after = bench_sgemm_peak(4096, threads);
    double peak = peak_before > peak_after ? peak_before : peak_after;
    printf("sgemm peak (OpenBLAS, 4096^3, %d threads): %.1f GFLOP/s (before %.1f, after %.1f)\n",
           threads, peak, peak_before, peak_after);
    report(&res, peak);
    return 0;
}
