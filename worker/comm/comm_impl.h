/*
 * comm_impl.h -- the backend table behind comm.h (internal to worker/).
 *
 * Built like the kernels' op table (kernels/kern_impl.h): a backend is a table
 * of function pointers plus a context pointer, filled with designated
 * initializers that list every slot.  A NULL op slot makes the front end
 * (comm.c) return DF_E_UNSUPPORTED.  The front end has already checked the
 * handle, that the comm is not broken, ranks, counts, and filled NULL
 * displacements, so slots only check what is specific to them.  Slots get the
 * whole struct comm (for the group name and ranks in messages) and return 0 or
 * a negative DF_E_* with err filled; a slot returning DF_E_TIMEOUT or DF_E_COMM
 * makes the front end mark the comm broken.
 */
#ifndef DF_COMM_IMPL_H
#define DF_COMM_IMPL_H

#include "clock.h"
#include "comm.h"

#define COMM_MAGIC 0x636f6d6du /* "comm": checked on every front-end call */
#define COMM_NAME_CAP 48

struct comm_i {
    const char *name; /* "self", "mpi", "nccl" */

    int (*alltoallv)(struct comm *c, const float *send, const size_t *scounts,
                     const size_t *sdispls, float *recv, const size_t *rcounts,
                     const size_t *rdispls, struct df_err *err);
    /* *impl is the backend's request state, handed back to wait (which frees it) */
    int (*sendrecv_start)(struct comm *c, const float *send, size_t nsend, int dst, float *recv,
                          size_t nrecv, int src, void **impl, struct df_err *err);
    int (*wait)(struct comm *c, void *impl, struct df_err *err);
    int (*allreduce)(struct comm *c, const float *send, float *recv, size_t n, enum comm_op op,
                     struct df_err *err);
    int (*allgatherv)(struct comm *c, const float *send, size_t nsend, float *recv,
                      const size_t *rcounts, const size_t *rdispls, struct df_err *err);
    int (*bcast)(struct comm *c, float *buf, size_t n, int root, struct df_err *err);
    int (*barrier)(struct comm *c, struct df_err *err);
    int (*allgather_bytes)(struct comm *c, const void *send, size_t n, void *recv,
                           struct df_err *err);
    /* fill (*out)'s iface/ctx/rank/size; the front end allocated *out */
    int (*split)(struct comm *c, int color, int key, struct comm *out, struct df_err *err);
    /* release ctx; must not wait for peers when c->broken */
    void (*free)(struct comm *c);
};

struct comm {
    unsigned magic; /* COMM_MAGIC while open */
    const struct comm_i *iface;
    void *ctx; /* backend state */
    enum comm_backend backend;
    int rank; /* in this group */
    int size;
    int world_rank;
    int broken; /* set after a timeout or a library failure */
    double timeout_s;
    char name[COMM_NAME_CAP];
};

/* Backend constructors for the world comm (c is zeroed, magic/name/timeout set
 * by the front end; fill iface, ctx, rank, size, world_rank). */
int comm_self_open(struct comm *c, struct df_err *err);
int comm_mpi_open(struct comm *c, struct boot *b, struct df_err *err);
#ifdef DITFARM_HAVE_CUDA
int comm_nccl_open(struct comm *c, struct boot *b, int device, struct df_err *err);
#endif

/* A split that uses comm_allgather_bytes to learn every rank's (color, key):
 * writes the sorted members of this rank's group as parent ranks into
 * members[parent size] and their count to *n, and this rank's index among them
 * to *me.  Returns 0 or the allgather's error. */
int comm_split_members(struct comm *c, int color, int key, int *members, int *n, int *me,
                       struct df_err *err);


#endif /* DF_COMM_IMPL_H */
