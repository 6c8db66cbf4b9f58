/*
 * gpucheck.h -- the device check (bench/gpu/check.sh runs it): the backend
 * under test ("dut": cuda, or cpu with one thread in --cpu mode) against the
 * reference CPU backend, op by op and on a whole Wan forward, then the
 * benchmarks.  Every figure is one line starting "gpucheck:" so check.sh can
 * collect the summary.
 */
#ifndef DF_GPUCHECK_H
#define DF_GPUCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "kern.h"
#include "wan_model.h"

struct gc {
    kern_backend_t ref;  /* cpu, all cores: the fp32 reference */
    kern_backend_t dut;  /* the backend under test */
    int cpu_mode;        /* 1: dut is cpu, tiny shapes */
    int bf16;            /* dut rounds matmul operands to bf16 */
    int reps;            /* timed repetitions per benchmark */
    uint64_t rng;        /* xorshift state: fresh inputs for every op */
    int failures;        /* checks over their bound, or errors */
};

/* Wall clock in seconds (monotonic). */
double gc_now(void);

/* n uniforms in [lo, hi) from g->rng into p. */
void gc_fill(struct gc *g, float *p, size_t n, float lo, float hi);

/* ||got − want||₂ / ||want||₂ in double; INFINITY when got has a NaN/Inf
 * (a poisoned output left unwritten), 0 when both are all zero. */
double gc_rel_l2(const float *got, const float *want, size_t n);

/* Print "gpucheck: <what> rel_l2=<x> bound=<b> PASS|FAIL" and count a FAIL. */
void gc_verdict(struct gc *g, const char *what, double rel, double bound);

/* Print "gpucheck: <what> ERROR <msg>" and count it. */
void gc_error(struct gc *g, const char *what, const char *msg);

/* "gpucheck: attention ..." -- which path the dut's attention calls took
 * (cuDNN SDPA or our kernel, and why); nothing on "cpu". */
void gc_attention_paths(struct gc *g, const char *when);

/* The steps; each prints its lines and adds to g->failures.  Return 0, or
 * -1 when the step could not run at all. */
int gc_ops(struct gc *g);
int gc_forward(struct gc *g);
int gc_bench(struct gc *g);

/* Wan2.1 geometries: the 1.3B and 14B transformers with `layers` blocks, and
 * the demo model's tiny one. */
struct wan_config gc_wan_1_3b(int layers);
struct wan_config gc_wan_14b(int layers);
struct wan_config gc_wan_tiny(void);

#endif
