/*
 * render_par.h -- the parallel context of one shot's render: who this rank
 * is, which layout the ranks run, the communicator groups, and the few
 * collectives the render loop itself needs (the attention's are in
 * usp_attn.c).
 *
 * One process (no PMIx server, or a step of 1) is rank 0 of 1 with the self
 * comm; under `srun --mpi=pmix` or `mpirun` the ranks bootstrap through PMIx
 * and talk over MPI.  The ranks run the layout the controller planned
 * (job.json) when the world has its size, else every rank replans for
 * exactly its world size (lib/layout.h, use_all); they check they agree
 * before any work.
 */
#ifndef DF_RENDER_PAR_H
#define DF_RENDER_PAR_H

#include "boot.h"
#include "comm.h"
#include "comm_groups.h"
#include "job_contract.h"
#include "layout.h"
#include "log.h"
#include "manifest.h"

#include <stdint.h>

struct render_par {
    struct boot boot;
    comm_t world;
    struct comm_groups g;     /* cfg, ulysses, ring */
    comm_t dev_world;         /* GPU ranks: an NCCL world (NULL: attention stages through g) */
    struct comm_groups dg;    /* its groups: USP attention on device memory */
    struct layout lay;        /* the layout the ranks run */
    int replanned;            /* 1: the world differs from job.json's plan: lay was replanned */
    char planned_desc[256];   /* the controller's plan, described ("" when none) */
    int rank, size;
    int cfg_idx, ring_idx, uly_idx;
    int64_t tok_begin, tok_count; /* this rank's real tokens */
    int64_t row;                  /* floats per token row of the latent */
    int64_t *rows_of;             /* [size] real tokens of each world rank */
    int *cfg_of;                  /* [size] cfg group of each world rank */
    int64_t *begin_of;            /* [size] first token of each world rank */
};

/* Boot, open the world comm, take the layout job.json planned -- or, when the
 * world Slurm/mpirun gave has another size (or the plan does not fit it), plan
 * one for exactly this world and set p->replanned --, check every rank agrees
 * on it (and on the shot hash), split the groups and find this rank's tokens.
 * A seed the worker drew itself (no controller) becomes rank 0's on every
 * rank (job->shot.seed and job->hash change).  row = latent floats per token.  `force` imposes
 * a layout instead of the planner's choice (tests cover every combination
 * the planner may emit that way); its product must equal the world size.  Returns 0 or a
 * negative code (DF_E_COMM/TIMEOUT from peers, DF_E_INVAL for a layout that
 * leaves a rank without tokens). */
int render_par_open(struct render_par *p, struct job_contract *job, int gpu, int64_t row,
                    const int *force /* NULL, or {cfg, ulysses, ring} to impose */,
                    struct df_err *err);
void render_par_close(struct render_par *p);

/* Give the cfg partner my velocity rows and take theirs (cfg = 2 only):
 * afterwards cond/uncond hold both branches whatever this rank computed. */
int render_par_swap_cfg(struct render_par *p, float *cond, float *uncond, size_t n,
                        struct df_err *err);

/* Gather the token-major rows of the whole sequence on every rank from the
 * cfg-0 ranks' shards: mine [tok_count·row] -> all [seq_len·row]. */
int render_par_gather_rows(struct render_par *p, const float *mine, float *all,
                           struct df_err *err);

/* The same for rows of any width, from the ranks of cfg group `src_cfg`:
 * mine [tok_count·width] -> all [seq_len·width] (step-cache residuals are
 * [tokens, dim], and with cfg = 2 each branch's lives in its own group). */
int render_par_gather_tokens(struct render_par *p, int src_cfg, const float *mine, float *all,
                             int64_t width, struct df_err *err);

/* Rank 0's n bytes at *buf on every rank: the others get a malloc'd copy in
 * *buf (caller frees) and its length in *n.  Rank 0's *buf is untouched. */
int render_par_share_bytes(struct render_par *p, void **buf, size_t *n, struct df_err *err);

/* 1 on every rank when any rank's flag is set (a signal reaches ranks at
 * different moments; all must stop at the same step).  < 0 on error. */
int render_par_any(struct render_par *p, int flag, struct df_err *err);

/* Rank 0's string (up to cap bytes) on every rank. */
int render_par_share_string(struct render_par *p, char *buf, size_t cap, struct df_err *err);

#endif
