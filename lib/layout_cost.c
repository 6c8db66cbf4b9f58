/*
 * layout_cost.c -- the cost model behind the layout planner (see layout.h and
 * docs/layout.md): request checks, device defaults, placement rules, and the
 * predicted time and memory of one layout.
 *
 * Per denoising step and rank, with B guidance branches, nb = B / cfg branches
 * batched on each rank, P = u * r, chunk = seq_padded / P, d = hidden, L layers:
 *   compute  nb * ((F(Sp) - F(0)) / P + F(0)) / (flops * mfu * eff(chunk))
 *            + L * layer_overhead,  eff(c) = c / (c + chunk_half_eff)
 *   ulysses  L * 4 all-to-alls of nb * chunk * d elements, (u-1)/u of it leaves
 *            the rank; never overlapped with compute
 *   ring     L * (r-1) passes of K and V (2 * nb * chunk * d elements), each
 *            partly (ring_overlap) hidden behind one block of attention, plus
 *            an LSE merge of the partial output per pass
 *   cfg      one exchange of the rank's noise prediction per step
 * F(S) is the FLOP count of one forward over S tokens; F(0) is the part that
 * does not depend on the sequence (text K/V projections) and is replicated.
 */
#include "layout_int.h"

#include <math.h>
#include <string.h>

const char *layout_device_name(enum layout_device d)
{
    static const char *const names[] = {"gpu", "cpu"};
    _Static_assert(sizeof(names) / sizeof(names[0]) == LAYOUT_DEVICE_COUNT,
                   "every layout_device needs a name");
    if ((unsigned)d >= LAYOUT_DEVICE_COUNT)
        return "?";
    return names[d];
}

int layout_device_from_name(const char *name, enum layout_device *out, struct df_err *err)
{
    for (int d = 0; d < LAYOUT_DEVICE_COUNT; d++)
        if (name && strcmp(name, layout_device_name((enum layout_device)d)) == 0) {
            *out = (enum layout_device)d;
            return 0;
        }
    return df_err_set(err, DF_E_INVAL, "unknown device '%s' (expected gpu or cpu)",
                      name ? name : "(null)");
}

void layout_params_default(enum layout_device d, struct layout_params *out)
{
    if (d == LAYOUT_DEVICE_CPU) {
        /* One core per MPI rank, fp32 OpenBLAS: ~100 GFLOP/s peak with AVX2 FMA.
         * Ranks on one host talk through shared memory; hosts through 10 GbE. */
        *out = (struct layout_params){
            .flops = 100e9, .mfu = 0.5, .chunk_half_eff = 16, .layer_overhead = 20e-6,
            .bw_intra = 5e9, .bw_inter = 1.25e9, .lat_intra = 2e-6, .lat_inter = 30e-6,
            .ring_overlap = 0.3, .mem_bw = 10e9,
            .act_bytes = 4, .weight_bytes = 4, .mem_capacity = 0, .mem_reserved = 0,
        };
        return;
    }
    /* H100 SXM: 989 TFLOP/s dense bf16, ~40% achieved on DiT blocks; NVLink 4
     * all-to-all ~200 GB/s per GPU; one 400 Gb/s NDR port per GPU (~40 GB/s);
     * ring transfers hide only half behind attention (NCCL's P2P kernels share
     * the SMs and HBM: on one NVLink box Ulysses beats ring, yunchang #40);
     * 80 GB of HBM (81,559 MiB as nvidia-smi reports it), of which ~2 GiB goes
     * to the CUDA context, cuBLAS and NCCL. */
    *out = (struct layout_params){
        .flops = 989e12, .mfu = 0.4, .chunk_half_eff = 256, .layer_overhead = 40e-6,
        .bw_intra = 200e9, .bw_inter = 40e9, .lat_intra = 10e-6, .lat_inter = 20e-6,
        .ring_overlap = 0.5, .mem_bw = 2.5e12,
        .act_bytes = 2, .weight_bytes = 2, .mem_capacity = 81559.0 * 1024 * 1024,
        .mem_reserved = 2.0 * 1024 * 1024 * 1024,
    };
}

int layout_ranks_offered(const struct cluster_shape *c)
{
    int all = c->nodes * c->ranks_per_node;
    return !c->use_all && c->max_ranks > 0 && c->max_ranks < all ? c->max_ranks : all;
}

int layout_branches(const struct cluster_shape *c)
{
    return c->cfg_branches == 1 ? 1 : 2;
}

/* ---------------------------------------------------------------------------
 * Request checks
 * ------------------------------------------------------------------------- */

static int check_geom(const struct model_geom *g, struct df_err *err)
{
    const char *n = g->name[0] ? g->name : "(unnamed)";
    DF_FAIL_IF(g->num_heads <= 0, err, DF_E_INVAL,
               "model '%s': no attention heads (num_heads = %d); the planner needs num_heads >= 1",
               n, g->num_heads);
    DF_FAIL_IF(g->num_layers <= 0, err, DF_E_INVAL, "model '%s': num_layers must be >= 1 (got %d)",
               n, g->num_layers);
    DF_FAIL_IF(g->head_dim <= 0, err, DF_E_INVAL, "model '%s': head_dim must be >= 1 (got %d)", n,
               g->head_dim);
    DF_FAIL_IF(g->hidden <= 0, err, DF_E_INVAL, "model '%s': hidden must be >= 1 (got %d)", n,
               g->hidden);
    DF_FAIL_IF(g->ffn_dim < 0 || g->text_len < 0 || g->text_dim < 0, err, DF_E_INVAL,
               "model '%s': ffn_dim, text_len and text_dim must be >= 0", n);
    return 0;
}

static int check_params(const struct layout_params *p, struct df_err *err)
{
    const struct {
        const char *name;
        double v;
        int strict; /* 1: must be > 0; 0: must be >= 0 */
    } f[] = {
        {"flops", p->flops, 1},           {"mfu", p->mfu, 1},
        {"bw_intra", p->bw_intra, 1},     {"bw_inter", p->bw_inter, 1},
        {"act_bytes", p->act_bytes, 1},   {"weight_bytes", p->weight_bytes, 1},
        {"chunk_half_eff", p->chunk_half_eff, 0}, {"layer_overhead", p->layer_overhead, 0},
        {"lat_intra", p->lat_intra, 0},   {"lat_inter", p->lat_inter, 0},
        {"mem_capacity", p->mem_capacity, 0}, {"mem_reserved", p->mem_reserved, 0},
        {"ring_overlap", p->ring_overlap, 0}, {"mem_bw", p->mem_bw, 1},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        int ok = f[i].strict ? f[i].v > 0 : f[i].v >= 0; /* false for NaN too */
        DF_FAIL_IF(!ok || isinf(f[i].v), err, DF_E_INVAL, "layout params: %s must be %s (got %g)",
                   f[i].name, f[i].strict ? "> 0" : ">= 0", f[i].v);
    }
    DF_FAIL_IF(p->mfu > 1, err, DF_E_INVAL, "layout params: mfu must be <= 1 (got %g)", p->mfu);
    DF_FAIL_IF(p->ring_overlap > 1, err, DF_E_INVAL,
               "layout params: ring_overlap must be <= 1 (got %g)", p->ring_overlap);
    return 0;
}

static int check_cluster(const struct cluster_shape *c, struct df_err *err)
{
    DF_FAIL_IF((unsigned)c->device >= LAYOUT_DEVICE_COUNT, err, DF_E_INVAL,
               "cluster: unknown device %d", (int)c->device);
    const char *per = c->device == LAYOUT_DEVICE_CPU ? "CPU ranks per node" : "GPUs per node";
    DF_FAIL_IF(c->nodes <= 0, err, DF_E_INVAL, "cluster: nodes must be >= 1 (got %d)", c->nodes);
    DF_FAIL_IF(c->ranks_per_node <= 0, err, DF_E_INVAL, "cluster: %s must be >= 1 (got %d)", per,
               c->ranks_per_node);
    DF_FAIL_IF(c->nodes > LAYOUT_MAX_NODES, err, DF_E_RANGE,
               "cluster: %d nodes is more than the planner supports (%d)", c->nodes,
               LAYOUT_MAX_NODES);
    DF_FAIL_IF(c->ranks_per_node > LAYOUT_MAX_RANKS_PER_NODE, err, DF_E_RANGE,
               "cluster: %d %s is more than the planner supports (%d)", c->ranks_per_node, per,
               LAYOUT_MAX_RANKS_PER_NODE);
    long long total = (long long)c->nodes * c->ranks_per_node;
    DF_FAIL_IF(total > LAYOUT_MAX_RANKS, err, DF_E_RANGE,
               "cluster: %lld ranks (%d nodes x %d) is more than the planner supports (%d)", total,
               c->nodes, c->ranks_per_node, LAYOUT_MAX_RANKS);
    DF_FAIL_IF(c->cfg_branches < 0 || c->cfg_branches > 2, err, DF_E_INVAL,
               "cluster: cfg_branches must be 1 or 2 (got %d)", c->cfg_branches);
    DF_FAIL_IF(c->max_ranks < 0, err, DF_E_INVAL, "cluster: max ranks must be >= 0 (got %d)",
               c->max_ranks);
    DF_FAIL_IF(!(c->mem_per_rank >= 0) || isinf(c->mem_per_rank), err, DF_E_INVAL,
               "cluster: memory per rank must be >= 0 bytes (got %g)", c->mem_per_rank);
    return 0;
}

int layout_check_request(const struct model_geom *g, const struct model_grid *grid,
                         const struct cluster_shape *c, const struct layout_params *p,
                         struct layout_params *eff, struct df_err *err)
{
    DF_FAIL_IF(!g || !grid || !c, err, DF_E_INVAL, "layout: geometry, grid and cluster are required");
    DF_TRY(check_geom(g, err));
    DF_FAIL_IF(grid->seq_len <= 0, err, DF_E_INVAL, "shot has no tokens (seq_len = %lld)",
               (long long)grid->seq_len);
    DF_FAIL_IF(grid->seq_len > LAYOUT_MAX_TOKENS, err, DF_E_RANGE,
               "shot has %lld tokens, more than the planner supports (%lld)",
               (long long)grid->seq_len, (long long)LAYOUT_MAX_TOKENS);
    DF_TRY(check_cluster(c, err));
    if (p)
        *eff = *p;
    else
        layout_params_default(c->device, eff);
    if (c->mem_per_rank > 0)
        eff->mem_capacity = c->mem_per_rank;
    return check_params(eff, err);
}

/* ---------------------------------------------------------------------------
 * Placement
 * ------------------------------------------------------------------------- */

const char *layout_placement_rule(const struct model_geom *g, const struct cluster_shape *c,
                                  int cfg, int u, int r, int rpn)
{
    if (cfg < 1 || cfg > 2)
        return "cfg must be 1 or 2";
    if (cfg > layout_branches(c))
        return "cfg 2 needs two guidance branches (this shot has one)";
    if (cfg == 2 && c->cfg_together)
        return "cfg 2 splits the guidance branches, and this shot's CFG cache needs both on "
               "each rank";
    if (u < 1 || r < 1)
        return "ulysses and ring must be >= 1";
    if (g->num_heads % u != 0)
        return "ulysses must divide the attention heads";
    long long world = (long long)cfg * u * r;
    if (world > layout_ranks_offered(c))
        return "more ranks than the cluster offers";
    if (rpn < 1 || rpn > c->ranks_per_node)
        return "ranks per node must be between 1 and the cluster's";
    if (world % rpn != 0)
        return "the ranks do not fill whole nodes";
    if (world / rpn > c->nodes)
        return "more nodes than the cluster has";
    /* Ulysses all-to-all wants all-pairs bandwidth: a group sits inside one
     * node, or (when larger than a node) covers whole nodes. */
    if (u <= rpn ? rpn % u != 0 : u % rpn != 0)
        return "a ulysses group would straddle a node boundary";
    if (u > rpn && u <= c->ranks_per_node)
        return "a ulysses group that fits in one node would span several";
    return NULL;
}

/* ---------------------------------------------------------------------------
 * FLOPs and parameters
 * ------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------
 * One layout
 * ------------------------------------------------------------------------- */

static int node_of(int rank, int rpn)
{
    return rank / rpn;
}

static void fill_split(const struct model_grid *grid, int P, struct layout *l)
{
    int64_t S = grid->seq_len;
    l->seq_len = S;
    l->chunk = (S + P - 1) / P;
    l->seq_padded = l->chunk * P;
    l->pad_tokens = l->seq_padded - S;
    int64_t filled = (S + l->chunk - 1) / l->chunk; /* ranks holding >= 1 real token */
    l->empty_ranks = (int)(P - filled);
    int64_t last = S - (int64_t)(P - 1) * l->chunk;
    l->last_valid = last > 0 ? last : 0;
    l->pad_pct = 100.0 * (double)l->pad_tokens / (double)S;
}

static void fill_placement(const struct cluster_shape *c, int cfg, int u, int r, int rpn,
                           struct layout *l)
{
    int P = u * r;
    l->cfg = cfg;
    l->ulysses = u;
    l->ring = r;
    l->world = cfg * P;
    l->ranks_offered = layout_ranks_offered(c);
    l->ranks_per_node = rpn;
    l->nodes = l->world / rpn;
    l->uly_intra = u <= rpn;
    l->ring_inter = 0;
    for (int ci = 0; ci < cfg && r > 1; ci++)
        for (int j = 0; j < u; j++) {
            int first = ci * P + j, last = first + (r - 1) * u;
            if (node_of(first, rpn) != node_of(last, rpn))
                l->ring_inter = 1;
        }
    l->cfg_inter = cfg == 2 && l->nodes > 1;
    l->cfg_branches = layout_branches(c);
}

void layout_fill(const struct model_geom *g, const struct model_grid *grid,
                 const struct cluster_shape *c, const struct layout_params *p, int cfg, int u,
                 int r, int rpn, struct layout *l)
{
    memset(l, 0, sizeof(*l));
    fill_placement(c, cfg, u, r, rpn, l);
    fill_split(grid, u * r, l);

    const double P = u * r, nb = (double)(l->cfg_branches / cfg), L = g->num_layers;
    const double d = g->hidden, ab = p->act_bytes, chunk = (double)l->chunk;
    const double eff = chunk / (chunk + p->chunk_half_eff);
    const double rate = p->flops * p->mfu * eff;

    double f_seq = model_geom_forward_flops(g, l->seq_padded), f0 = model_geom_forward_flops(g, 0);
    l->t_compute = nb * ((f_seq - f0) / P + f0) / rate + L * p->layer_overhead;

    if (u > 1) { /* 4 all-to-alls per layer: Q, K, V in, O out */
        double piece = nb * chunk * d * ab / u; /* to each peer */
        int local = u <= rpn ? u : rpn;         /* group members on this node */
        double t = piece * (local - 1) / p->bw_intra + piece * (u - local) / p->bw_inter +
                   (l->uly_intra ? p->lat_intra : p->lat_inter);
        l->t_uly = L * 4 * t;
    }
    if (r > 1) {
        /* r-1 passes of this rank's K and V block per layer; a pass hides
         * (up to ring_overlap of it) behind the attention of the block in
         * hand.  Each pass also merges a partial output by LSE: read two fp32
         * outputs, write one, a memory-bound pass over chunk * d floats. */
        double bw = l->ring_inter ? p->bw_inter : p->bw_intra;
        double lat = l->ring_inter ? p->lat_inter : p->lat_intra;
        double t_pass = lat + 2 * nb * chunk * d * ab / bw;
        double t_block = nb * 4 * ((double)l->seq_padded / r) * chunk * d / rate;
        double t_merge = nb * chunk * d * 4 * 3 / p->mem_bw;
        double hidden = p->ring_overlap * fmin(t_pass, t_block);
        l->t_ring_total = L * (r - 1) * (t_pass + t_merge);
        l->t_ring = L * (r - 1) * (t_pass - hidden + t_merge);
    }
    if (cfg == 2) { /* the noise prediction of this rank's chunk, fp32 */
        double pvol = (double)g->patch[0] * g->patch[1] * g->patch[2];
        double bytes = chunk * (g->out_channels > 0 ? g->out_channels : 1) * pvol * 4;
        l->t_cfg = (l->cfg_inter ? p->lat_inter : p->lat_intra) +
                   bytes / (l->cfg_inter ? p->bw_inter : p->bw_intra);
    }
    l->t_step = l->t_compute + l->t_uly + l->t_ring + l->t_cfg;

    /* Memory: replicated weights; one block's live activations (x, norm,
     * q, k, v, attention out, residual, modulated input, two FFN-wide
     * buffers); the ring's second K/V buffer; text states; latents and the
     * sampler's history in fp32; the step cache's fp32 residual. */
    double pvol = (double)g->patch[0] * g->patch[1] * g->patch[2];
    double act = nb * chunk * (8 * d + 2.0 * g->ffn_dim) * ab;
    if (r > 1)
        act += nb * 4 * chunk * d * ab;
    act += nb * (double)g->text_len * ((double)g->text_dim + 2 * d) * ab;
    act += chunk * pvol * (g->in_channels > 0 ? g->in_channels : 1) * 4 * 6;
    act += nb * chunk * d * 4;
    l->mem_per_rank = (double)model_geom_params(g) * p->weight_bytes + act + p->mem_reserved;
    l->mem_capacity = p->mem_capacity;
}
