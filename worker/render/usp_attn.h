/*
 * usp_attn.h -- sequence-parallel self-attention (USP: Ulysses × ring) as the
 * model family's attention hook (family.h).
 *
 * A rank holds `chunk` padded positions of its cfg group's token sequence
 * (lib/layout.h: rank = cfg·(u·r) + ring·u + uly; positions
 * [(ring·u + uly)·chunk, +chunk), padding only at the sequence's tail).  Per
 * layer:
 *   1. all-to-all in the ulysses group: scatter heads, gather sequence —
 *      each rank then holds its ring block (u·chunk tokens) for H/u heads;
 *   2. ring attention over the ring group: the K/V blocks travel around the
 *      ring (the next transfer overlaps this block's attention); partial
 *      outputs merge through their log-sum-exp; keys past the real sequence
 *      length are masked, and an all-padding block is skipped;
 *   3. all-to-all back: each rank gets its own tokens for all heads.
 * The model calls the hook with its real tokens only (s_local <= chunk); the
 * hook pads to `chunk` so every collective has equal counts.
 *
 * The attention itself runs on the rank's kern backend (its buffers live
 * there).  The collectives move backend memory directly when they can (cpu
 * backend on MPI/self; cuda backend on NCCL comms, packing by device ops on
 * the backend's stream, the NCCL stream following it: docs/gpu.md);
 * otherwise (a GPU rank on MPI, or `stage`) they are staged through host
 * buffers.
 */
#ifndef DF_USP_ATTN_H
#define DF_USP_ATTN_H

#include "comm.h"
#include "err.h"
#include "kern.h"
#include "family.h"

#include <stdint.h>

struct usp_attn; /* opaque */

struct usp_attn_shape {
    int ulysses, ring;   /* group sizes (ulysses must divide heads) */
    int uly_idx, ring_idx; /* this rank in its groups */
    int64_t chunk;       /* padded tokens per rank */
    int64_t seq_len;     /* real tokens of the sequence */
    int heads, head_dim;
    int stage;             /* 1: separate host staging buffers even on the cpu backend
                              (tests run the copies a GPU rank makes) */
};

/* Make the hook state.  uly/ring are the group comms (not owned; NULL when
 * the group has one rank).  Returns 0, DF_E_INVAL (heads % ulysses != 0,
 * sizes), DF_E_NOMEM. */
int usp_attn_create(kern_backend_t be, comm_t uly, comm_t ring, const struct usp_attn_shape *sh,
                    struct usp_attn **out, struct df_err *err);
void usp_attn_free(struct usp_attn *a);

/* The hook to give family_set_attn_hook (valid while `a` lives). */
struct family_attn_hook usp_attn_hook(struct usp_attn *a);

/* Seconds spent waiting in all-to-alls and un-hidden ring transfers since
 * creation (for the communication share in logs and benchmarks). */
double usp_attn_comm_seconds(const struct usp_attn *a);

#endif
