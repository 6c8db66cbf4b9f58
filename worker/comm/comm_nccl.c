/* comm_nccl.c -- the NCCL backend (device memory; GPU runs).  Compiled only
 * with DITFARM_HAVE_CUDA: worker/comm/CMakeLists.txt globs every .c file of comm/, so the
 * whole body is guarded.
 *
 * Bootstrap (docs/comm.md): rank 0 of each new communicator calls
 * ncclGetUniqueId and publishes it with boot_put under a key of its own
 * ("df.nccl.<comm id>.0"), every member fences through PMIx, the others
 * boot_get it, then all call ncclCommInitRank.  Comm ids are derived the same
 * way on every rank (parent id, split count, color), so no two communicators
 * share a key.  Host-side control data (split tables, comm_check_same) goes
 * through PMIx too, so the backend needs no MPI.
 *
 * Timeouts: ops are queued on the comm's stream, then the stream (or, for a
 * started sendrecv, an event) is polled until the deadline; on timeout the
 * communicator is aborted (ncclCommAbort) and the comm is broken.
 * ncclCommInitRank itself blocks until all members arrive. */
#ifdef DITFARM_HAVE_CUDA

#include "comm_impl.h"
#include "comm_nccl.h"
#include "kern_build.h"
#include "sp_plan.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct nccl_ctx {
    ncclComm_t comm;
    cudaStream_t stream;
    float *scratch;    /* one device float for barrier */
    struct boot *boot; /* must outlive the comm: control data goes through PMIx */
    int *world_of;     /* group rank -> world rank */
    unsigned id;       /* communicator id, part of every PMIx key */
    unsigned seq;      /* control exchanges on this comm so far */
    unsigned nsplit;   /* splits of this comm so far */
    int device;
    int aborted;
    cudaStream_t follow; /* comm_nccl_follow: ops wait for this stream's queued work */
    cudaEvent_t follow_ev;
};

static struct nccl_ctx *ctx_of(struct comm *c)
{
    return c->ctx;
}

static int nccl_fail(struct comm *c, const char *op, ncclResult_t r, struct df_err *err)
{
    return df_err_set(err, DF_E_COMM, "comm %s on group '%s' (nccl, rank %d/%d, world rank %d): %s",
                      op, c->name, c->rank, c->size, c->world_rank, ncclGetErrorString(r));
}

static int cuda_fail(struct comm *c, const char *op, cudaError_t e, struct df_err *err)
{
    return df_err_set(err, DF_E_COMM,
                      "comm %s on group '%s' (nccl, rank %d/%d, world rank %d): "
                      "CUDA: %s",
                      op, c->name, c->rank, c->size, c->world_rank, cudaGetErrorString(e));
}

static void nap(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* Poll `ev` (or the whole stream when ev is NULL) until done or the deadline. */
static int wait_gpu(struct comm *c, cudaEvent_t ev, const char *op, struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    double deadline = df_clock_s() + c->timeout_s;
    long pause = 1000;
    for (;;) {
        cudaError_t e = ev ? cudaEventQuery(ev) : cudaStreamQuery(x->stream);
        if (e == cudaSuccess)
            return 0;
        if (e != cudaErrorNotReady)
            return cuda_fail(c, op, e, err);
        ncclResult_t async = ncclSuccess;
        if (ncclCommGetAsyncError(x->comm, &async) == ncclSuccess && async != ncclSuccess &&
            async != ncclInProgress) {
            ncclCommAbort(x->comm);
            x->aborted = 1;
            return nccl_fail(c, op, async, err);
        }
        if (df_clock_s() > deadline) {
            ncclCommAbort(x->comm);
            x->aborted = 1;
            return df_err_set(err, DF_E_TIMEOUT,
                              "comm %s on group '%s' (nccl, rank %d/%d, world rank %d): no "
                              "answer from the group's ranks after %.1f s (a rank died or hangs; "
                              "DITFARM_COMM_TIMEOUT)",
                              op, c->name, c->rank, c->size, c->world_rank, c->timeout_s);
        }
        nap(pause);
        if (pause < 1000000)
            pause *= 2;
    }
}

/* Before an op is queued: the comm stream waits (on the GPU) for the work
 * queued on the followed stream so far. */
static int follow(struct comm *c, const char *op, struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    if (x->follow == NULL)
        return 0;
    cudaError_t e = cudaEventRecord(x->follow_ev, x->follow);
    if (e == cudaSuccess)
        e = cudaStreamWaitEvent(x->stream, x->follow_ev, 0);
    return e == cudaSuccess ? 0 : cuda_fail(c, op, e, err);
}

static ncclRedOp_t red_op(enum comm_op op)
{
    switch (op) {
    case COMM_OP_MAX:
        return ncclMax;
    case COMM_OP_MIN:
        return ncclMin;
    default:
        return ncclSum;
    }
}

static int nccl_alltoallv(struct comm *c, const float *send, const size_t *scounts,
                          const size_t *sdispls, float *recv, const size_t *rcounts,
                          const size_t *rdispls, struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    DF_TRY(follow(c, "alltoallv", err));
    ncclResult_t r = ncclGroupStart();
    for (int j = 0; j < c->size && r == ncclSuccess; j++) {
        if (scounts[j] > 0)
            r = ncclSend(send + sdispls[j], scounts[j], ncclFloat, j, x->comm, x->stream);
        if (r == ncclSuccess && rcounts[j] > 0)
            r = ncclRecv(recv + rdispls[j], rcounts[j], ncclFloat, j, x->comm, x->stream);
    }
    ncclResult_t r2 = ncclGroupEnd();
    if (r == ncclSuccess)
        r = r2;
    if (r != ncclSuccess)
        return nccl_fail(c, "alltoallv", r, err);
    return wait_gpu(c, NULL, "alltoallv", err);
}

static int nccl_sendrecv_start(struct comm *c, const float *send, size_t nsend, int dst,
                               float *recv, size_t nrecv, int src, void **impl, struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    DF_TRY(follow(c, "sendrecv", err));
    ncclResult_t r = ncclGroupStart();
    if (r == ncclSuccess && nsend > 0)
        r = ncclSend(send, nsend, ncclFloat, dst, x->comm, x->stream);
    if (r == ncclSuccess && nrecv > 0)
        r = ncclRecv(recv, nrecv, ncclFloat, src, x->comm, x->stream);
    ncclResult_t r2 = ncclGroupEnd();
    if (r == ncclSuccess)
        r = r2;
    if (r != ncclSuccess)
        return nccl_fail(c, "sendrecv", r, err);
    /* An event marks the end of this pair, so compute queued later on other
     * streams overlaps with it and wait polls only this pair. */
    cudaEvent_t ev;
    cudaError_t e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
    if (e == cudaSuccess && (e = cudaEventRecord(ev, x->stream)) != cudaSuccess)
        cudaEventDestroy(ev);
    if (e != cudaSuccess)
        return cuda_fail(c, "sendrecv", e, err);
    *impl = ev;
    return 0;
}

static int nccl_wait(struct comm *c, void *impl, struct df_err *err)
{
    cudaEvent_t ev = impl;
    int rc = wait_gpu(c, ev, "sendrecv", err);
    cudaEventDestroy(ev);
    return rc;
}

static int nccl_allreduce(struct comm *c, const float *send, float *recv, size_t n, enum comm_op op,
                          struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    DF_TRY(follow(c, "allreduce", err));
    ncclResult_t r = ncclAllReduce(send, recv, n, ncclFloat, red_op(op), x->comm, x->stream);
    if (r != ncclSuccess)
        return nccl_fail(c, "allreduce", r, err);
    return wait_gpu(c, NULL, "allreduce", err);
}

/* Uneven all-gather: every rank broadcasts its block, grouped into one launch. */
static int nccl_allgatherv(struct comm *c, const float *send, size_t nsend, float *recv,
                           const size_t *rcounts, const size_t *rdispls, struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    DF_TRY(follow(c, "allgatherv", err));
    ncclResult_t r = ncclGroupStart();
    for (int j = 0; j < c->size && r == ncclSuccess; j++)
        if (rcounts[j] > 0)
            r = ncclBroadcast(j == c->rank ? (const void *)send : (const void *)(recv + rdispls[j]),
                              recv + rdispls[j], rcounts[j], ncclFloat, j, x->comm, x->stream);
    ncclResult_t r2 = ncclGroupEnd();
    if (r == ncclSuccess)
        r = r2;
    if (r != ncclSuccess)
        return nccl_fail(c, "allgatherv", r, err);
    return wait_gpu(c, NULL, "allgatherv", err);
}

static int nccl_bcast(struct comm *c, float *buf, size_t n, int root, struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    DF_TRY(follow(c, "bcast", err));
    ncclResult_t r = ncclBroadcast(buf, buf, n, ncclFloat, root, x->comm, x->stream);
    if (r != ncclSuccess)
        return nccl_fail(c, "bcast", r, err);
    return wait_gpu(c, NULL, "bcast", err);
}

static int nccl_barrier(struct comm *c, struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    ncclResult_t r =
        ncclAllReduce(x->scratch, x->scratch, 1, ncclFloat, ncclSum, x->comm, x->stream);
    if (r != ncclSuccess)
        return nccl_fail(c, "barrier", r, err);
    return wait_gpu(c, NULL, "barrier", err);
}

/* Host control data through PMIx: put under a fresh key, fence over the
 * group's world ranks, get every member's blob. */
static int nccl_allgather_bytes(struct comm *c, const void *send, size_t n, void *recv,
                                struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    char key[BOOT_KEY_CAP];
    DF_TRY(boot_key(key, "ag", x->id, x->seq++, err));
    DF_TRY(boot_put(x->boot, key, send, n, err));
    DF_TRY(boot_fence(x->boot, x->world_of, c->size, err));
    for (int j = 0; j < c->size; j++) {
        size_t got = 0;
        DF_TRY(boot_get(x->boot, x->world_of[j], key, (char *)recv + (size_t)j * n, n, &got, err));
        DF_FAIL_IF(got != n, err, DF_E_COMM,
                   "comm allgather_bytes on group '%s' (nccl): rank %d sent %zu bytes, want %zu",
                   c->name, j, got, n);
    }
    return 0;
}

static const struct comm_i nccl_iface;

/* Create a communicator of n members (world ranks world_of[]) where this rank
 * is `me`; `fence_ranks` (nf world ranks) are all the ranks taking part in the
 * creation (the parent group), which fence together. */
static int nccl_create(struct comm *c, struct boot *b, int device, unsigned id, const int *world_of,
                       int n, int me, const int *fence_ranks, int nf, struct df_err *err)
{
    struct nccl_ctx *x = calloc(1, sizeof *x);
    int *w = malloc((size_t)n * sizeof *w);
    int rc = DF_E_NOMEM;
    if (x == NULL || w == NULL) {
        df_err_set(err, rc, "comm (nccl): out of memory");
        goto fail;
    }
    memcpy(w, world_of, (size_t)n * sizeof *w);
    x->boot = b;
    x->world_of = w;
    x->id = id;
    x->device = device;
    char key[BOOT_KEY_CAP];
    ncclUniqueId uid;
    memset(&uid, 0, sizeof uid);
    if ((rc = boot_key(key, "nccl", id, 0, err)) < 0)
        goto fail;
    if (me == 0) {
        ncclResult_t r = ncclGetUniqueId(&uid);
        if (r != ncclSuccess) {
            rc = df_err_set(err, DF_E_COMM, "comm (nccl): ncclGetUniqueId: %s",
                            ncclGetErrorString(r));
            goto fail;
        }
        if ((rc = boot_put(b, key, &uid, sizeof uid, err)) < 0)
            goto fail;
    }
    if ((rc = boot_fence(b, fence_ranks, nf, err)) < 0)
        goto fail;
    size_t got = 0;
    if (me != 0 && (rc = boot_get(b, w[0], key, &uid, sizeof uid, &got, err)) < 0)
        goto fail;
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&x->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&x->scratch, sizeof(float));
    if (e != cudaSuccess) {
        rc = df_err_set(err, DF_E_COMM, "comm (nccl): CUDA device %d: %s", device,
                        cudaGetErrorString(e));
        goto fail;
    }
    ncclResult_t r = ncclCommInitRank(&x->comm, n, uid, me);
    if (r != ncclSuccess) {
        rc = df_err_set(err, DF_E_COMM, "comm (nccl): ncclCommInitRank (rank %d of %d): %s", me, n,
                        ncclGetErrorString(r));
        goto fail;
    }
    c->iface = &nccl_iface;
    c->ctx = x;
    c->rank = me;
    c->size = n;
    return 0;
fail:
    if (x != NULL) {
        if (x->stream)
            cudaStreamDestroy(x->stream);
        cudaFree(x->scratch);
    }
    free(w);
    free(x);
    return rc;
}

static int nccl_split(struct comm *c, int color, int key, struct comm *out, struct df_err *err)
{
    struct nccl_ctx *x = ctx_of(c);
    int *members = malloc((size_t)c->size * sizeof *members);
    DF_FAIL_IF(members == NULL, err, DF_E_NOMEM, "comm split (nccl): out of memory");
    int n = 0, me = 0;
    int rc = comm_split_members(c, color, key, members, &n, &me, err);
    if (rc == 0) {
        for (int i = 0; i < n; i++)
            members[i] = x->world_of[members[i]];
        /* Same on every member: parent id, how many splits the parent saw, color. */
        unsigned id = sp_nccl_comm_id(x->id, ++x->nsplit, color);
        rc = nccl_create(out, x->boot, x->device, id, members, n, me, x->world_of, c->size, err);
    }
    free(members);
    return rc;
}

static void nccl_free(struct comm *c)
{
    struct nccl_ctx *x = ctx_of(c);
    if (x == NULL)
        return;
    if (!x->aborted) {
        /* Destroy waits for queued work: never after losing a peer. */
        if (c->broken)
            ncclCommAbort(x->comm);
        else
            ncclCommDestroy(x->comm);
    }
    if (x->follow_ev)
        cudaEventDestroy(x->follow_ev);
    cudaStreamDestroy(x->stream);
    cudaFree(x->scratch);
    free(x->world_of);
    free(x);
    c->ctx = NULL;
}

static const struct comm_i nccl_iface = {
    .name = "nccl",
    .alltoallv = nccl_alltoallv,
    .sendrecv_start = nccl_sendrecv_start,
    .wait = nccl_wait,
    .allreduce = nccl_allreduce,
    .allgatherv = nccl_allgatherv,
    .bcast = nccl_bcast,
    .barrier = nccl_barrier,
    .allgather_bytes = nccl_allgather_bytes,
    .split = nccl_split,
    .free = nccl_free,
};

int comm_nccl_open(struct comm *c, struct boot *b, int device, struct df_err *err)
{
    int n = b->info.size;
    int *world = malloc((size_t)n * sizeof *world);
    DF_FAIL_IF(world == NULL, err, DF_E_NOMEM, "comm (nccl): out of memory");
    for (int i = 0; i < n; i++)
        world[i] = i;
    int dev = device >= 0 ? device : b->info.local_rank;
    int rc = nccl_create(c, b, dev, SP_NCCL_WORLD_ID, world, n, b->info.rank, NULL, 0, err);
    free(world);
    if (rc == 0)
        c->world_rank = b->info.rank;
    return rc;
}

int comm_nccl_follow(comm_t c, void *stream, struct df_err *err)
{
    DF_FAIL_IF(c == NULL || c->magic != COMM_MAGIC || c->iface != &nccl_iface, err, DF_E_INVAL,
               "comm_nccl_follow: '%s' is not an NCCL comm", c ? c->name : "(null)");
    struct nccl_ctx *x = ctx_of(c);
    if (stream != NULL && x->follow_ev == NULL) {
        cudaError_t e = cudaEventCreateWithFlags(&x->follow_ev, cudaEventDisableTiming);
        if (e != cudaSuccess)
            return cuda_fail(c, "follow", e, err);
    }
    x->follow = stream;
    return 0;
}

int comm_nccl_follow_backend(comm_t c, kern_backend_t be, struct df_err *err)
{
    if (c == NULL || comm_backend_of(c) != COMM_BACKEND_NCCL)
        return 0;
    void *stream = kern_cuda_stream(be);
    DF_FAIL_IF(stream == NULL, err, DF_E_INVAL,
               "comm_nccl_follow: NCCL comm '%s' with the '%s' backend (device memory needs "
               "\"cuda\")", c->name, kern_backend_name(be));
    return comm_nccl_follow(c, stream, err);
}

#else
#include "comm_impl.h"
#include "comm_nccl.h"

int comm_nccl_follow_backend(comm_t c, kern_backend_t be, struct df_err *err)
{
    (void)be;
    if (c == NULL || comm_backend_of(c) != COMM_BACKEND_NCCL)
        return 0;
    return df_err_set(err, DF_E_UNSUPPORTED, "comm_nccl_follow: built without CUDA");
}

int comm_nccl_follow(comm_t c, void *stream, struct df_err *err)
{
    (void)c, (void)stream;
    return df_err_set(err, DF_E_UNSUPPORTED, "comm_nccl_follow: built without CUDA");
}
#endif /* DITFARM_HAVE_CUDA */
