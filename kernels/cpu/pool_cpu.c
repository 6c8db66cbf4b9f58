/*
 * pool_cpu.c -- a fork-join pool of parked pthreads.
 *
 * Each run bumps a generation counter under the mutex and broadcasts; a
 * worker whose index is below the run's nth calls the task, then counts
 * itself done.  The caller takes ith 0 and waits for the count.  Ops are
 * milliseconds long, so a condition-variable wake-up (tens of µs) is cheap
 * next to them, and parked workers cost nothing while another helper or
 * OpenBLAS owns the cores.
 */
#include "pool_cpu.h"

#include <pthread.h>
#include <stdlib.h>

struct pool_worker {
    struct pool_cpu *pool; /* back pointer */
    int ith;               /* 1 .. size-1 */
    pthread_t tid;         /* joined in pool_cpu_free */
};

struct pool_cpu {
    int size;                    /* threads including the caller */
    pthread_mutex_t mu;          /* guards everything below */
    pthread_cond_t wake;         /* workers wait for a new generation */
    pthread_cond_t done;         /* caller waits for n_done == nth - 1 */
    unsigned long generation;    /* bumped once per run */
    int stop;                    /* set by pool_cpu_free */
    pool_cpu_fn fn;              /* task of the current run */
    void *arg;                   /* its argument */
    int nth;                     /* threads taking part in the current run */
    int n_done;                  /* workers finished with the current run */
    struct pool_worker *workers; /* size - 1 entries */
};

static void *worker_main(void *p)
{
    struct pool_worker *w = p;
    struct pool_cpu *pool = w->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->stop && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->stop)
            break;
        seen = pool->generation;
        if (w->ith >= pool->nth)
            continue; /* not needed for this run */
        pool_cpu_fn fn = pool->fn;
        void *arg = pool->arg;
        int nth = pool->nth;
        pthread_mutex_unlock(&pool->mu);
        fn(arg, w->ith, nth);
        pthread_mutex_lock(&pool->mu);
        if (++pool->n_done == nth - 1)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

int pool_cpu_create(int n_threads, struct pool_cpu **out, struct df_err *err)
{
    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    struct pool_cpu *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return df_err_set(err, DF_E_NOMEM, "pool_cpu_create: out of memory");
    pool->size = 1;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->workers = calloc((size_t)n_threads, sizeof *pool->workers);
    if (pool->workers == NULL) {
        pool_cpu_free(pool);
        return df_err_set(err, DF_E_NOMEM, "pool_cpu_create: out of memory");
    }
    for (int i = 1; i < n_threads; i++) {
        struct pool_worker *w = &pool->workers[i - 1];
        w->pool = pool;
        w->ith = i;
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            pool_cpu_free(pool);
            return df_err_set(err, DF_E_INTERNAL, "pool_cpu_create: pthread_create #%d failed", i);
        }
        pool->size = i + 1;
    }
    *out = pool;
    return 0;
}

void pool_cpu_free(struct pool_cpu *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->size; i++)
        pthread_join(pool->workers[i - 1].tid, NULL);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mu);
    free(pool->workers);
    free(pool);
}

int pool_cpu_size(const struct pool_cpu *pool)
{
    return pool->size;
}

int pool_cpu_threads_for(const struct pool_cpu *pool, size_t work, size_t grain)
{
    size_t n = grain ? work / grain : work;
    if (n < 1)
        n = 1;
    return n < (size_t)pool->size ? (int)n : pool->size;
}

void pool_cpu_run(struct pool_cpu *pool, pool_cpu_fn fn, void *arg, int nth)
{
    if (nth <= 0 || nth > pool->size)
        nth = pool->size;
    if (nth == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->nth = nth;
    pool->n_done = 0;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);

    fn(arg, 0, nth);

    pthread_mutex_lock(&pool->mu);
    while (pool->n_done < nth - 1)
        pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}
