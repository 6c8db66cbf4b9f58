/*
 * bench_common.h -- what the compute benchmarks share: deterministic input
 * data and the machine's own sgemm peak (OpenBLAS, measured in the same run,
 * so a GFLOP/s figure becomes a fraction of what this machine can do).
 * Timings use df_clock_s() (lib/clock.h).
 */
#ifndef DF_BENCH_COMMON_H
#define DF_BENCH_COMMON_H

#include <stddef.h>

/* n floats, uniform in [-amp, amp) from a fixed LCG stream of `seed`
 * (exits the program when out of memory: a benchmark has nothing to save). */
float *bench_filled(size_t n, unsigned seed, float amp);

/* GFLOP/s of a square n x n x n sgemm on `threads` OpenBLAS threads: best of
 * three after a warm-up. */
double bench_sgemm_peak(int n, int threads);

#endif /* DF_BENCH_COMMON_H */
