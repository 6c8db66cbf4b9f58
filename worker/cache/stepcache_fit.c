/*
 * stepcache_fit.c -- the small least-squares fits of `ditfarm-worker
 * calibrate` (stepcache.h): the TeaCache quartic and the PromptTea 12-feature
 * step model.  Sizes are tiny (hundreds of rows, at most 12 columns), so the
 * normal equations in double with column scaling and a Cholesky factor are
 * accurate enough and need no LAPACK.
 */
#include "stepcache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* In-place Cholesky G = L·Lᵀ (lower triangle), then solve G x = g into g. */
static int cholesky_solve(double *G, double *g, int n, struct df_err *err)
{
    for (int j = 0; j < n; j++) {
        double d = G[j * n + j];
        for (int k = 0; k < j; k++)
            d -= G[j * n + k] * G[j * n + k];
        DF_FAIL_IF(!(d > 0), err, DF_E_RANGE,
                   "least squares: normal matrix not positive definite at column %d", j);
        d = sqrt(d);
        G[j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double v = G[i * n + j];
            for (int k = 0; k < j; k++)
                v -= G[i * n + k] * G[j * n + k];
            G[i * n + j] = v / d;
        }
    }
    for (int i = 0; i < n; i++) { /* L z = g */
        double v = g[i];
        for (int k = 0; k < i; k++)
            v -= G[i * n + k] * g[k];
        g[i] = v / G[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) { /* Lᵀ x = z */
        double v = g[i];
        for (int k = i + 1; k < n; k++)
            v -= G[k * n + i] * g[k];
        g[i] = v / G[i * n + i];
    }
    return 0;
}

int stepcache_lsq(const double *A, const double *y, int m, int n, double ridge, double *w,
                  struct df_err *err)
{
    DF_FAIL_IF(m < 1 || n < 1, err, DF_E_INVAL, "least squares of %d rows, %d columns", m, n);
    double *scale = calloc((size_t)n, sizeof *scale);
    double *G = calloc((size_t)n * n, sizeof *G);
    double *g = calloc((size_t)n, sizeof *g);
    int rc = 0;
    if (!scale || !G || !g) {
        rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        goto done;
    }
    for (int j = 0; j < n; j++) {
        double s = 0;
        for (int i = 0; i < m; i++)
            s += A[(size_t)i * n + j] * A[(size_t)i * n + j];
        scale[j] = s > 0 ? 1.0 / sqrt(s) : 1.0;
    }
    for (int i = 0; i < m; i++) {
        const double *row = A + (size_t)i * n;
        for (int j = 0; j < n; j++) {
            const double aj = row[j] * scale[j];
            g[j] += aj * y[i];
            for (int k = 0; k <= j; k++)
                G[j * n + k] += aj * row[k] * scale[k];
        }
    }
    for (int j = 0; j < n; j++) {
        G[j * n + j] += ridge;
        for (int k = 0; k < j; k++)
            G[k * n + j] = G[j * n + k];
    }
    rc = cholesky_solve(G, g, n, err);
    for (int j = 0; rc == 0 && j < n; j++)
        w[j] = g[j] * scale[j];
done:
    free(scale);
    free(G);
    free(g);
    return rc;
}

int stepcache_fit_poly(const double *x, const double *y, int m, double c[STEPCACHE_POLY_TERMS],
                       struct df_err *err)
{
    double *A = malloc((size_t)m * STEPCACHE_POLY_TERMS * sizeof *A);
    DF_FAIL_IF(!A, err, DF_E_NOMEM, "out of memory");
    for (int i = 0; i < m; i++) {
        double p = 1.0;
        for (int j = STEPCACHE_POLY_TERMS - 1; j >= 0; j--, p *= x[i])
            A[(size_t)i * STEPCACHE_POLY_TERMS + j] = p;
    }
    int rc = stepcache_lsq(A, y, m, STEPCACHE_POLY_TERMS, 1e-12, c, err);
    free(A);
    return rc;
}

int stepcache_fit_steps(const double *x, const int *step, const double *y, int m, double *b,
                        double w[STEPCACHE_FIT_TERMS], struct df_err *err)
{
    const int n = STEPCACHE_FIT_TERMS;
    double *A = malloc((size_t)m * n * sizeof *A);
    double coef[STEPCACHE_FIT_TERMS];
    DF_FAIL_IF(!A, err, DF_E_NOMEM, "out of memory");
    for (int i = 0; i < m; i++)
        stepcache_fit_features(x[i], (double)step[i], A + (size_t)i * n);
    int rc = stepcache_lsq(A, y, m, n, 1e-10, coef, err);
    free(A);
    if (rc < 0)
        return rc;
    *b = coef[0]; /* the constant feature carries the intercept */
    w[0] = 0.0;
    memcpy(w + 1, coef + 1, (size_t)(n - 1) * sizeof *w);
    return 0;
}
