/* comm_mpi.c -- the Open MPI backend (host memory; CPU runs and tests).
 *
 * MPI bootstraps itself through the same PMIx server as boot_pmix.c, under
 * `srun --mpi=pmix` and under `mpirun` alike.
 *
 * Why nonblocking collectives everywhere: a blocking MPI call on a rank whose
 * peer died waits forever (shared-memory transports never notice a dead peer),
 * and Slurm would keep the step alive until its time limit.  Each op starts
 * the nonblocking form and polls it with MPI_Testall until the comm's deadline;
 * then it returns DF_E_TIMEOUT and marks the whole family of comms (the world
 * and every split of it) broken, so that comm_close skips MPI_Comm_free and
 * MPI_Finalize, which would wait for the dead peer too.  The polling yields
 * and then sleeps so oversubscribed ranks (tests: 6 ranks on 2 cores) leave
 * the CPU to the rank they wait for. */
#include "comm_impl.h"

#include <mpi.h>

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING_TAG 7301

/* State shared by the world comm and all comms split from it. */
struct mpi_family {
    int refs;
    int broken;    /* a peer was lost: never wait for peers again */
    int owns_init; /* we called MPI_Init_thread, so we finalise */
};

struct mpi_ctx {
    MPI_Comm comm;
    struct mpi_family *fam;
};

struct mpi_sendrecv {
    MPI_Request req[2];
    int dst, src;
};

static struct mpi_ctx *ctx_of(struct comm *c)
{
    return c->ctx;
}

static int mpi_fail(struct comm *c, const char *op, int code, struct df_err *err)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, text, &len);
    ctx_of(c)->fam->broken = 1;
    return df_err_set(err, DF_E_COMM, "comm %s on group '%s' (mpi, rank %d/%d, world rank %d): %s",
                      op, c->name, c->rank, c->size, c->world_rank, text);
}

static void pause_ns(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* Poll n requests until done or the comm's timeout.  Open MPI progresses a
 * nonblocking collective only inside MPI calls, so the first 2 ms poll
 * without sleeping (yielding the core to oversubscribed ranks); after that the
 * naps grow to 500 us, which costs little next to an op that slow. */
static int wait_reqs(struct comm *c, MPI_Request *reqs, int n, const char *op, const char *peers,
                     struct df_err *err)
{
    double start = df_clock_s(), deadline = start + c->timeout_s;
    long nap = 10000;
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(c, op, rc, err);
        if (done)
            return 0;
        double now = df_clock_s();
        if (now > deadline) {
            ctx_of(c)->fam->broken = 1;
            return df_err_set(err, DF_E_TIMEOUT,
                              "comm %s on group '%s' (mpi, rank %d/%d, world rank %d): no answer "
                              "from %s after %.1f s (a rank died or hangs; DITFARM_COMM_TIMEOUT)",
                              op, c->name, c->rank, c->size, c->world_rank, peers, c->timeout_s);
        }
        if (now - start < 0.002) {
            sched_yield();
        } else {
            pause_ns(nap);
            if (nap < 500000)
                nap *= 2;
        }
    }
}

static int to_int(struct comm *c, const char *op, size_t v, int *out, struct df_err *err)
{
    DF_FAIL_IF(v > (size_t)INT_MAX, err, DF_E_RANGE,
               "comm %s on group '%s' (mpi): %zu elements exceed MPI's int counts", op, c->name, v);
    *out = (int)v;
    return 0;
}

/* size_t counts/displs -> int arrays for MPI (4*size ints in tmp). */
static int to_ints(struct comm *c, const char *op, const size_t *a, int *out, struct df_err *err)
{
    for (int i = 0; i < c->size; i++)
        DF_TRY(to_int(c, op, a[i], &out[i], err));
    return 0;
}

static int mpi_alltoallv(struct comm *c, const float *send, const size_t *scounts,
                         const size_t *sdispls, float *recv, const size_t *rcounts,
                         const size_t *rdispls, struct df_err *err)
{
    int n = c->size;
    int *v = malloc(4 * (size_t)n * sizeof *v);
    DF_FAIL_IF(v == NULL, err, DF_E_NOMEM, "comm alltoallv (mpi): out of memory");
    int rc = 0;
    if ((rc = to_ints(c, "alltoallv", scounts, v, err)) < 0 ||
        (rc = to_ints(c, "alltoallv", sdispls, v + n, err)) < 0 ||
        (rc = to_ints(c, "alltoallv", rcounts, v + 2 * n, err)) < 0 ||
        (rc = to_ints(c, "alltoallv", rdispls, v + 3 * n, err)) < 0)
        goto out;
    MPI_Request req;
    int mrc = MPI_Ialltoallv(send, v, v + n, MPI_FLOAT, recv, v + 2 * n, v + 3 * n, MPI_FLOAT,
                             ctx_of(c)->comm, &req);
    rc = mrc != MPI_SUCCESS ? mpi_fail(c, "alltoallv", mrc, err)
                            : wait_reqs(c, &req, 1, "alltoallv", "the group's ranks", err);
out:
    free(v);
    return rc;
}

static int mpi_sendrecv_start(struct comm *c, const float *send, size_t nsend, int dst, float *recv,
                              size_t nrecv, int src, void **impl, struct df_err *err)
{
    int ns = 0, nr = 0;
    DF_TRY(to_int(c, "sendrecv", nsend, &ns, err));
    DF_TRY(to_int(c, "sendrecv", nrecv, &nr, err));
    struct mpi_sendrecv *s = calloc(1, sizeof *s);
    DF_FAIL_IF(s == NULL, err, DF_E_NOMEM, "comm sendrecv (mpi): out of memory");
    s->dst = dst;
    s->src = src;
    /* Receive first so a matching send never waits on an unexpected-message copy. */
    int mrc = MPI_Irecv(recv, nr, MPI_FLOAT, src, RING_TAG, ctx_of(c)->comm, &s->req[0]);
    if (mrc == MPI_SUCCESS)
        mrc = MPI_Isend(send, ns, MPI_FLOAT, dst, RING_TAG, ctx_of(c)->comm, &s->req[1]);
    if (mrc != MPI_SUCCESS) {
        free(s); /* the comm is broken now; a posted receive is abandoned with it */
        return mpi_fail(c, "sendrecv", mrc, err);
    }
    *impl = s;
    return 0;
}

static int mpi_wait(struct comm *c, void *impl, struct df_err *err)
{
    struct mpi_sendrecv *s = impl;
    char peers[64];
    snprintf(peers, sizeof peers, "rank %d (send) / rank %d (receive)", s->dst, s->src);
    int rc = wait_reqs(c, s->req, 2, "sendrecv", peers, err);
    /* After a timeout MPI still owns the requests and buffers; the comm is
     * broken and the process is about to exit, so s is simply dropped. */
    if (rc == 0)
        free(s);
    return rc;
}

static MPI_Op mpi_op(enum comm_op op)
{
    switch (op) {
    case COMM_OP_MAX:
        return MPI_MAX;
    case COMM_OP_MIN:
        return MPI_MIN;
    default:
        return MPI_SUM;
    }
}

static int mpi_allreduce(struct comm *c, const float *send, float *recv, size_t n, enum comm_op op,
                         struct df_err *err)
{
    int cnt = 0;
    DF_TRY(to_int(c, "allreduce", n, &cnt, err));
    MPI_Request req;
    int mrc = MPI_Iallreduce(send == recv ? MPI_IN_PLACE : send, recv, cnt, MPI_FLOAT, mpi_op(op),
                             ctx_of(c)->comm, &req);
    if (mrc != MPI_SUCCESS)
        return mpi_fail(c, "allreduce", mrc, err);
    return wait_reqs(c, &req, 1, "allreduce", "the group's ranks", err);
}

static int mpi_allgatherv(struct comm *c, const float *send, size_t nsend, float *recv,
                          const size_t *rcounts, const size_t *rdispls, struct df_err *err)
{
    int n = c->size, cnt = 0;
    DF_TRY(to_int(c, "allgatherv", nsend, &cnt, err));
    int *v = malloc(2 * (size_t)n * sizeof *v);
    DF_FAIL_IF(v == NULL, err, DF_E_NOMEM, "comm allgatherv (mpi): out of memory");
    int rc = 0;
    if ((rc = to_ints(c, "allgatherv", rcounts, v, err)) < 0 ||
        (rc = to_ints(c, "allgatherv", rdispls, v + n, err)) < 0)
        goto out;
    /* MPI forbids aliasing: a send buffer that is our own slot means in place. */
    const void *sb = send == recv + rdispls[c->rank] ? MPI_IN_PLACE : (const void *)send;
    MPI_Request req;
    int mrc = MPI_Iallgatherv(sb, cnt, MPI_FLOAT, recv, v, v + n, MPI_FLOAT, ctx_of(c)->comm, &req);
    rc = mrc != MPI_SUCCESS ? mpi_fail(c, "allgatherv", mrc, err)
                            : wait_reqs(c, &req, 1, "allgatherv", "the group's ranks", err);
out:
    free(v);
    return rc;
}

static int mpi_bcast(struct comm *c, float *buf, size_t n, int root, struct df_err *err)
{
    int cnt = 0;
    DF_TRY(to_int(c, "bcast", n, &cnt, err));
    MPI_Request req;
    int mrc = MPI_Ibcast(buf, cnt, MPI_FLOAT, root, ctx_of(c)->comm, &req);
    if (mrc != MPI_SUCCESS)
        return mpi_fail(c, "bcast", mrc, err);
    return wait_reqs(c, &req, 1, "bcast", "the group's ranks", err);
}

static int mpi_barrier(struct comm *c, struct df_err *err)
{
    MPI_Request req;
    int mrc = MPI_Ibarrier(ctx_of(c)->comm, &req);
    if (mrc != MPI_SUCCESS)
        return mpi_fail(c, "barrier", mrc, err);
    return wait_reqs(c, &req, 1, "barrier", "the group's ranks", err);
}

static int mpi_allgather_bytes(struct comm *c, const void *send, size_t n, void *recv,
                               struct df_err *err)
{
    int cnt = 0;
    DF_TRY(to_int(c, "allgather_bytes", n, &cnt, err));
    MPI_Request req;
    int mrc = MPI_Iallgather(send, cnt, MPI_BYTE, recv, cnt, MPI_BYTE, ctx_of(c)->comm, &req);
    if (mrc != MPI_SUCCESS)
        return mpi_fail(c, "allgather_bytes", mrc, err);
    return wait_reqs(c, &req, 1, "allgather_bytes", "the group's ranks", err);
}

static const struct comm_i mpi_iface;

static int mpi_split(struct comm *c, int color, int key, struct comm *out, struct df_err *err)
{
    /* MPI_Comm_split blocks with no deadline: first exchange (color, key)
     * under the timeout, which proves every peer is alive and also gives us
     * the member list, then split. */
    int *members = malloc((size_t)c->size * sizeof *members);
    DF_FAIL_IF(members == NULL, err, DF_E_NOMEM, "comm split (mpi): out of memory");
    int n = 0, me = 0;
    int rc = comm_split_members(c, color, key, members, &n, &me, err);
    free(members);
    DF_TRY(rc);
    struct mpi_ctx *x = calloc(1, sizeof *x);
    DF_FAIL_IF(x == NULL, err, DF_E_NOMEM, "comm split (mpi): out of memory");
    int mrc = MPI_Comm_split(ctx_of(c)->comm, color, key, &x->comm);
    if (mrc == MPI_SUCCESS)
        mrc = MPI_Comm_set_errhandler(x->comm, MPI_ERRORS_RETURN);
    if (mrc != MPI_SUCCESS) {
        free(x);
        return mpi_fail(c, "split", mrc, err);
    }
    x->fam = ctx_of(c)->fam;
    x->fam->refs++;
    MPI_Comm_rank(x->comm, &out->rank);
    MPI_Comm_size(x->comm, &out->size);
    out->iface = &mpi_iface;
    out->ctx = x;
    return 0;
}

static void mpi_free(struct comm *c)
{
    struct mpi_ctx *x = ctx_of(c);
    if (x == NULL)
        return;
    struct mpi_family *fam = x->fam;
    int lost = c->broken || fam->broken;
    if (!lost)
        MPI_Comm_free(&x->comm);
    free(x);
    c->ctx = NULL;
    if (--fam->refs > 0)
        return;
    /* MPI_Finalize synchronises with every rank: never after losing one. */
    if (fam->owns_init && !lost)
        MPI_Finalize();
    free(fam);
}

static const struct comm_i mpi_iface = {
    .name = "mpi",
    .alltoallv = mpi_alltoallv,
    .sendrecv_start = mpi_sendrecv_start,
    .wait = mpi_wait,
    .allreduce = mpi_allreduce,
    .allgatherv = mpi_allgatherv,
    .bcast = mpi_bcast,
    .barrier = mpi_barrier,
    .allgather_bytes = mpi_allgather_bytes,
    .split = mpi_split,
    .free = mpi_free,
};

int comm_mpi_open(struct comm *c, struct boot *b, struct df_err *err)
{
    /* Open MPI's own singleton start (forking a daemon) crashes once PMIx has
     * made this process a singleton; one plain process needs no MPI anyway. */
    DF_FAIL_IF(b->info.singleton, err, DF_E_UNSUPPORTED,
               "comm: the mpi backend needs a launcher (srun --mpi=pmix or mpirun); a plain "
               "process runs one rank with the self backend");
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    DF_FAIL_IF(finalized, err, DF_E_COMM, "comm: MPI was already finalised in this process");
    struct mpi_family *fam = calloc(1, sizeof *fam);
    struct mpi_ctx *x = calloc(1, sizeof *x);
    int rc = DF_E_NOMEM;
    if (fam == NULL || x == NULL) {
        df_err_set(err, rc, "comm: out of memory");
        goto fail;
    }
    if (!inited) {
        /* FUNNELED: kernels run threads, but only the main thread talks MPI. */
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            rc = df_err_set(err, DF_E_COMM, "comm: MPI_Init_thread failed (rank %d of %d)",
                            b->info.rank, b->info.size);
            goto fail;
        }
        fam->owns_init = 1;
    }
    fam->refs = 1;
    x->fam = fam;
    int mrc = MPI_Comm_dup(MPI_COMM_WORLD, &x->comm);
    if (mrc == MPI_SUCCESS)
        mrc = MPI_Comm_set_errhandler(x->comm, MPI_ERRORS_RETURN);
    if (mrc != MPI_SUCCESS) {
        rc = df_err_set(err, DF_E_COMM, "comm: MPI_Comm_dup of the world failed (rank %d)",
                        b->info.rank);
        goto fail_init;
    }
    MPI_Comm_rank(x->comm, &c->rank);
    MPI_Comm_size(x->comm, &c->size);
    if (c->rank != b->info.rank || c->size != b->info.size) {
        rc = df_err_set(err, DF_E_COMM,
                        "comm: MPI sees rank %d of %d but PMIx said rank %d of %d (nspace %s): "
                        "MPI and the worker were started by different launchers?",
                        c->rank, c->size, b->info.rank, b->info.size, b->info.nspace);
        MPI_Comm_free(&x->comm);
        goto fail_init;
    }
    c->world_rank = c->rank;
    c->iface = &mpi_iface;
    c->ctx = x;
    return 0;
fail_init:
    if (fam->owns_init)
        MPI_Finalize();
fail:
    free(x);
    free(fam);
    return rc;
}
