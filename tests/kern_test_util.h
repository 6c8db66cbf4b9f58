/*
 * kern_test_util.h -- helpers shared by test_kern_ops.c and
 * test_kern_parity.c: a seeded generator, buffer comparison with a
 * per-op tolerance, and a backend-buffer round trip.  Header-only (static)
 * so each test program stays one file plus this.
 */
#ifndef DF_KERN_TEST_UTIL_H
#define DF_KERN_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct test_rng {
    uint64_t s; /* xorshift64* state, never 0 */
};

static inline float rng_uniform(struct test_rng *r, float lo, float hi)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    uint64_t v = r->s * 0x2545F4914F6CDD1DULL;
    return lo + (hi - lo) * (float)((v >> 40) / 16777216.0);
}

/* n floats uniform in [lo, hi); caller frees. */
static inline float *rng_floats(struct test_rng *r, size_t n, float lo, float hi)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = rng_uniform(r, lo, hi);
    return p;
}

/* Largest violation of |got − want| <= atol + rtol·|want| as a ratio (<= 1
 * passes); prints the first offending index for the failure log. */
static inline double close_ratio(const char *what, const float *got, const double *want, size_t n,
                                 double atol, double rtol)
{
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double tol = atol + rtol * fabs(want[i]);
        double d = fabs((double)got[i] - want[i]);
        double ratio = isnan(got[i]) ? INFINITY : d / tol;
        if (ratio > worst) {
            worst = ratio;
            at = i;
        }
    }
    if (worst > 1.0)
        fprintf(stderr, "%s: index %zu got %.9g want %.9g (ratio %.3g)\n", what, at,
                (double)got[at], want[at], worst);
    return worst;
}

/* Same against a float reference (parity tests). */
static inline double close_ratio_f(const char *what, const float *got, const float *want, size_t n,
                                   double atol, double rtol)
{
    double *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[i] = want[i];
    double r = close_ratio(what, got, w, n, atol, rtol);
    free(w);
    return r;
}

#endif
