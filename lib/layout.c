/*
 * layout.c -- enumerate and rank cfg x ulysses x ring layouts (see layout.h).
 *
 * For every world size W the request allows (exactly nodes * ranks_per_node
 * with use_all, else 1 .. that), every cfg in {2, 1} dividing W, every ulysses
 * u dividing both the heads and P = W / cfg (ring r = P / u takes the rest: it
 * has no head constraint, which is why every GPU count can run), and every
 * ranks-per-node that fills whole nodes, the cost model predicts a step time.
 * Layouts that break a placement rule, do not fit in memory, or (when the
 * planner may leave ranks idle) give some rank only padding, are dropped.  The
 * best out_cap survive in a small sorted array; nothing is allocated.
 */
#include "layout_int.h"

#include "manifest.h"

#include <stdio.h>
#include <string.h>

/* A candidate before it is written out in full. */
struct cand {
    int cfg, u, r, rpn, world;
    double t;
};

/* Strict "a ranks before b": faster first; on a tie fewer ranks, then cfg 2
 * (no traffic), then more ulysses (no head constraint left for later), then
 * fewer nodes.  A total order, so the ranking is deterministic. */
static int cand_before(const struct cand *a, const struct cand *b)
{
    if (a->t != b->t)
        return a->t < b->t;
    if (a->world != b->world)
        return a->world < b->world;
    if (a->cfg != b->cfg)
        return a->cfg > b->cfg;
    if (a->u != b->u)
        return a->u > b->u;
    return a->rpn > b->rpn;
}

/* Keep the best `cap` candidates in top[0..*n-1], sorted. */
static void top_insert(struct cand *top, int cap, int *n, const struct cand *c)
{
    int i = *n < cap ? (*n)++ : cap;
    if (i == cap) {
        if (!cand_before(c, &top[cap - 1]))
            return;
        i = cap - 1;
    }
    while (i > 0 && cand_before(c, &top[i - 1])) {
        top[i] = top[i - 1];
        i--;
    }
    top[i] = *c;
}

/* What happened to the layouts that would have used every offered rank. */
struct full_stats {
    int n_ok;                /* kept */
    int n_empty;             /* dropped: some rank would hold only padding */
    struct cand best;        /* best kept one (valid when n_ok > 0) */
};

/* The search state shared by the loops below. */
struct search {
    const struct model_geom *g;
    const struct model_grid *grid;
    const struct cluster_shape *c;
    const struct layout_params *p;
    struct cand *top;
    int cap, n;
    struct full_stats full;
    int n_empty_any;         /* dropped: some rank would hold only padding (any world) */
    struct layout empty_ex;  /* one of those, for the message */
    int n_mem;               /* dropped for memory */
    struct layout mem_min;   /* the smallest memory need seen among those */
};

static void consider(struct search *s, int cfg, int u, int r, int rpn)
{
    if (layout_placement_rule(s->g, s->c, cfg, u, r, rpn))
        return;
    struct layout l;
    layout_fill(s->g, s->grid, s->c, s->p, cfg, u, r, rpn, &l);
    int is_full = l.world == l.ranks_offered;
    if (l.mem_capacity > 0 && l.mem_per_rank > l.mem_capacity) {
        if (s->n_mem++ == 0 || l.mem_per_rank < s->mem_min.mem_per_rank)
            s->mem_min = l;
        return;
    }
    if (layout_check_runnable(&l, NULL) < 0) {
        s->full.n_empty += is_full;
        if (s->n_empty_any++ == 0)
            s->empty_ex = l;
        return;
    }
    struct cand cd = {cfg, u, r, rpn, l.world, l.t_step};
    if (is_full && (s->full.n_ok++ == 0 || cand_before(&cd, &s->full.best)))
        s->full.best = cd;
    top_insert(s->top, s->cap, &s->n, &cd);
}

static void search_world(struct search *s, int world)
{
    const struct cluster_shape *c = s->c;
    /* Ranks per node that fill k whole nodes: world = k * rpn, rpn <= per node. */
    int rpns[LAYOUT_MAX_NODES], n_rpn = 0;
    if (c->use_all) {
        rpns[n_rpn++] = c->ranks_per_node;
    } else {
        int k_min = (world + c->ranks_per_node - 1) / c->ranks_per_node;
        for (int k = k_min; k <= c->nodes && k <= world; k++)
            if (world % k == 0)
                rpns[n_rpn++] = world / k;
    }
    for (int cfg = c->cfg_together ? 1 : layout_branches(c); cfg >= 1; cfg--) {
        if (world % cfg)
            continue;
        int P = world / cfg;
        for (int u = 1; u <= P && u <= s->g->num_heads; u++) {
            if (P % u || s->g->num_heads % u)
                continue;
            for (int i = 0; i < n_rpn; i++)
                consider(s, cfg, u, P / u, rpns[i]);
        }
    }
}

static void fmt_gib(double bytes, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
}

/* Why the chosen layout leaves ranks idle, into best->idle. */
static void explain_idle(const struct search *s, struct layout *best)
{
    const struct cluster_shape *c = s->c;
    const char *unit = c->device == LAYOUT_DEVICE_CPU ? "CPU ranks" : "GPUs";
    int off = best->ranks_offered;
    if (best->world == off)
        return;
    char *dst = best->idle;
    size_t cap = sizeof(best->idle), n = 0;
    layout_addf(dst, cap, &n, "uses %d of %d %s: ", best->world, off, unit);
    if (s->full.n_ok > 0) {
        struct layout full;
        const struct cand *f = &s->full.best;
        layout_fill(s->g, s->grid, c, s->p, f->cfg, f->u, f->r, f->rpn, &full);
        char why[LAYOUT_WHY_CAP], tf[32];
        layout_explain_loss(best, &full, why, sizeof(why));
        layout_fmt_time(full.t_step, tf, sizeof(tf));
        layout_addf(dst, cap, &n, "the best layout on all %d (cfg %d x ulysses %d x ring %d) predicts "
                 "%s/step, %.0f%% slower: %s", off, full.cfg, full.ulysses, full.ring, tf,
                 100.0 * (full.t_step - best->t_step) / best->t_step, why);
    } else if (s->full.n_empty > 0) {
        layout_addf(dst, cap, &n, "%lld tokens cannot give every one of %d ranks a real token "
                 "(the tail ranks would hold only padding); %d ranks predicted fastest",
                 (long long)best->seq_len, off, best->world);
    } else if (s->n_mem > 0) {
        layout_addf(dst, cap, &n, "no layout on all %d fits in memory", off);
    } else {
        layout_addf(dst, cap, &n, "no cfg x ulysses x ring split of %d ranks fills %d nodes of %d "
                 "with ulysses groups inside a node", off, c->nodes, c->ranks_per_node);
    }
}

/* Write top[i] out in full, with explanations. */
static void write_out(const struct search *s, struct layout *out)
{
    for (int i = 0; i < s->n; i++) {
        const struct cand *cd = &s->top[i];
        layout_fill(s->g, s->grid, s->c, s->p, cd->cfg, cd->u, cd->r, cd->rpn, &out[i]);
    }
    layout_explain_win(&out[0]);
    explain_idle(s, &out[0]);
    for (int i = 1; i < s->n; i++) {
        char tb[32], ta[32], why[LAYOUT_WHY_CAP];
        layout_fmt_time(out[0].t_step, tb, sizeof(tb));
        layout_fmt_time(out[i].t_step, ta, sizeof(ta));
        layout_explain_loss(&out[0], &out[i], why, sizeof(why));
        size_t n = 0;
        double pc = 100.0 * (out[i].t_step - out[0].t_step) / out[0].t_step;
        layout_addf(out[i].why, sizeof(out[i].why), &n, "+%.*f%% (%s vs %s per step): %s",
                    pc < 10 ? 1 : 0, pc, ta, tb, why);
    }
}

#define LAYOUT_TOP_MAX 64

int layout_plan(const struct model_geom *g, const struct model_grid *grid,
                const struct cluster_shape *c, const struct layout_params *p,
                struct layout *out, int out_cap, int *n_out, struct df_err *err)
{
    struct layout_params eff;
    DF_FAIL_IF(!out || out_cap < 1 || !n_out, err, DF_E_INVAL,
               "layout_plan: need an output array of at least one layout");
    *n_out = 0;
    DF_TRY(layout_check_request(g, grid, c, p, &eff, err));

    struct cand top[LAYOUT_TOP_MAX];
    struct search s = {.g = g, .grid = grid, .c = c, .p = &eff, .top = top,
                       .cap = out_cap < LAYOUT_TOP_MAX ? out_cap : LAYOUT_TOP_MAX};
    int offered = layout_ranks_offered(c);
    for (int w = c->use_all ? offered : 1; w <= offered; w++)
        search_world(&s, w);

    if (s.n == 0 && s.n_mem == 0 && s.n_empty_any > 0) /* --exact, tokens < ranks */
        return layout_check_runnable(&s.empty_ex, err);
    if (s.n == 0) {
        char need[32], have[32];
        DF_FAIL_IF(s.n_mem == 0, err, DF_E_INTERNAL,
                   "layout: no layout for %d ranks (planner bug: u=1 always places)", offered);
        fmt_gib(s.mem_min.mem_per_rank, need, sizeof(need));
        fmt_gib(s.mem_min.mem_capacity, have, sizeof(have));
        return df_err_set(err, DF_E_RANGE,
                          "model '%s' does not fit: it needs at least %s per rank (cfg %d x "
                          "ulysses %d x ring %d, %lld tokens per rank); ranks have %s",
                          g->name, need, s.mem_min.cfg, s.mem_min.ulysses, s.mem_min.ring,
                          (long long)s.mem_min.chunk, have);
    }
    write_out(&s, out);
    *n_out = s.n;
    return 0;
}

int layout_make(const struct model_geom *g, const struct model_grid *grid,
                const struct cluster_shape *c, const struct layout_params *p, int cfg,
                int ulysses, int ring, int ranks_per_node, struct layout *out,
                struct df_err *err)
{
    struct layout_params eff;
    DF_TRY(layout_check_request(g, grid, c, p, &eff, err));
    long long world = (long long)cfg * ulysses * ring;
    int rpn = ranks_per_node > 0 ? ranks_per_node : c->ranks_per_node;
    if (ranks_per_node <= 0 && world > 0 && world < rpn)
        rpn = (int)world;
    const char *rule = layout_placement_rule(g, c, cfg, ulysses, ring, rpn);
    DF_FAIL_IF(rule, err, DF_E_INVAL,
               "layout cfg %d x ulysses %d x ring %d on %d per node (model '%s', %d heads, "
               "%d nodes x %d): %s",
               cfg, ulysses, ring, rpn, g->name, g->num_heads, c->nodes, c->ranks_per_node, rule);
    layout_fill(g, grid, c, &eff, cfg, ulysses, ring, rpn, out);
    layout_explain_win(out);
    return 0;
}

/* The one rule the planner (`ditfarm plan`, with or without --exact), the
 * daemon and the worker apply: every rank of a group holds a real token.  A
 * rank with only padding would compute nothing but still join every
 * collective with an empty chunk, which the attention kernels do not
 * support. */
int layout_check_runnable(const struct layout *l, struct df_err *err)
{
    DF_FAIL_IF(l->empty_ranks > 0, err, DF_E_INVAL,
               "%d ranks for %lld tokens leave %d rank(s) per group without a token; "
               "run this shot on fewer ranks",
               l->world, (long long)l->seq_len, l->empty_ranks);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Where a rank sits
 * ------------------------------------------------------------------------- */

int layout_rank_coords(const struct layout *l, int rank, int *cfg_idx, int *ring_idx,
                       int *uly_idx, struct df_err *err)
{
    DF_FAIL_IF(rank < 0 || rank >= l->world, err, DF_E_RANGE,
               "rank %d is outside the layout's %d ranks", rank, l->world);
    int P = l->ulysses * l->ring;
    *cfg_idx = rank / P;
    *ring_idx = rank % P / l->ulysses;
    *uly_idx = rank % l->ulysses;
    return 0;
}

int layout_comm_colors(const struct layout *l, int rank, int *uly, int *ring, int *sp, int *cfg,
                       struct df_err *err)
{
    int ci = 0, ri = 0, ui = 0;
    DF_TRY(layout_rank_coords(l, rank, &ci, &ri, &ui, err));
    if (uly)
        *uly = ci * l->ring + ri;
    if (ring)
        *ring = ci * l->ulysses + ui;
    if (sp)
        *sp = ci;
    if (cfg)
        *cfg = ri * l->ulysses + ui;
    return 0;
}

int layout_rank_node(const struct layout *l, int rank)
{
    if (rank < 0 || rank >= l->world || l->ranks_per_node < 1)
        return -1;
    return rank / l->ranks_per_node;
}

int layout_token_range(const struct layout *l, int rank, int64_t *begin, int64_t *count_valid,
                       struct df_err *err)
{
    int ci = 0, ri = 0, ui = 0;
    DF_TRY(layout_rank_coords(l, rank, &ci, &ri, &ui, err));
    int64_t b = ((int64_t)ri * l->ulysses + ui) * l->chunk;
    int64_t n = l->seq_len - b;
    *begin = b;
    *count_valid = n < 0 ? 0 : n > l->chunk ? l->chunk : n;
    return 0;
}

int layout_shot_cfg_together(const struct shot *s)
{
    return shot_guided(s) && s->cache.policy == CACHE_POLICY_PROMPTTEA &&
           s->cache.cfg_threshold > 0;
}
