/*
 * boot.h -- who am I in this render: the PMIx bootstrap of a worker rank.
 *
 * A worker is started by `srun --mpi=pmix`, by Open MPI's `mpirun`, or as a
 * plain process.  boot_init() asks the PMIx server that started it (Slurm's
 * mpi/pmix plugin or mpirun) for the rank, the job size and the node layout.
 * With no server, PMIx_Init answers "singleton" and we are rank 0 of 1 -- unless
 * SLURM_NTASKS > 1, which means `srun` without `--mpi=pmix` started N
 * independent rank-0s: that is refused with an error saying so.
 *
 * boot_put/boot_fence/boot_get exchange small byte blobs between ranks through
 * the PMIx server (the NCCL unique id, split tables): every rank of the fence
 * set puts, all fence, then any of them gets what another put.  Use a fresh key
 * for every exchange (boot_key() builds one).
 *
 *     struct boot b;
 *     struct df_err err = {0};
 *     if (boot_init(&b, &err) < 0) { log err.msg; exit 1; }
 *     printf("rank %d of %d\n", b.info.rank, b.info.size);
 *     ...
 *     boot_fini(&b);
 *
 * In containers PMIx's shared-memory data store can fail to attach; the known
 * workaround is PMIX_MCA_gds=hash in the environment of the ranks.  Debian 12's
 * PMIx 4.2.2 ships only gds/hash, so nothing is set here; export it yourself if
 * a newer PMIx fails to start inside a container.
 */
#ifndef DF_BOOT_H
#define DF_BOOT_H

#include "err.h"

#include <stddef.h>

#define BOOT_NSPACE_CAP 256 /* PMIX_MAX_NSLEN + 1 */
#define BOOT_KEY_CAP 64     /* keys are at most PMIX_MAX_KEYLEN (63) characters */

struct boot_info {
    int rank;                     /* this process in [0, size) */
    int size;                     /* number of ranks of the job step */
    int local_rank;               /* rank among the ranks on this node */
    int local_size;               /* ranks on this node */
    int node_id;                  /* this node in [0, n_nodes) */
    int n_nodes;                  /* nodes of the step */
    int singleton;                /* 1: no PMIx server (plain process), rank 0 of 1 */
    char nspace[BOOT_NSPACE_CAP]; /* PMIx namespace (a singleton gets one too) */
};

/* Bootstrap context: plain data owned by the caller, filled by boot_init. */
struct boot {
    unsigned magic; /* BOOT_MAGIC while initialised */
    struct boot_info info;
    int pmix_up; /* PMIx_Init succeeded (also for a singleton) */
};

/* Connect to the PMIx server (or become a singleton) and fill b->info.
 * Returns 0, or DF_E_COMM (PMIx refused, or a singleton where SLURM_NTASKS > 1:
 * the message says to use `srun --mpi=pmix`).  On failure *b is left closed. */
int boot_init(struct boot *b, struct df_err *err);

/* Disconnect from PMIx.  Accepts a zeroed or already closed struct. */
void boot_fini(struct boot *b);

/* Build a key "df.<what>.<a>.<b>" into key[BOOT_KEY_CAP]; returns 0 or DF_E_RANGE
 * (too long).  Ranks that build the same (what, a, b) get the same key. */
int boot_key(char key[BOOT_KEY_CAP], const char *what, unsigned a, unsigned b, struct df_err *err);

/* Publish n bytes under `key` for the other ranks (PMIX_GLOBAL scope) and
 * commit.  Visible to others after the next boot_fence.  Returns 0 or DF_E_COMM. */
int boot_put(struct boot *b, const char *key, const void *data, size_t n, struct df_err *err);

/* Collective over the world ranks listed in `ranks` (n of them, sorted or not;
 * NULL/0 = every rank of the job); each must call it.  Collects the data put
 * so far.  Returns 0 or DF_E_COMM. */
int boot_fence(struct boot *b, const int *ranks, int n, struct df_err *err);

/* Fetch the blob that world rank `rank` put under `key` into buf[cap]; writes its
 * length to *n_out.  Returns 0, DF_E_NOTFOUND (no such key), DF_E_RANGE (blob
 * larger than cap) or DF_E_COMM. */
int boot_get(struct boot *b, int rank, const char *key, void *buf, size_t cap, size_t *n_out,
             struct df_err *err);

#endif /* DF_BOOT_H */
