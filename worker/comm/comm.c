/* comm.c -- front end of the comm layer (see comm.h): argument checks, packed
 * displacements, the broken flag, and the backend-independent helpers
 * (comm_check_same, the split membership table). */
#include "comm_impl.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* THE REGISTRY of comm backends: name and capabilities, one line each (a
 * new backend adds its line, its enum value, its comm_<name>.c and its case
 * in comm_open). */
#define DT(t) (1u << (t))
static const struct comm_caps k_caps[] = {
    [COMM_BACKEND_SELF] = {.name = "self", .mem = COMM_MEM_HOST,
                           .dtypes = DT(COMM_DTYPE_F32) | DT(COMM_DTYPE_BYTE), .multi_rank = 0,
                           .selects_device = 0},
    [COMM_BACKEND_MPI] = {.name = "mpi", .mem = COMM_MEM_HOST,
                          .dtypes = DT(COMM_DTYPE_F32) | DT(COMM_DTYPE_BYTE), .multi_rank = 1,
                          .selects_device = 0},
    [COMM_BACKEND_NCCL] = {.name = "nccl", .mem = COMM_MEM_DEVICE,
                           .dtypes = DT(COMM_DTYPE_F32) | DT(COMM_DTYPE_BYTE), .multi_rank = 1,
                           .selects_device = 1},
};
_Static_assert(sizeof k_caps / sizeof k_caps[0] == COMM_BACKEND_COUNT,
               "k_caps must list every enum comm_backend");
static const char *const dtype_names[] = {"f32", "byte"};
static const size_t dtype_sizes[] = {sizeof(float), 1};
_Static_assert(sizeof dtype_names / sizeof dtype_names[0] == COMM_DTYPE_COUNT &&
                   sizeof dtype_sizes / sizeof dtype_sizes[0] == COMM_DTYPE_COUNT,
               "every comm_dtype needs a name and a size");
static const char *const op_names[] = {"sum", "max", "min"};
_Static_assert(sizeof op_names / sizeof op_names[0] == COMM_OP_COUNT,
               "op_names must list every enum comm_op");

const char *comm_backend_name(enum comm_backend be)
{
    return (unsigned)be < COMM_BACKEND_COUNT ? k_caps[be].name : "?";
}

const struct comm_caps *comm_backend_caps(enum comm_backend be)
{
    return (unsigned)be < COMM_BACKEND_COUNT ? &k_caps[be] : NULL;
}

const char *comm_dtype_name(enum comm_dtype t)
{
    return (unsigned)t < COMM_DTYPE_COUNT ? dtype_names[t] : "?";
}

size_t comm_dtype_size(enum comm_dtype t)
{
    return (unsigned)t < COMM_DTYPE_COUNT ? dtype_sizes[t] : 0;
}

int comm_backend_pick(enum comm_mem mem, int size, enum comm_backend *out, struct df_err *err)
{
    for (int i = 0; i < COMM_BACKEND_COUNT; i++)
        if (comm_backend_available((enum comm_backend)i) && k_caps[i].mem == mem &&
            (size > 1 ? k_caps[i].multi_rank : !k_caps[i].multi_rank)) {
            *out = (enum comm_backend)i;
            return 0;
        }
    return df_err_set(err, DF_E_UNSUPPORTED, "comm: no backend in this build for %d rank%s on %s memory",
                      size, size == 1 ? "" : "s", mem == COMM_MEM_HOST ? "host" : "device");
}

const char *comm_op_name(enum comm_op op)
{
    return (unsigned)op < COMM_OP_COUNT ? op_names[op] : "?";
}

int comm_backend_from_name(const char *name, enum comm_backend *out, struct df_err *err)
{
    for (int i = 0; i < COMM_BACKEND_COUNT; i++) {
        if (name != NULL && strcmp(name, k_caps[i].name) == 0) {
            *out = (enum comm_backend)i;
            return 0;
        }
    }
    return df_err_set(err, DF_E_INVAL, "comm: unknown backend '%s' (self, mpi, nccl)",
                      name ? name : "(null)");
}

int comm_backend_available(enum comm_backend be)
{
#ifdef DITFARM_HAVE_CUDA
    return (unsigned)be < COMM_BACKEND_COUNT;
#else
    return be == COMM_BACKEND_SELF || be == COMM_BACKEND_MPI;
#endif
}

struct comm_opts comm_opts_default(void)
{
    return (struct comm_opts){.timeout_s = 300.0, .device = -1};
}

int comm_opts_from_env(struct comm_opts *o, struct df_err *err)
{
    const char *s = getenv("DITFARM_COMM_TIMEOUT");
    if (s == NULL || *s == '\0')
        return 0;
    char *end = NULL;
    double v = strtod(s, &end);
    DF_FAIL_IF(end == s || *end != '\0' || !(v > 0) || !isfinite(v), err, DF_E_INVAL,
               "DITFARM_COMM_TIMEOUT='%s': want a positive number of seconds", s);
    o->timeout_s = v;
    return 0;
}

/* ---- lifetime ------------------------------------------------------------------ */

int comm_open(enum comm_backend be, struct boot *b, const struct comm_opts *opts, comm_t *out,
              struct df_err *err)
{
    *out = NULL;
    struct comm_opts o = opts ? *opts : comm_opts_default();
    DF_FAIL_IF(!comm_backend_available(be), err, DF_E_UNSUPPORTED,
               "comm: backend %s is not in this build (no CUDA)", comm_backend_name(be));
    DF_FAIL_IF(be != COMM_BACKEND_SELF && b == NULL, err, DF_E_INVAL,
               "comm: backend %s needs the boot info", comm_backend_name(be));
    struct comm *c = calloc(1, sizeof *c);
    DF_FAIL_IF(c == NULL, err, DF_E_NOMEM, "comm: out of memory");
    c->magic = COMM_MAGIC;
    c->backend = be;
    c->timeout_s = o.timeout_s;
    snprintf(c->name, sizeof c->name, "world");
    int rc = DF_E_INTERNAL;
    switch (be) {
    case COMM_BACKEND_SELF:
        if (b != NULL && b->info.size != 1) {
            rc = df_err_set(err, DF_E_INVAL,
                            "comm: the self backend runs one rank, this job has %d", b->info.size);
            break;
        }
        rc = comm_self_open(c, err);
        break;
    case COMM_BACKEND_MPI:
        rc = comm_mpi_open(c, b, err);
        break;
    case COMM_BACKEND_NCCL:
#ifdef DITFARM_HAVE_CUDA
        rc = comm_nccl_open(c, b, o.device, err);
#endif
        break;
    case COMM_BACKEND_COUNT:
        break;
    }
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void comm_close(comm_t c)
{
    if (c == NULL)
        return;
    assert(c->magic == COMM_MAGIC);
    if (c->iface != NULL && c->iface->free != NULL)
        c->iface->free(c);
    c->magic = 0;
    free(c);
}

void comm_set_name(comm_t c, const char *name)
{
    snprintf(c->name, sizeof c->name, "%s", name ? name : "?");
}

int comm_rank(const struct comm *c)
{
    return c->rank;
}
int comm_size(const struct comm *c)
{
    return c->size;
}
int comm_world_rank(const struct comm *c)
{
    return c->world_rank;
}
const char *comm_name(const struct comm *c)
{
    return c->name;
}
enum comm_backend comm_backend_of(const struct comm *c)
{
    return c->backend;
}
int comm_is_broken(const struct comm *c)
{
    return c->broken;
}

/* ---- checks shared by every op ----------------------------------------------------- */

static int check_usable(const struct comm *c, const char *op, struct df_err *err)
{
    DF_FAIL_IF(c == NULL || c->magic != COMM_MAGIC, err, DF_E_INVAL, "comm %s: not an open comm",
               op);
    DF_FAIL_IF(c->broken, err, DF_E_COMM,
               "comm %s on group '%s' (rank %d/%d, world rank %d): the group is broken by an "
               "earlier failure",
               op, c->name, c->rank, c->size, c->world_rank);
    return 0;
}

/* Mark the comm broken when a slot reports a lost peer or a library failure. */
static int after(struct comm *c, int rc)
{
    if (rc == DF_E_TIMEOUT || rc == DF_E_COMM)
        c->broken = 1;
    return rc;
}

/* displs NULL -> packed prefix sums into tmp (caller's size-long array). */
static const size_t *packed(const size_t *counts, const size_t *displs, size_t *tmp, int n)
{
    if (displs != NULL)
        return displs;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        tmp[i] = off;
        off += counts[i];
    }
    return tmp;
}

#define UNSUPPORTED(c, op)                                                                         \
    df_err_set(err, DF_E_UNSUPPORTED, "comm %s: the %s backend has no such op", op,                \
               (c)->iface->name)

/* ---- operations ------------------------------------------------------------------ */

int comm_alltoallv(comm_t c, const float *send, const size_t *send_counts,
                   const size_t *send_displs, float *recv, const size_t *recv_counts,
                   const size_t *recv_displs, struct df_err *err)
{
    DF_TRY(check_usable(c, "alltoallv", err));
    DF_FAIL_IF(send_counts == NULL || recv_counts == NULL, err, DF_E_INVAL,
               "comm alltoallv on group '%s': counts are required", c->name);
    if (c->iface->alltoallv == NULL)
        return UNSUPPORTED(c, "alltoallv");
    size_t *tmp = malloc(2 * (size_t)c->size * sizeof *tmp);
    DF_FAIL_IF(tmp == NULL, err, DF_E_NOMEM, "comm alltoallv: out of memory");
    const size_t *sd = packed(send_counts, send_displs, tmp, c->size);
    const size_t *rd = packed(recv_counts, recv_displs, tmp + c->size, c->size);
    int rc = c->iface->alltoallv(c, send, send_counts, sd, recv, recv_counts, rd, err);
    free(tmp);
    return after(c, rc);
}

struct comm_req {
    struct comm *comm;
    void *impl;
};

int comm_sendrecv_start(comm_t c, const float *send, size_t nsend, int dst, float *recv,
                        size_t nrecv, int src, comm_req_t *req, struct df_err *err)
{
    *req = NULL;
    DF_TRY(check_usable(c, "sendrecv", err));
    DF_FAIL_IF(dst < 0 || dst >= c->size || src < 0 || src >= c->size, err, DF_E_INVAL,
               "comm sendrecv on group '%s': dst %d / src %d outside [0, %d)", c->name, dst, src,
               c->size);
    if (c->iface->sendrecv_start == NULL || c->iface->wait == NULL)
        return UNSUPPORTED(c, "sendrecv");
    struct comm_req *r = calloc(1, sizeof *r);
    DF_FAIL_IF(r == NULL, err, DF_E_NOMEM, "comm sendrecv: out of memory");
    r->comm = c;
    int rc = c->iface->sendrecv_start(c, send, nsend, dst, recv, nrecv, src, &r->impl, err);
    if (rc < 0) {
        free(r);
        return after(c, rc);
    }
    *req = r;
    return 0;
}

int comm_wait(comm_req_t req, struct df_err *err)
{
    DF_FAIL_IF(req == NULL, err, DF_E_INVAL, "comm wait: no request");
    struct comm *c = req->comm;
    int rc = check_usable(c, "wait", err);
    if (rc == 0)
        rc = after(c, c->iface->wait(c, req->impl, err));
    free(req);
    return rc;
}

int comm_allreduce(comm_t c, const float *send, float *recv, size_t n, enum comm_op op,
                   struct df_err *err)
{
    DF_TRY(check_usable(c, "allreduce", err));
    DF_FAIL_IF((unsigned)op >= COMM_OP_COUNT, err, DF_E_INVAL,
               "comm allreduce on group '%s': bad op %d", c->name, (int)op);
    if (c->iface->allreduce == NULL)
        return UNSUPPORTED(c, "allreduce");
    return after(c, c->iface->allreduce(c, send, recv, n, op, err));
}

int comm_allgatherv(comm_t c, const float *send, size_t nsend, float *recv,
                    const size_t *recv_counts, const size_t *recv_displs, struct df_err *err)
{
    DF_TRY(check_usable(c, "allgatherv", err));
    DF_FAIL_IF(recv_counts == NULL, err, DF_E_INVAL,
               "comm allgatherv on group '%s': counts are required", c->name);
    DF_FAIL_IF(recv_counts[c->rank] != nsend, err, DF_E_INVAL,
               "comm allgatherv on group '%s': rank %d sends %zu elements but recv_counts[%d] "
               "= %zu",
               c->name, c->rank, nsend, c->rank, recv_counts[c->rank]);
    if (c->iface->allgatherv == NULL)
        return UNSUPPORTED(c, "allgatherv");
    size_t *tmp = malloc((size_t)c->size * sizeof *tmp);
    DF_FAIL_IF(tmp == NULL, err, DF_E_NOMEM, "comm allgatherv: out of memory");
    const size_t *rd = packed(recv_counts, recv_displs, tmp, c->size);
    int rc = c->iface->allgatherv(c, send, nsend, recv, recv_counts, rd, err);
    free(tmp);
    return after(c, rc);
}

int comm_bcast(comm_t c, float *buf, size_t n, int root, struct df_err *err)
{
    DF_TRY(check_usable(c, "bcast", err));
    DF_FAIL_IF(root < 0 || root >= c->size, err, DF_E_INVAL,
               "comm bcast on group '%s': root %d outside [0, %d)", c->name, root, c->size);
    if (c->iface->bcast == NULL)
        return UNSUPPORTED(c, "bcast");
    return after(c, c->iface->bcast(c, buf, n, root, err));
}

int comm_barrier(comm_t c, struct df_err *err)
{
    DF_TRY(check_usable(c, "barrier", err));
    if (c->iface->barrier == NULL)
        return UNSUPPORTED(c, "barrier");
    return after(c, c->iface->barrier(c, err));
}

int comm_allgather_bytes(comm_t c, const void *send, size_t n, void *recv, struct df_err *err)
{
    DF_TRY(check_usable(c, "allgather_bytes", err));
    if (c->iface->allgather_bytes == NULL)
        return UNSUPPORTED(c, "allgather_bytes");
    return after(c, c->iface->allgather_bytes(c, send, n, recv, err));
}

int comm_allgather(comm_t c, enum comm_dtype t, const void *send, size_t n, void *recv,
                   struct df_err *err)
{
    DF_TRY(check_usable(c, "allgather", err));
    DF_FAIL_IF((unsigned)t >= COMM_DTYPE_COUNT || !(k_caps[c->backend].dtypes & DT(t)), err,
               DF_E_UNSUPPORTED, "comm allgather on group '%s': backend %s does not move %s",
               c->name, k_caps[c->backend].name, comm_dtype_name(t));
    DF_FAIL_IF(n > SIZE_MAX / comm_dtype_size(t), err, DF_E_RANGE,
               "comm allgather on group '%s': %zu elements overflow", c->name, n);
    /* every type travels as its bytes: a gather moves them unchanged */
    return comm_allgather_bytes(c, send, n * comm_dtype_size(t), recv, err);
}

int comm_split(comm_t c, int color, int key, comm_t *out, struct df_err *err)
{
    *out = NULL;
    DF_TRY(check_usable(c, "split", err));
    DF_FAIL_IF(color < 0, err, DF_E_INVAL, "comm split of group '%s': color %d is negative",
               c->name, color);
    if (c->iface->split == NULL)
        return UNSUPPORTED(c, "split");
    struct comm *s = calloc(1, sizeof *s);
    DF_FAIL_IF(s == NULL, err, DF_E_NOMEM, "comm split: out of memory");
    s->magic = COMM_MAGIC;
    s->backend = c->backend;
    s->timeout_s = c->timeout_s;
    s->world_rank = c->world_rank;
    snprintf(s->name, sizeof s->name, "%.*s.split", COMM_NAME_CAP - 7, c->name);
    int rc = after(c, c->iface->split(c, color, key, s, err));
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- helpers shared by the backends ------------------------------------------------ */

struct member {
    int color, key, rank;
};

static int member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

int comm_split_members(struct comm *c, int color, int key, int *members, int *n, int *me,
                       struct df_err *err)
{
    int mine[2] = {color, key};
    int *all = malloc(2 * (size_t)c->size * sizeof *all);
    struct member *m = malloc((size_t)c->size * sizeof *m);
    int rc = DF_E_NOMEM;
    if (all == NULL || m == NULL) {
        df_err_set(err, rc, "comm split: out of memory");
        goto out;
    }
    rc = c->iface->allgather_bytes(c, mine, sizeof mine, all, err);
    if (rc < 0)
        goto out;
    int k = 0;
    for (int i = 0; i < c->size; i++)
        if (all[2 * i] == color)
            m[k++] = (struct member){all[2 * i], all[2 * i + 1], i};
    qsort(m, (size_t)k, sizeof *m, member_cmp);
    *n = k;
    for (int i = 0; i < k; i++) {
        members[i] = m[i].rank;
        if (m[i].rank == c->rank)
            *me = i;
    }
out:
    free(all);
    free(m);
    return rc;
}

/* FNV-1a, 64 bits: enough to tell two layouts apart, not a security hash. */
static uint64_t fnv1a64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

int comm_check_same(comm_t c, const void *blob, size_t n, struct df_err *err)
{
    DF_TRY(check_usable(c, "check_same", err));
    uint64_t h = fnv1a64(blob, n);
    uint64_t *all = malloc((size_t)c->size * sizeof *all);
    DF_FAIL_IF(all == NULL, err, DF_E_NOMEM, "comm check_same: out of memory");
    int rc = comm_allgather_bytes(c, &h, sizeof h, all, err);
    if (rc < 0) {
        free(all);
        return rc;
    }
    char list[256] = "";
    size_t len = 0;
    int ndiff = 0;
    for (int i = 1; i < c->size; i++) {
        if (all[i] == all[0])
            continue;
        if (ndiff++ < 32 && len < sizeof list - 16)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", len ? "," : "", i);
    }
    if (ndiff > 32)
        snprintf(list + len, sizeof list - len, ",...");
    free(all);
    DF_FAIL_IF(ndiff > 0, err, DF_E_INVAL,
               "comm: group '%s' disagrees on a %zu-byte value: rank%s %s differ%s from rank 0 "
               "(this is rank %d)",
               c->name, n, ndiff > 1 ? "s" : "", list, ndiff > 1 ? "" : "s", c->rank);
    return 0;
}
