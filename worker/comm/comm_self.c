/* comm_self.c -- the one-rank backend: every collective is a copy (or nothing).
 * Lets the forward run the same code path on a laptop as on a cluster. */
#include "comm_impl.h"

#include <string.h>

static void copy(float *dst, const float *src, size_t n)
{
    if (n > 0 && dst != src)
        memmove(dst, src, n * sizeof *dst);
}

static int self_alltoallv(struct comm *c, const float *send, const size_t *scounts,
                          const size_t *sdispls, float *recv, const size_t *rcounts,
                          const size_t *rdispls, struct df_err *err)
{
    DF_FAIL_IF(scounts[0] != rcounts[0], err, DF_E_INVAL,
               "comm alltoallv on group '%s' (self): sends %zu elements to itself but expects %zu",
               c->name, scounts[0], rcounts[0]);
    copy(recv + rdispls[0], send + sdispls[0], scounts[0]);
    return 0;
}

/* The copy happens at start: nothing is left for wait. */
static int self_sendrecv_start(struct comm *c, const float *send, size_t nsend, int dst,
                               float *recv, size_t nrecv, int src, void **impl, struct df_err *err)
{
    DF_FAIL_IF(nsend != nrecv, err, DF_E_INVAL,
               "comm sendrecv on group '%s' (self): sends %zu elements, expects %zu", c->name,
               nsend, nrecv);
    copy(recv, send, nsend);
    *impl = NULL;
    return 0;
}

static int self_wait(struct comm *c, void *impl, struct df_err *err)
{
    return 0;
}

static int self_allreduce(struct comm *c, const float *send, float *recv, size_t n, enum comm_op op,
                          struct df_err *err)
{
    copy(recv, send, n);
    return 0;
}

static int self_allgatherv(struct comm *c, const float *send, size_t nsend, float *recv,
                           const size_t *rcounts, const size_t *rdispls, struct df_err *err)
{
    copy(recv + rdispls[0], send, nsend);
    return 0;
}

static int self_bcast(struct comm *c, float *buf, size_t n, int root, struct df_err *err)
{
    return 0;
}

static int self_barrier(struct comm *c, struct df_err *err)
{
    return 0;
}

static int self_allgather_bytes(struct comm *c, const void *send, size_t n, void *recv,
                                struct df_err *err)
{
    if (n > 0 && send != recv)
        memmove(recv, send, n);
    return 0;
}

static int self_split(struct comm *c, int color, int key, struct comm *out, struct df_err *err)
{
    return comm_self_open(out, err);
}

static void self_free(struct comm *c) {}

static const struct comm_i self_iface = {
    .name = "self",
    .alltoallv = self_alltoallv,
    .sendrecv_start = self_sendrecv_start,
    .wait = self_wait,
    .allreduce = self_allreduce,
    .allgatherv = self_allgatherv,
    .bcast = self_bcast,
    .barrier = self_barrier,
    .allgather_bytes = self_allgather_bytes,
    .split = self_split,
    .free = self_free,
};

int comm_self_open(struct comm *c, struct df_err *err)
{
    c->iface = &self_iface;
    c->ctx = NULL;
    c->rank = 0;
    c->size = 1;
    /* world_rank stays what the front end set (0 for the world comm). */
    return 0;
}
