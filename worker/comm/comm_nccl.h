/* comm_nccl.h -- what only the NCCL comm backend offers (comm_nccl.c).
 *
 * A GPU rank's compute runs on the kern backend's stream, NCCL on the comm's
 * own stream.  comm_nccl_follow() makes every later operation of an NCCL
 * comm first wait -- on the GPU, through an event, not on the host -- for
 * all work queued on `stream` at the moment the operation is posted.  That
 * is the ordering the ring plan needs (sp_plan.h: a send/recv starts after
 * the compute that last read the buffer it overwrites), while compute queued
 * after the post overlaps the transfer; the transfer's end is waited for on
 * the host by comm_wait() before dependent compute is queued. */
#ifndef DF_COMM_NCCL_H
#define DF_COMM_NCCL_H

#include "comm.h"
#include "kern.h"

/* `stream` is a cudaStream_t (NULL stops following).  Returns 0,
 * DF_E_INVAL (c is not an NCCL comm), DF_E_UNSUPPORTED (built without
 * CUDA) or DF_E_COMM (event creation failed). */
int comm_nccl_follow(comm_t c, void *stream, struct df_err *err);

/* comm_nccl_follow with the stream of kern backend `be` ("cuda"); a comm of
 * another backend is left alone (0).  Returns as comm_nccl_follow, or
 * DF_E_INVAL when c is NCCL but be is not "cuda". */
int comm_nccl_follow_backend(comm_t c, kern_backend_t be, struct df_err *err);

#endif
