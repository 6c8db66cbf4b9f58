/* comm_check.c -- comm_selftest (see comm_check.h).  All values are small
 * integers stored in floats, so every expected result is exact. */
#include "comm_check.h"

#include "comm_groups.h"

#include <stdlib.h>
#include <string.h>

/* What rank `from` sends to rank `to` in the alltoallv test: uneven counts. */
static size_t a2a_count(int from, int to)
{
    return (size_t)((from + 2 * to) % 3 + 1);
}

static float a2a_value(int from, int to, size_t k)
{
    return (float)(10000 * from + 100 * to + (int)k);
}

/* Ring block of rank r: r+1 elements (uneven across ranks). */
static size_t ring_count(int r)
{
    return (size_t)r + 1;
}

static int expect(const struct comm *c, const char *op, const float *got, const float *want,
                  size_t n, struct df_err *err)
{
    for (size_t i = 0; i < n; i++)
        DF_FAIL_IF(got[i] != want[i], err, DF_E_INVAL,
                   "selftest %s on group '%s' (rank %d/%d, world rank %d): element %zu is %g, "
                   "want %g",
                   op, comm_name(c), comm_rank(c), comm_size(c), comm_world_rank(c), i,
                   (double)got[i], (double)want[i]);
    return 0;
}

static int check_bcast_reduce(comm_t c, float *a, float *b, struct df_err *err)
{
    int r = comm_rank(c), n = comm_size(c);
    DF_TRY(comm_barrier(c, err));
    /* bcast from the last rank */
    for (int i = 0; i < 5; i++)
        a[i] = r == n - 1 ? (float)(7 * i + 3) : -1.0f;
    DF_TRY(comm_bcast(c, a, 5, n - 1, err));
    for (int i = 0; i < 5; i++)
        b[i] = (float)(7 * i + 3);
    DF_TRY(expect(c, "bcast", a, b, 5, err));
    /* allreduce sum: sum over r of (r+1)*(i+1) = (i+1) n(n+1)/2 */
    for (int i = 0; i < 5; i++)
        a[i] = (float)((r + 1) * (i + 1));
    DF_TRY(comm_allreduce(c, a, a, 5, COMM_OP_SUM, err));
    for (int i = 0; i < 5; i++)
        b[i] = (float)((i + 1) * n * (n + 1) / 2);
    DF_TRY(expect(c, "allreduce(sum, in place)", a, b, 5, err));
    /* allreduce max, separate buffers */
    for (int i = 0; i < 5; i++)
        a[i] = (float)(r * 10 + i);
    DF_TRY(comm_allreduce(c, a, a + 5, 5, COMM_OP_MAX, err));
    for (int i = 0; i < 5; i++)
        b[i] = (float)((n - 1) * 10 + i);
    return expect(c, "allreduce(max)", a + 5, b, 5, err);
}

static int check_allgatherv(comm_t c, float *a, float *b, size_t *counts, struct df_err *err)
{
    int r = comm_rank(c), n = comm_size(c);
    size_t total = 0;
    for (int j = 0; j < n; j++) {
        counts[j] = (size_t)j + 1;
        for (size_t k = 0; k < counts[j]; k++)
            b[total + k] = (float)(1000 * j + (int)k);
        total += counts[j];
    }
    float mine[64];
    for (size_t k = 0; k < counts[r]; k++)
        mine[k] = (float)(1000 * r + (int)k);
    memset(a, 0, total * sizeof *a);
    DF_TRY(comm_allgatherv(c, mine, counts[r], a, counts, NULL, err));
    return expect(c, "allgatherv", a, b, total, err);
}

static int check_alltoallv(comm_t c, float *send, float *recv, float *want, size_t *counts,
                           struct df_err *err)
{
    int r = comm_rank(c), n = comm_size(c);
    size_t *sc = counts, *rc = counts + n;
    size_t off = 0;
    for (int j = 0; j < n; j++) {
        sc[j] = a2a_count(r, j);
        for (size_t k = 0; k < sc[j]; k++)
            send[off + k] = a2a_value(r, j, k);
        off += sc[j];
    }
    off = 0;
    for (int j = 0; j < n; j++) {
        rc[j] = a2a_count(j, r);
        for (size_t k = 0; k < rc[j]; k++)
            want[off + k] = a2a_value(j, r, k);
        off += rc[j];
    }
    memset(recv, 0, off * sizeof *recv);
    DF_TRY(comm_alltoallv(c, send, sc, NULL, recv, rc, NULL, err));
    return expect(c, "alltoallv", recv, want, off, err);
}

/* Pass every rank's block once around the ring (n-1 steps, send to next,
 * receive from prev), as ring attention passes K/V. */
static int check_ring(comm_t c, float *cur, float *nxt, float *want, struct df_err *err)
{
    int r = comm_rank(c), n = comm_size(c);
    int next = (r + 1) % n, prev = (r + n - 1) % n;
    int owner = r; /* whose block `cur` holds */
    for (size_t k = 0; k < ring_count(r); k++)
        cur[k] = (float)(100 * r + (int)k);
    for (int step = 1; step < n + 1; step++) {
        int incoming = (owner + n - 1) % n;
        comm_req_t rq;
        DF_TRY(comm_sendrecv_start(c, cur, ring_count(owner), next, nxt, ring_count(incoming), prev,
                                   &rq, err));
        DF_TRY(comm_wait(rq, err));
        for (size_t k = 0; k < ring_count(incoming); k++)
            want[k] = (float)(100 * incoming + (int)k);
        DF_TRY(expect(c, "ring sendrecv", nxt, want, ring_count(incoming), err));
        memcpy(cur, nxt, ring_count(incoming) * sizeof *cur);
        owner = incoming;
    }
    /* After n steps every block came home. */
    DF_FAIL_IF(owner != r, err, DF_E_INTERNAL, "selftest ring: block of %d ended at %d", owner, r);
    return 0;
}

static int check_same(comm_t c, struct df_err *err)
{
    int r = comm_rank(c), n = comm_size(c);
    char blob[32] = "layout cfg x ulysses x ring";
    DF_TRY(comm_check_same(c, blob, sizeof blob, err));
    if (n == 1)
        return 0;
    if (r == n - 1)
        blob[0] = 'L';
    struct df_err e2 = {0};
    int rc = comm_check_same(c, blob, sizeof blob, &e2);
    DF_FAIL_IF(rc != DF_E_INVAL, err, DF_E_INVAL,
               "selftest check_same on group '%s' (rank %d): a different blob on rank %d gave "
               "%d (%s), want DF_E_INVAL",
               comm_name(c), r, n - 1, rc, e2.msg);
    return 0;
}

/* Every op on one group, with buffers sized for it. */
static int exercise(comm_t c, struct df_err *err)
{
    int n = comm_size(c);
    DF_FAIL_IF(n > 60, err, DF_E_RANGE, "selftest: group '%s' has %d ranks (max 60)", comm_name(c),
               n);
    size_t cap = (size_t)n * (size_t)(n + 3) + 16;
    float *a = calloc(cap, sizeof *a), *b = calloc(cap, sizeof *b), *d = calloc(cap, sizeof *d);
    size_t *counts = calloc(2 * (size_t)n, sizeof *counts);
    int rc = DF_E_NOMEM;
    if (a == NULL || b == NULL || d == NULL || counts == NULL) {
        df_err_set(err, rc, "selftest: out of memory");
        goto out;
    }
    if ((rc = check_bcast_reduce(c, a, b, err)) < 0 ||
        (rc = check_allgatherv(c, a, b, counts, err)) < 0 ||
        (rc = check_alltoallv(c, a, b, d, counts, err)) < 0 ||
        (rc = check_ring(c, a, b, d, err)) < 0 || (rc = check_same(c, err)) < 0)
        goto out;
    rc = comm_barrier(c, err);
out:
    free(a);
    free(b);
    free(d);
    free(counts);
    return rc;
}

/* Messages past the eager limit take other paths in MPI (rendezvous, single
 * copy between processes): 4 MiB all-reduce and ring blocks of 1 MiB. */
static int check_large(comm_t c, struct df_err *err)
{
    int r = comm_rank(c), n = comm_size(c);
    size_t len = (size_t)1 << 20, blk = (size_t)1 << 18;
    float *a = malloc(len * sizeof *a), *b = malloc(blk * sizeof *b);
    int rc = DF_E_NOMEM;
    if (a == NULL || b == NULL) {
        df_err_set(err, rc, "selftest: out of memory");
        goto out;
    }
    for (size_t i = 0; i < len; i++)
        a[i] = (float)(r + 1 + (int)(i % 7));
    if ((rc = comm_allreduce(c, a, a, len, COMM_OP_SUM, err)) < 0)
        goto out;
    for (size_t i = 0; i < len; i++) {
        float want = (float)(n * (n + 1) / 2 + n * (int)(i % 7));
        if (a[i] != want) {
            rc = df_err_set(err, DF_E_INVAL,
                            "selftest large allreduce on group '%s' (rank %d): element %zu is %g, "
                            "want %g",
                            comm_name(c), r, i, (double)a[i], (double)want);
            goto out;
        }
    }
    for (size_t i = 0; i < blk; i++)
        a[i] = (float)(r * 1000 + (int)(i % 1000));
    comm_req_t rq;
    int prev = (r + n - 1) % n;
    if ((rc = comm_sendrecv_start(c, a, blk, (r + 1) % n, b, blk, prev, &rq, err)) < 0 ||
        (rc = comm_wait(rq, err)) < 0)
        goto out;
    for (size_t i = 0; i < blk; i++)
        a[i] = (float)(prev * 1000 + (int)(i % 1000));
    rc = expect(c, "large ring sendrecv", b, a, blk, err);
out:
    free(a);
    free(b);
    return rc;
}

/* The members of a group, gathered by world rank, must follow the formula. */
static int check_members(comm_t g, const struct comm_groups *L, int which, struct df_err *err)
{
    int n = comm_size(g);
    int me = comm_world_rank(g);
    int *all = malloc((size_t)n * sizeof *all);
    DF_FAIL_IF(all == NULL, err, DF_E_NOMEM, "selftest: out of memory");
    int rc = comm_allgather_bytes(g, &me, sizeof me, all, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        int c = L->cfg_idx, q = L->ring_idx, u = L->ulysses_idx;
        if (which == 0)
            c = i;
        else if (which == 1)
            u = i;
        else if (which == 2)
            q = i;
        else {
            q = i / L->n_ulysses;
            u = i % L->n_ulysses;
        }
        int want = comm_groups_world_rank(c, q, u, L->n_ulysses, L->n_ring);
        if (all[i] != want)
            rc = df_err_set(err, DF_E_INVAL,
                            "selftest: group '%s' member %d is world rank %d, want %d "
                            "(layout %dx%dx%d)",
                            comm_name(g), i, all[i], want, L->n_cfg, L->n_ulysses, L->n_ring);
    }
    free(all);
    return rc;
}

int comm_selftest(comm_t world, int cfg, int ulysses, int ring, struct df_err *err)
{
    DF_FAIL_IF(comm_backend_of(world) == COMM_BACKEND_NCCL, err, DF_E_UNSUPPORTED,
               "selftest: the nccl backend needs device buffers; run it with mpi or self");
    DF_TRY(exercise(world, err));
    DF_TRY(check_large(world, err));
    struct comm_groups g;
    DF_TRY(comm_groups_open(world, cfg, ulysses, ring, &g, err));
    comm_t groups[4] = {g.cfg, g.ulysses, g.ring, g.sp};
    int sizes[4] = {cfg, ulysses, ring, ulysses * ring};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++) {
        if (comm_size(groups[i]) != sizes[i])
            rc = df_err_set(err, DF_E_INVAL, "selftest: group '%s' has %d ranks, want %d",
                            comm_name(groups[i]), comm_size(groups[i]), sizes[i]);
        if (rc == 0)
            rc = check_members(groups[i], &g, i, err);
        if (rc == 0)
            rc = exercise(groups[i], err);
    }
    comm_groups_close(&g);
    if (rc == 0)
        rc = comm_barrier(world, err);
    return rc;
}
