/*
 * comm_check.h -- a self-test of a comm backend with known values, run on real
 * ranks (`ditfarm-worker selftest-comm` under mpirun or srun, and the unit test
 * of the self backend).  Host-memory backends only (self, mpi).
 *
 *     if (comm_selftest(world, cfg, ulysses, ring, &err) < 0) ... err.msg
 */
#ifndef DF_COMM_CHECK_H
#define DF_COMM_CHECK_H

#include "comm.h"

/* Exercise every op on `world`, then split it into the cfg/ulysses/ring/sp groups
 * of the layout, check each group's members against the rank formula of
 * comm_groups.h and exercise every op on each group.  Ops: barrier, bcast,
 * allreduce (sum, max, in place), uneven allgatherv, uneven alltoallv, a full
 * ring of sendrecv with uneven block sizes, comm_check_same (equal blobs pass,
 * a different blob on the last rank is named), and on the world a 4 MiB
 * all-reduce and a 1 MiB ring step (MPI's large-message paths).  Collective
 * over world.
 * Returns 0, DF_E_INVAL (a wrong value: the message names op, group, rank and
 * element), DF_E_UNSUPPORTED (nccl: device memory) or an op's error. */
int comm_selftest(comm_t world, int cfg, int ulysses, int ring, struct df_err *err);

#endif /* DF_COMM_CHECK_H */
