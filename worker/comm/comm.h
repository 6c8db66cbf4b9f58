/*
 * comm.h -- the collectives the sequence-parallel forward needs, over one of
 * three backends: self (one rank, copies), MPI (host memory, CPU runs) and NCCL
 * (device memory, GPU runs; built only with DITFARM_HAVE_CUDA).
 *
 * A comm is a group of ranks.  The world comm is opened once per process after
 * boot_init(); groups (cfg, ulysses, ring) are split from it by (color, key)
 * like MPI_Comm_split.  Every operation is collective over its group unless it
 * says otherwise, moves float32 elements (counts are in elements, not bytes),
 * and is called in the same order on every rank of the group.
 *
 *     struct boot b;  boot_init(&b, &err);
 *     struct comm_opts o = comm_opts_default();
 *     comm_opts_from_env(&o, &err);                  // DITFARM_COMM_TIMEOUT
 *     comm_t world;
 *     comm_open(COMM_BACKEND_MPI, &b, &o, &world, &err);
 *     comm_check_same(world, &layout, sizeof layout, &err);
 *     comm_t ring;  comm_split(world, color, key, &ring, &err);
 *     comm_req_t rq;
 *     comm_sendrecv_start(ring, kv, n, next, kv_in, n, prev, &rq, &err);
 *     ... compute on the local block ...
 *     comm_wait(rq, &err);
 *     comm_close(ring);  comm_close(world);  boot_fini(&b);
 *
 * Failure: a rank that dies makes the others' next collective time out after
 * opts.timeout_s (DF_E_TIMEOUT, the message names the op, the group and the
 * ranks) instead of hanging; the comm is then "broken": every later call fails
 * at once and comm_close() skips anything that would wait for peers (such as
 * MPI_Finalize), so the process can exit non-zero and let Slurm end the step.
 */
#ifndef DF_COMM_H
#define DF_COMM_H

#include "boot.h"
#include "err.h"

#include <stddef.h>

typedef struct comm *comm_t;
typedef struct comm_req *comm_req_t;

enum comm_backend {
    COMM_BACKEND_SELF, /* one rank: every op is a copy */
    COMM_BACKEND_MPI,  /* Open MPI, host memory */
    COMM_BACKEND_NCCL, /* NCCL, device memory; needs DITFARM_HAVE_CUDA */
    COMM_BACKEND_COUNT
};

enum comm_op { COMM_OP_SUM, COMM_OP_MAX, COMM_OP_MIN, COMM_OP_COUNT };

/* "self", "mpi", "nccl"; "?" out of range. */
const char *comm_backend_name(enum comm_backend be);
/* Parse a backend name; returns 0 or DF_E_INVAL naming the choices. */
int comm_backend_from_name(const char *name, enum comm_backend *out, struct df_err *err);
/* "sum", "max", "min". */
const char *comm_op_name(enum comm_op op);
/* 1 if this build has the backend (nccl only with CUDA), else 0. */
int comm_backend_available(enum comm_backend be);

/* Element types a comm moves. */
enum comm_dtype {
    COMM_DTYPE_F32,  /* float */
    COMM_DTYPE_BYTE, /* raw bytes (blobs, packed structs, masks) */
    COMM_DTYPE_COUNT
};
/* "f32", "byte"; "?" out of range. */
const char *comm_dtype_name(enum comm_dtype t);
/* Bytes per element (4, 1; 0 out of range). */
size_t comm_dtype_size(enum comm_dtype t);

/* Where a backend's buffers must live. */
enum comm_mem {
    COMM_MEM_HOST,   /* host memory (a GPU rank stages through host buffers) */
    COMM_MEM_DEVICE, /* device memory of the rank's GPU */
    COMM_MEM_COUNT
};

/* What a backend is: the one table of backends (comm.c), with their names. */
struct comm_caps {
    const char *name;   /* "self", "mpi", "nccl" */
    enum comm_mem mem;  /* where send/recv buffers must be */
    unsigned dtypes;    /* bit (1u << COMM_DTYPE_*) for each type it moves */
    int multi_rank;     /* 0: a world of one rank only (self) */
    int selects_device; /* 1: comm_opts.device picks the rank's GPU */
};
/* The backend's capabilities (never NULL for a value < COMM_BACKEND_COUNT). */
const struct comm_caps *comm_backend_caps(enum comm_backend be);

/* The first backend of the table available in this build whose buffers live
 * in `mem` and that can run a world of `size` ranks (self for one rank).
 * Returns 0 and *out, or DF_E_UNSUPPORTED naming what is missing. */
int comm_backend_pick(enum comm_mem mem, int size, enum comm_backend *out, struct df_err *err);

struct comm_opts {
    double timeout_s; /* a collective waits at most this long for its peers (300) */
    int device;       /* nccl: CUDA device; -1 = the local rank (default) */
};

/* Defaults: timeout 300 s, device -1. */
struct comm_opts comm_opts_default(void);
/* Read DITFARM_COMM_TIMEOUT (seconds, > 0) into o->timeout_s when set.
 * Returns 0 or DF_E_INVAL (not a positive number). */
int comm_opts_from_env(struct comm_opts *o, struct df_err *err);

/* ---- lifetime --------------------------------------------------------------- */

/* Open the world comm of `be` for the ranks `b` describes.  mpi calls
 * MPI_Init_thread(FUNNELED) unless MPI is already initialised (and then
 * finalises in comm_close of this comm); nccl shares its unique id through
 * boot_put/fence/get and keeps using b for control data, so b must stay
 * initialised until the comm (and its splits) are closed.  self needs
 * b->info.size == 1 (b may be NULL).
 * Returns 0, DF_E_UNSUPPORTED (backend not built), DF_E_INVAL (self with
 * several ranks, MPI size differs from boot's) or DF_E_COMM. */
int comm_open(enum comm_backend be, struct boot *b, const struct comm_opts *opts, comm_t *out,
              struct df_err *err);

/* Split `c` into groups of equal `color` (>= 0), ordered by `key` then by rank in
 * c.  Collective over c.  *out is named "<c's name>.split" until comm_set_name.
 * Returns 0, DF_E_INVAL (negative color), DF_E_TIMEOUT or DF_E_COMM. */
int comm_split(comm_t c, int color, int key, comm_t *out, struct df_err *err);

/* Free a comm (NULL ok).  Close sub-comms before the world comm. */
void comm_close(comm_t c);

/* Name used in error messages ("world", "cfg", "ulysses", "ring"); copied. */
void comm_set_name(comm_t c, const char *name);

/* ---- queries (local, never fail) ---------------------------------------------- */
int comm_rank(const struct comm *c);       /* rank in this group */
int comm_size(const struct comm *c);       /* ranks in this group */
int comm_world_rank(const struct comm *c); /* this process in the world comm */
const char *comm_name(const struct comm *c);
enum comm_backend comm_backend_of(const struct comm *c);
int comm_is_broken(const struct comm *c); /* 1 after a timeout or a failed op */

/* ---- operations (collective over the group) ------------------------------------ */
/* Buffers are host memory for self/mpi, device memory for nccl.  A NULL
 * displacement array means "packed": displs[i] = sum of counts[0..i-1].
 * Return 0, DF_E_INVAL (bad counts/ranks), DF_E_RANGE (count over INT_MAX for
 * MPI), DF_E_TIMEOUT (peers did not answer in time; the comm becomes broken),
 * DF_E_COMM (the library failed) or DF_E_UNSUPPORTED (backend lacks the op). */

/* Rank i sends send_counts[j] elements at send+send_displs[j] to rank j and
 * receives recv_counts[j] from rank j at recv+recv_displs[j]. */
int comm_alltoallv(comm_t c, const float *send, const size_t *send_counts,
                   const size_t *send_displs, float *recv, const size_t *recv_counts,
                   const size_t *recv_displs, struct df_err *err);

/* Start sending nsend elements to group rank `dst` and receiving nrecv elements
 * from group rank `src` (the ring step: dst = next, src = prev).  Returns at
 * once; buffers must stay untouched until comm_wait(*req).  Not collective over
 * the group, but dst must post the matching receive. */
int comm_sendrecv_start(comm_t c, const float *send, size_t nsend, int dst, float *recv,
                        size_t nrecv, int src, comm_req_t *req, struct df_err *err);
/* Wait for a started sendrecv (with the comm's timeout) and free req (always,
 * even on error). */
int comm_wait(comm_req_t req, struct df_err *err);

/* recv[i] = op over ranks of send[i]; send == recv is allowed (in place). */
int comm_allreduce(comm_t c, const float *send, float *recv, size_t n, enum comm_op op,
                   struct df_err *err);

/* Rank j's nsend elements land at recv + recv_displs[j]; nsend must equal
 * recv_counts[my rank]. */
int comm_allgatherv(comm_t c, const float *send, size_t nsend, float *recv,
                    const size_t *recv_counts, const size_t *recv_displs, struct df_err *err);

/* Copy root's n elements of buf to every rank's buf. */
int comm_bcast(comm_t c, float *buf, size_t n, int root, struct df_err *err);

int comm_barrier(comm_t c, struct df_err *err);

/* Control data, HOST memory on every backend: rank j's n bytes land at
 * recv + j*n (recv holds size*n bytes). */
int comm_allgather_bytes(comm_t c, const void *send, size_t n, void *recv, struct df_err *err);

/* The same for n elements of type t (f32 or bytes): every rank's n elements,
 * in rank order, into recv [size · n].  Returns 0, DF_E_UNSUPPORTED (type
 * the backend does not move), or the collective's error. */
int comm_allgather(comm_t c, enum comm_dtype t, const void *send, size_t n, void *recv,
                   struct df_err *err);

/* Check that every rank passed the same n bytes (a layout, a manifest hash):
 * all-gathers a 64-bit hash.  Returns 0, or DF_E_INVAL whose message lists the
 * ranks that differ from rank 0, or a collective's error. */
int comm_check_same(comm_t c, const void *blob, size_t n, struct df_err *err);

#endif /* DF_COMM_H */
