/*
 * layout.h -- the sequence-parallel layout planner: how many ranks, and how
 * they split into cfg x ulysses x ring, for one shot on one cluster.
 *
 * A layout runs one shot on world = cfg * ulysses * ring ranks.  cfg (1 or 2)
 * puts the conditional and unconditional guidance branches on separate rank
 * groups; inside a group the flattened (t, h, w) token sequence is split into
 * P = ulysses * ring contiguous chunks.  Ulysses (all-to-all, heads scattered)
 * needs ulysses | num_heads; ring (K/V passed around) has no constraint.  A
 * sequence that does not divide is padded at its tail to
 *     seq_padded = ceil(seq_len / P) * P,   chunk = seq_padded / P,
 * and padded keys are masked, so any GPU count the heads allow can run.
 *
 * Rank numbering (the worker's communicator split depends on it):
 *
 *     rank = cfg_idx * (ulysses * ring) + ring_idx * ulysses + uly_idx
 *
 * ulysses innermost (a ulysses group is `ulysses` consecutive ranks), then
 * ring (ring neighbours are `ulysses` ranks apart), cfg outermost.  Ranks are
 * placed on nodes in blocks: node = rank / ranks_per_node, with every used
 * node holding exactly ranks_per_node ranks (Slurm --ntasks-per-node).  The
 * planner only emits layouts whose ulysses groups sit inside one node, or span
 * whole nodes when ulysses > ranks_per_node.  Inside its cfg group a rank owns
 * padded positions [sp_rank * chunk, (sp_rank + 1) * chunk) with
 * sp_rank = ring_idx * ulysses + uly_idx; the real tokens among them are
 * layout_token_range().  A ulysses group therefore holds one contiguous ring
 * block of seq_padded / ring tokens.
 *
 *     struct cluster_shape c = {.nodes = 2, .ranks_per_node = 8};
 *     struct layout best[3];
 *     int n;
 *     if (layout_plan(&geom, &grid, &c, NULL, best, 3, &n, &err) < 0) ...
 *     // best[0] is the chosen layout, best[1..n-1] the runners-up, each with
 *     // best[i].why saying why it loses to best[0].
 *
 *     // a worker started by `mpirun -n 6` on CPU ranks:
 *     struct cluster_shape cpu = {.nodes = 1, .ranks_per_node = 6,
 *                                 .device = LAYOUT_DEVICE_CPU, .use_all = 1};
 *     layout_plan(&geom, &grid, &cpu, NULL, &lay, 1, &n, &err);
 *     layout_rank_coords(&lay, my_rank, &ci, &ri, &ui);
 *     layout_token_range(&lay, my_rank, &begin, &count);
 *
 * The cost model and its defaults are described in docs/layout.md.
 */
#ifndef DF_LAYOUT_H
#define DF_LAYOUT_H

#include "err.h"
#include "model_geom.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* ---------------------------------------------------------------------------
 * Device profiles
 * ------------------------------------------------------------------------- */

enum layout_device {
    LAYOUT_DEVICE_GPU, /* defaults: H100 SXM, NVLink inside a node, 400 Gb/s IB across */
    LAYOUT_DEVICE_CPU, /* defaults: one fp32 core per rank, shared memory / 10 GbE */
    LAYOUT_DEVICE_COUNT
};

/* "gpu", "cpu"; "?" when out of range. */
const char *layout_device_name(enum layout_device d);

/* Parse a name from layout_device_name(); returns 0 or DF_E_INVAL. */
int layout_device_from_name(const char *name, enum layout_device *out, struct df_err *err);

/* Cost-model parameters, all per rank.  layout_params_default() fills them for
 * a device; callers may then override single fields. */
struct layout_params {
    double flops;          /* peak FLOP/s (H100 bf16 dense: 989e12) */
    double mfu;            /* fraction of peak a large forward achieves */
    double chunk_half_eff; /* tokens per rank at which efficiency halves (small GEMMs) */
    double layer_overhead; /* seconds per layer per forward not divided by P (launches) */
    double bw_intra;       /* bytes/s a rank sends to peers in its node */
    double bw_inter;       /* bytes/s a rank sends to other nodes */
    double lat_intra;      /* seconds per collective step inside a node */
    double lat_inter;      /* seconds per collective step across nodes */
    double ring_overlap;   /* 0..1: share of a ring pass that hides behind its attention
                              block (NCCL/MPI transfers also take SMs, HBM, cores) */
    double mem_bw;         /* bytes/s of local memory, for merging ring partial outputs */
    double act_bytes;      /* bytes per activation element (bf16: 2, fp32: 4) */
    double weight_bytes;   /* bytes per weight */
    double mem_capacity;   /* bytes of memory per rank; 0 = unlimited */
    double mem_reserved;   /* bytes per rank taken before the model (context, workspaces) */
};

/* Fill `out` with the defaults for device `d` (GPU when out of range). */
void layout_params_default(enum layout_device d, struct layout_params *out);

/* ---------------------------------------------------------------------------
 * The request
 * ------------------------------------------------------------------------- */

/* What the shot may run on.  Zero-initialise and set nodes, ranks_per_node. */
struct cluster_shape {
    int nodes;                 /* >= 1 */
    int ranks_per_node;        /* GPUs per node, or CPU ranks per node; >= 1 */
    enum layout_device device; /* picks the default layout_params */
    double mem_per_rank;       /* bytes; 0 = the device default, overrides params */
    int use_all;               /* 1: use exactly nodes * ranks_per_node ranks, placed
                                  ranks_per_node per node (mpirun/srun already started
                                  them); 0: any number up to that */
    int cfg_branches;          /* 2 with classifier-free guidance (guidance_scale > 1),
                                  1 without; 0 = 2 */
    int max_ranks;             /* use at most this many ranks (a shot's max_gpus); 0 = no
                                  cap; ignored with use_all */
    int cfg_together;          /* 1: both branches on every rank (no cfg = 2 layouts):
                                  the CFG cache hands the cond residual to the uncond
                                  pass on the same rank (layout_shot_cfg_together) */
};

/* 1 when a shot must keep its guidance branches together (a prompttea cache
 * with a CFG threshold on a guided shot), else 0.  Everything that plans a
 * shot -- `ditfarm plan`, `ditfarm sbatch`, the daemon, the worker -- sets
 * cluster_shape.cfg_together from it, so they agree. */
struct shot;
int layout_shot_cfg_together(const struct shot *s);

/* Ranks the request offers: nodes * ranks_per_node, capped by max_ranks. */
int layout_ranks_offered(const struct cluster_shape *c);

/* Planner limits ("absurd sizes" are refused with a message naming the limit). */
#define LAYOUT_MAX_NODES 1024
#define LAYOUT_MAX_RANKS_PER_NODE 1024
#define LAYOUT_MAX_RANKS 16384
#define LAYOUT_MAX_TOKENS ((int64_t)1 << 24) /* 16.7M: 50x a 4K 10 s Wan shot */

#define LAYOUT_WHY_CAP 384

/* One layout with its predicted cost.  Plain data: copy freely. */
struct layout {
    /* degrees and placement */
    int cfg, ulysses, ring;   /* world = cfg * ulysses * ring */
    int world;                /* ranks used */
    int ranks_offered;        /* layout_ranks_offered() of the request */
    int nodes;                /* nodes used */
    int ranks_per_node;       /* ranks on every used node */
    int uly_intra;            /* 1: every ulysses group inside one node */
    int ring_inter;           /* 1: some ring hop crosses nodes */
    int cfg_inter;            /* 1: the cfg partners (rank, rank + P) are on different nodes */
    int cfg_branches;         /* 1 or 2: guidance branches the shot computes */
    /* the token split (per cfg group) */
    int64_t seq_len;          /* real tokens */
    int64_t seq_padded;       /* ceil(seq_len / P) * P */
    int64_t chunk;            /* padded tokens per rank = seq_padded / P */
    int64_t pad_tokens;       /* seq_padded - seq_len (< P), all at the tail */
    int64_t last_valid;       /* real tokens of the last rank of a group (may be 0) */
    int empty_ranks;          /* ranks per group holding only padding */
    double pad_pct;           /* 100 * pad_tokens / seq_len */
    /* predicted cost of one denoising step (all guidance branches), seconds */
    double t_step;            /* t_compute + t_uly + t_ring + t_cfg */
    double t_compute;         /* FLOPs per rank incl. padding, at the achieved rate */
    double t_uly;             /* ulysses all-to-alls (not overlapped) */
    double t_ring;            /* ring K/V passing not hidden behind attention */
    double t_ring_total;      /* ring K/V passing if nothing overlapped */
    double t_cfg;             /* exchanging the noise prediction between cfg groups */
    double mem_per_rank;      /* bytes: weights + activations + latents/caches + reserved */
    double mem_capacity;      /* bytes per rank; 0 = unlimited */
    /* explanation: for the chosen layout why it wins; for runners-up why they lose */
    char why[LAYOUT_WHY_CAP];
    /* chosen layout only: why some offered ranks stay idle ("" when none) */
    char idle[LAYOUT_WHY_CAP];
};

/* ---------------------------------------------------------------------------
 * Planning
 * ------------------------------------------------------------------------- */

/* Rank every legal layout of the shot `grid` of model `g` on cluster `c` and
 * write the best min(out_cap, count) to out[0..*n_out-1], best first.  p may
 * be NULL (device defaults).  Returns 0 (then *n_out >= 1); DF_E_INVAL for a
 * bad cluster, geometry, grid or parameter (message names the field and
 * value), DF_E_RANGE for sizes past the LAYOUT_MAX_* limits or when no layout
 * fits in memory (message gives the smallest need and the capacity). */
int layout_plan(const struct model_geom *g, const struct model_grid *grid,
                const struct cluster_shape *c, const struct layout_params *p,
                struct layout *out, int out_cap, int *n_out, struct df_err *err);

/* Build and cost one given layout (cfg, ulysses, ring) on cluster `c`, placed
 * ranks_per_node ranks per node (ranks_per_node <= 0: c->ranks_per_node, or
 * the world when that is smaller).  For tests and for forcing a layout.
 * Returns 0, or DF_E_INVAL naming the rule broken (ulysses must divide the
 * heads, world must fit the cluster, ...). */
int layout_make(const struct model_geom *g, const struct model_grid *grid,
                const struct cluster_shape *c, const struct layout_params *p, int cfg,
                int ulysses, int ring, int ranks_per_node, struct layout *out,
                struct df_err *err);

/* Can this layout run?  Every rank of a cfg group must own at least one real
 * token.  Returns 0, or DF_E_INVAL: "5 ranks for 11 tokens leave 1 rank(s)
 * per group without a token; run this shot on fewer ranks".  layout_plan
 * offers only layouts that pass (with use_all, when none at that world
 * passes, it returns this error), and the worker checks the layout it runs
 * with the same function, so a plan never offers what the worker refuses. */
int layout_check_runnable(const struct layout *l, struct df_err *err);

/* ---------------------------------------------------------------------------
 * Where a rank sits
 * ------------------------------------------------------------------------- */

/* Coordinates of `rank` (0 <= rank < world).  Returns 0 or DF_E_RANGE. */
int layout_rank_coords(const struct layout *l, int rank, int *cfg_idx, int *ring_idx,
                       int *uly_idx, struct df_err *err);

/* Colours for splitting the world communicator (MPI_Comm_split, ncclCommSplit)
 * at `rank`, with key = rank in every split:
 *   uly   = cfg_idx * ring + ring_idx     its ulysses group (u consecutive ranks)
 *   ring  = cfg_idx * ulysses + uly_idx   its ring group (stride u)
 *   sp    = cfg_idx                       its whole cfg group (u * ring ranks)
 *   cfg   = ring_idx * ulysses + uly_idx  the pair holding the same tokens in
 *                                         both branches (size cfg)
 * Any pointer may be NULL.  Returns 0 or DF_E_RANGE. */
int layout_comm_colors(const struct layout *l, int rank, int *uly, int *ring, int *sp, int *cfg,
                       struct df_err *err);

/* Node of `rank`: rank / ranks_per_node.  Returns it, or -1 when out of range. */
int layout_rank_node(const struct layout *l, int rank);

/* The real tokens `rank` owns in its cfg group's flattened sequence:
 * [*begin, *begin + *count_valid); its padded chunk is [*begin, *begin + chunk)
 * and the last chunk - *count_valid positions are padding (count may be 0 for
 * tail ranks of tiny shots).  Returns 0 or DF_E_RANGE. */
int layout_token_range(const struct layout *l, int rank, int64_t *begin, int64_t *count_valid,
                       struct df_err *err);

/* ---------------------------------------------------------------------------
 * Explaining
 * ------------------------------------------------------------------------- */

/* One line: "cfg 2 x ulysses 4 x ring 2 = 16 ranks on 2 nodes x 8".  Returns
 * the length snprintf would write (output truncated to cap). */
int layout_describe(const struct layout *l, char *buf, size_t cap);

/* Summary of which ranks land on which node, one line per node (at most
 * max_lines, then "..."): "node 0: ranks 0-7 = cfg 0, ring 0-1, ulysses 0-3".
 * Returns the length snprintf would write. */
int layout_describe_map(const struct layout *l, int max_lines, char *buf, size_t cap);

/* "1.23 s", "12.3 ms", "85 us": a duration for people, into buf. */
void layout_fmt_time(double seconds, char *buf, size_t cap);

/* The layout as a JSON object (caller frees with cJSON_Delete); NULL when out
 * of memory. */
struct cJSON *layout_to_json(const struct layout *l);

#endif /* DF_LAYOUT_H */
