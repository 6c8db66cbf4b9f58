/* bench_common.c -- shared benchmark helpers (see bench_common.h). */
#include "bench_common.h"

#include "clock.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void openblas_set_num_threads(int num_threads);

float *bench_filled(size_t n, unsigned seed, float amp)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "benchmark: out of memory for %zu floats\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = amp * ((float)(seed >> 8) / 8388608.0f - 1.0f);
    }
    return p;
}

double bench_sgemm_peak(int n, int threads)
{
    float *a = bench_filled((size_t)n * n, 1, 1.0f), *b = bench_filled((size_t)n * n, 2, 1.0f);
    float *c = bench_filled((size_t)n * n, 3, 1.0f);
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double best = INFINITY;
    for (int r = 0; r < 3; r++) {
        double t0 = df_clock_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = df_clock_s() - t0;
        best = dt < best ? dt : best;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}
