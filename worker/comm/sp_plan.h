/*
 * sp_plan.h -- the host-side plans of sequence-parallel attention on device
 * memory, in plain C so they are tested without a GPU (tests/test_gpu_host.c):
 *
 *   - Ulysses packing maps: the strided 2D copies (kern_copy_2d /
 *     cudaMemcpy2DAsync shape) that turn this rank's tokens [s_local, H, D]
 *     into the all-to-all's send buffer [U][chunk, H/U, D] and back, so a GPU
 *     rank packs on the device instead of staging through the host;
 *   - the ring plan: per ring step, which K/V block and buffer the compute
 *     stream attends to, whether the comm stream forwards it, and which
 *     events order the two streams; a checker proves a plan race-free by
 *     simulating both streams over two consecutive layers;
 *   - NCCL communicator ids: the same on every member of a group, different
 *     between groups, so each group's unique id has a PMIx key of its own.
 */
#ifndef DF_SP_PLAN_H
#define DF_SP_PLAN_H

#include "err.h"
#include "kern.h"

#include <stddef.h>
#include <stdint.h>

/* dst[dst_off + r·dst_ld + c] = src[src_off + r·src_ld + c] for r < rows,
 * c < cols (floats); zero = 1: write 0 instead (src unused). */
struct sp_copy {
    size_t src_off, src_ld, dst_off, dst_ld, rows, cols;
    int zero;
};

/* Most copies a pack or unpack map has: 2 per Ulysses rank. */
#define SP_MAX_COPIES(ulysses) (2 * (size_t)(ulysses))

/* Scatter map: x [s_local, H, D] -> pack [U][chunk, H/U, D], block j holding
 * heads [j·H/U, (j+1)·H/U) of every local token, rows s_local..chunk-1 of each
 * block zero (padding).  Writes *n copies to out (capacity SP_MAX_COPIES).
 * Returns 0 or DF_E_INVAL (H not divisible by U, s_local outside [0, chunk],
 * a size < 1). */
int sp_ulysses_pack_map(int ulysses, int64_t chunk, int heads, int head_dim, int64_t s_local,
                        struct sp_copy *out, int *n, struct df_err *err);

/* Gather map, the inverse: pack [U][chunk, H/U, D] -> out [s_local, H, D]
 * (padding rows dropped).  Same arguments and codes. */
int sp_ulysses_unpack_map(int ulysses, int64_t chunk, int heads, int head_dim, int64_t s_local,
                          struct sp_copy *out, int *n, struct df_err *err);

/* Apply one copy on host memory (the tests' reference). */
void sp_copy_apply(float *dst, const float *src, const struct sp_copy *c);

/* Apply one copy on backend buffers of `be` (kern_copy_2d / kern_zero): the
 * device-side packing of a GPU rank, queued on the backend's stream.
 * Returns 0 or the op's error. */
int sp_copy_on(kern_backend_t be, float *dst, const float *src, const struct sp_copy *c,
               struct df_err *err);

/* One step of ring attention on two K/V buffers.  Operation numbering per
 * stream, per layer: compute op 0 is the prologue (the Ulysses scatter that
 * fills buffer 0), compute op s+1 is step s's attention + merge; comm op s is
 * step s's send/recv.  Waits are counts: "after the first k ops of the
 * other stream have completed". */
struct sp_ring_step {
    int block;              /* ring block (source rank) whose keys this step attends to */
    int buf;                /* K/V buffer the compute reads (0 or 1) */
    int sends;              /* comm forwards buf to the next rank, receives into 1 - buf */
    int comm_after_compute; /* the send/recv starts after this many compute ops */
    int compute_after_comm; /* the attention starts after this many comm ops */
};

/* The plan of `ring` steps for rank `ring_idx` (steps[ring]).  Returns 0 or
 * DF_E_INVAL. */
int sp_ring_plan(int ring, int ring_idx, struct sp_ring_step *steps, struct df_err *err);

/* Simulate `steps` on a compute and a comm stream for two consecutive
 * layers (each layer's prologue rewrites buffer 0) with the plan's waits plus
 * stream order, and check that every pair of accesses to one buffer with a
 * write among them is ordered.  Returns 0, or DF_E_INVAL naming the first
 * unordered pair (layer, ops, buffer). */
int sp_ring_plan_check(const struct sp_ring_step *steps, int ring, struct df_err *err);

/* Id of the NCCL communicator split from `parent_id` as its `nsplit`-th
 * split (1-based) with `color`: equal on every member (they share all
 * three), odd (never 0), and spread so sibling and nested groups differ.
 * The world communicator is SP_NCCL_WORLD_ID. */
#define SP_NCCL_WORLD_ID 1u
unsigned sp_nccl_comm_id(unsigned parent_id, unsigned nsplit, int color);

#endif
