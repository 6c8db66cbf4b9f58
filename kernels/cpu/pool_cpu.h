/*
 * pool_cpu.h -- the CPU backend's worker pool (one per backend, no globals).
 *
 * pool_cpu_run(pool, fn, arg, nth) calls fn(arg, ith, nth) once for each
 * ith in [0, nth) -- ith 0 on the calling thread, the others on parked
 * workers -- and returns when all have finished.  Ops split their rows by
 * (ith, nth) with pool_cpu_range().  Calls must not nest.
 */
#ifndef DF_POOL_CPU_H
#define DF_POOL_CPU_H

#include <stddef.h>

#include "err.h"

struct pool_cpu;
typedef void (*pool_cpu_fn)(void *arg, int ith, int nth);

/* Start n_threads - 1 workers (the caller is the n-th).  Returns 0 or
 * DF_E_NOMEM / DF_E_INTERNAL (pthread_create failed). */
int pool_cpu_create(int n_threads, struct pool_cpu **out, struct df_err *err);

/* Stop and join the workers.  Accepts NULL. */
void pool_cpu_free(struct pool_cpu *pool);

/* Number of threads, caller included (>= 1). */
int pool_cpu_size(const struct pool_cpu *pool);

/* Run fn on min(nth, size) threads (nth <= 0 means all) and wait. */
void pool_cpu_run(struct pool_cpu *pool, pool_cpu_fn fn, void *arg, int nth);

/* Threads worth using for `work` units when about `grain` units amortize a
 * wake-up; at least 1, at most the pool size. */
int pool_cpu_threads_for(const struct pool_cpu *pool, size_t work, size_t grain);

/* [*begin, *end) of n items for thread ith of nth (contiguous, balanced). */
static inline void pool_cpu_range(size_t n, int ith, int nth, size_t *begin, size_t *end)
{
    size_t per = n / (size_t)nth, extra = n % (size_t)nth, i = (size_t)ith;
    *begin = i * per + (i < extra ? i : extra);
    *end = *begin + per + (i < extra ? 1 : 0);
}

#endif
