/*
 * gpucheck.c -- main of the device check.
 *
 *   gpucheck [--cpu] [--steps ops,forward,bench] [--reps N]
 *
 * Default: the "cuda" backend against "cpu" (fp32, all cores), real shapes.
 * --cpu: "cpu" with one thread against "cpu" with all cores, tiny shapes (CI
 * runs this so the check cannot rot on machines without a GPU).  Exit status
 * 0 when every check is within its bound, 1 otherwise, 2 on usage errors.
 */
#include "gpucheck.h"

#include "kern_build.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double gc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void gc_fill(struct gc *g, float *p, size_t n, float lo, float hi)
{
    uint64_t s = g->rng;
    for (size_t i = 0; i < n; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        uint64_t v = s * 0x2545F4914F6CDD1DULL;
        p[i] = lo + (hi - lo) * (float)((double)(v >> 40) / 16777216.0);
    }
    g->rng = s;
}

double gc_rel_l2(const float *got, const float *want, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            return INFINITY;
        double d = (double)got[i] - (double)want[i];
        num += d * d;
        den += (double)want[i] * (double)want[i];
    }
    if (den == 0.0)
        return num == 0.0 ? 0.0 : INFINITY;
    return sqrt(num / den);
}

void gc_verdict(struct gc *g, const char *what, double rel, double bound)
{
    int ok = rel <= bound;
    printf("gpucheck: %-44s rel_l2=%-10.3g bound=%-7.1g %s\n", what, rel, bound,
           ok ? "PASS" : "FAIL");
    fflush(stdout);
    g->failures += !ok;
}

void gc_error(struct gc *g, const char *what, const char *msg)
{
    printf("gpucheck: %-44s ERROR %s\n", what, msg);
    fflush(stdout);
    g->failures++;
}

void gc_attention_paths(struct gc *g, const char *when)
{
#ifdef DITFARM_HAVE_CUDA
    long dnn = 0, own = 0;
    const char *why = "";
    if (kern_cuda_attn_stats(g->dut, &dnn, &own, &why) == 0)
        printf("gpucheck: attention paths %s: cuDNN %d: %ld calls on cuDNN SDPA, %ld on our "
               "kernel%s%s\n",
               when, kern_cuda_cudnn_version(), dnn, own, own ? "; first because: " : "", why);
#else
    (void)g, (void)when;
#endif
}

static int has_step(const char *steps, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = steps; (p = strstr(p, name)) != NULL; p += n)
        if ((p == steps || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: gpucheck [--cpu] [--steps ops,forward,bench] [--reps N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct gc g = {.rng = 0x9E3779B97F4A7C15ULL, .reps = 3};
    const char *steps = "ops,forward,bench";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cpu") == 0)
            g.cpu_mode = 1;
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            g.reps = atoi(argv[++i]);
        else
            return usage();
    }
    if (g.reps < 1)
        return usage();
    struct df_err err = {0};
    if (kern_backend_create("cpu", 0, &g.ref, &err) < 0) {
        fprintf(stderr, "gpucheck: cpu backend: %s\n", err.msg);
        return 1;
    }
    const char *dut = g.cpu_mode ? "cpu" : "cuda";
    if (kern_backend_create(dut, g.cpu_mode ? 1 : 0, &g.dut, &err) < 0) {
        printf("gpucheck: backend %s ERROR %s\n", dut, err.msg);
        kern_backend_free(g.ref);
        return 1;
    }
    g.bf16 = !g.cpu_mode;
    printf("gpucheck: mode %s, backend under test %s, reference cpu fp32\n",
           g.cpu_mode ? "--cpu (tiny shapes)" : "gpu", dut);
    int rc = 0;
    if (has_step(steps, "ops"))
        rc |= gc_ops(&g);
    if (has_step(steps, "forward"))
        rc |= gc_forward(&g);
    gc_attention_paths(&g, "after ops and forward");
    if (has_step(steps, "bench"))
        rc |= gc_bench(&g);
    gc_attention_paths(&g, "in total");
    kern_backend_free(g.dut);
    kern_backend_free(g.ref);
    printf("gpucheck: %s (%d check%s failed)\n", g.failures || rc ? "FAIL" : "PASS", g.failures,
           g.failures == 1 ? "" : "s");
    return g.failures || rc ? 1 : 0;
}
