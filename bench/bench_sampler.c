/*
 * bench_sampler.c -- what the sampler, CFG combine and noise cost per step,
 * next to a plain memcpy of the same latent (the memory-bound floor).
 *
 * Default size: the Wan2.1 480p latent of 81 frames, [16, 21, 60, 104] =
 * 2,096,640 floats, on one rank (a sharded rank does 1/P of it).  Prints the
 * best of several calls in ms (the dev VM is shared, best-of resists load)
 * and the ratio to memcpy; RESULTS.md tracks the ratios.
 *
 *     bench_sampler [elements]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "noise.h"
#include "sampler.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *alloc_floats(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_sampler: out of memory\n");
        exit(1);
    }
    return p;
}

/* Best milliseconds per step of a sampler, after its warm-up steps. */
static double time_sampler(enum sampler_kind kind, int order, float *x, const float *v, size_t n)
{
    struct sampler_config cfg;
    sampler_config_init(&cfg, kind);
    cfg.steps = 12;
    cfg.solver_order = order;
    sampler_t s = NULL;
    struct df_err err = {0};
    if (sampler_create(&cfg, 0, n, n, &s, &err) < 0) {
        fprintf(stderr, "bench_sampler: %s\n", err.msg);
        exit(1);
    }
    for (int i = 0; i < 3; i++)
        sampler_step(s, i, v, x, n, &err);
    double best = 1e30;
    for (int i = 3; i < 10; i++) {
        const double t0 = now_s();
        sampler_step(s, i, v, x, n, &err);
        const double ms = (now_s() - t0) * 1e3;
        best = ms < best ? ms : best;
    }
    sampler_free(s);
    return best;
}

int main(int argc, char **argv)
{
    const size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : (size_t)16 * 21 * 60 * 104;
    float *x = alloc_floats(n), *v = alloc_floats(n), *u = alloc_floats(n), *y = alloc_floats(n);
    noise_fill(1, 0, n, x);
    noise_fill(2, 0, n, v);
    noise_fill(3, 0, n, u);

    memset(y, 0, n * sizeof *y); /* fault the pages in before timing */

    const int reps = 7;
    double copy_ms = 1e30, cfg_ms = 1e30, noise_ms = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        memcpy(y, x, n * sizeof *x);
        double ms = (now_s() - t0) * 1e3;
        copy_ms = ms < copy_ms ? ms : copy_ms;
        x[r] = y[n - 1 - (size_t)r]; /* keep the copies observable */

        t0 = now_s();
        cfg_combine(v, u, 5.0f, n, y);
        ms = (now_s() - t0) * 1e3;
        cfg_ms = ms < cfg_ms ? ms : cfg_ms;
    }
    for (int r = 0; r < 2; r++) {
        const double t0 = now_s();
        noise_fill(42 + (uint64_t)r, 0, n, y);
        const double ms = (now_s() - t0) * 1e3;
        noise_ms = ms < noise_ms ? ms : noise_ms;
    }

    const double euler_ms = time_sampler(SAMPLER_KIND_EULER, 2, x, v, n);
    const double unipc2_ms = time_sampler(SAMPLER_KIND_UNIPC, 2, x, v, n);
    const double unipc3_ms = time_sampler(SAMPLER_KIND_UNIPC, 3, x, v, n);

    printf("bench_sampler: %zu elements (%.1f MiB per latent)\n", n, (double)n * 4 / (1 << 20));
    printf("  %-22s %9.3f ms  %6.2fx memcpy\n", "memcpy", copy_ms, 1.0);
    printf("  %-22s %9.3f ms  %6.2fx memcpy\n", "cfg_combine", cfg_ms, cfg_ms / copy_ms);
    printf("  %-22s %9.3f ms  %6.2fx memcpy\n", "euler step", euler_ms, euler_ms / copy_ms);
    printf("  %-22s %9.3f ms  %6.2fx memcpy\n", "unipc step (order 2)", unipc2_ms,
           unipc2_ms / copy_ms);
    printf("  %-22s %9.3f ms  %6.2fx memcpy\n", "unipc step (order 3)", unipc3_ms,
           unipc3_ms / copy_ms);
    printf("  %-22s %9.3f ms  %6.2fx memcpy (once per shot)\n", "noise_fill", noise_ms,
           noise_ms / copy_ms);
    free(x), free(v), free(u), free(y);
    return 0;
}
