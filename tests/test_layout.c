/* test_layout.c -- lib/layout*.c: the cfg x ulysses x ring planner.
 *
 * Property tests, not a table: for every case the issue lists, every layout
 * the planner returns must multiply out to its world, keep ulysses a divisor
 * of the heads, assign every token to exactly one rank of each cfg group, pad
 * less than one token per rank-chunk and only at the tail, and keep ulysses
 * groups inside a node when they fit.  Geometries are written out here so the
 * planner is tested on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layout.h"

/* ---- geometries (usp-notes.md section 3) --------------------------------- */

static struct model_geom geom(const char *name, int layers, int heads, int head_dim, int ffn,
                              int text_len, int joint)
{
    struct model_geom g;
    memset(&g, 0, sizeof(g));
    snprintf(g.name, sizeof(g.name), "%s", name);
    snprintf(g.family, sizeof(g.family), "%s", joint ? "cogvideox" : "wan2.1");
    g.num_layers = layers;
    g.num_heads = heads;
    g.head_dim = head_dim;
    g.hidden = heads * head_dim;
    g.ffn_dim = ffn;
    g.in_channels = g.out_channels = 16;
    g.text_dim = 4096;
    g.text_len = text_len;
    g.freq_dim = 256;
    g.patch[0] = 1, g.patch[1] = 2, g.patch[2] = 2;
    g.vae_stride[0] = 4, g.vae_stride[1] = 8, g.vae_stride[2] = 8;
    g.joint_text = joint;
    return g;
}

static struct model_geom cogvideox_2b(void) { return geom("cogvideox-2b", 30, 30, 64, 7680, 226, 1); }
static struct model_geom wan_1_3b(void) { return geom("wan2.1-t2v-1.3b", 30, 12, 128, 8960, 512, 0); }
static struct model_geom wan_14b(void) { return geom("wan2.1-t2v-14b", 40, 40, 128, 13824, 512, 0); }
static struct model_geom tiny(void) { return geom("tiny", 2, 4, 8, 64, 8, 0); }

static struct model_grid grid_of(int t, int h, int w, int extra)
{
    struct model_grid gr;
    memset(&gr, 0, sizeof(gr));
    gr.tokens[0] = t, gr.tokens[1] = h, gr.tokens[2] = w;
    gr.latent[0] = t, gr.latent[1] = 2 * h, gr.latent[2] = 2 * w;
    gr.seq_len = (int64_t)t * h * w + extra;
    return gr;
}

/* CogVideoX-2B 49 frames 480x720: latent 13x60x90, patch 2 -> 13x30x45 + 226 text. */
static struct model_grid grid_cog(void) { return grid_of(13, 30, 45, 226); }
/* Wan 480x832, 81 frames: latent 21x60x104 -> 21x30x52 = 32760. */
static struct model_grid grid_wan480(void) { return grid_of(21, 30, 52, 0); }

/* ---- the properties ------------------------------------------------------ */

static void check_layout_x(const struct model_geom *g, const struct model_grid *gr,
                           const struct cluster_shape *c, const struct layout *l, int allow_empty)
{
    int P = l->ulysses * l->ring;
    assert_true(l->cfg == 1 || l->cfg == 2);
    assert_int_equal(l->cfg * l->ulysses * l->ring, l->world);
    assert_int_equal(g->num_heads % l->ulysses, 0);
    assert_true(l->world >= 1 && l->world <= layout_ranks_offered(c));
    if (c->use_all)
        assert_int_equal(l->world, c->nodes * c->ranks_per_node);
    /* placement: whole nodes, inside the cluster */
    assert_int_equal(l->nodes * l->ranks_per_node, l->world);
    assert_true(l->nodes <= c->nodes && l->ranks_per_node <= c->ranks_per_node);
    /* ulysses inside a node whenever it fits in one */
    if (l->ulysses <= c->ranks_per_node)
        assert_true(l->uly_intra);
    for (int rank = 0; rank < l->world; rank++) {
        int node = layout_rank_node(l, rank);
        int first = rank - rank % l->ulysses; /* the rank's ulysses group */
        if (l->uly_intra)
            assert_int_equal(node, layout_rank_node(l, first + l->ulysses - 1));
    }
    /* communicator colours: each group has the size its degree says, and a
     * ulysses group is consecutive ranks, a ring group strides by u */
    {
        int counts[4][LAYOUT_MAX_RANKS_PER_NODE] = {{0}};
        for (int rank = 0; rank < l->world && l->world <= LAYOUT_MAX_RANKS_PER_NODE; rank++) {
            int cu, cr, cs, cc;
            assert_int_equal(layout_comm_colors(l, rank, &cu, &cr, &cs, &cc, NULL), 0);
            assert_int_equal(cu, rank / l->ulysses);
            assert_true(cr >= 0 && cr < l->world && cs >= 0 && cc >= 0 && cc < l->world);
            counts[0][cu]++, counts[1][cr]++, counts[2][cs]++, counts[3][cc]++;
        }
        for (int k = 0; k < l->world && l->world <= LAYOUT_MAX_RANKS_PER_NODE; k++) {
            assert_true(counts[0][k] == 0 || counts[0][k] == l->ulysses);
            assert_true(counts[1][k] == 0 || counts[1][k] == l->ring);
            assert_true(counts[2][k] == 0 || counts[2][k] == P);
            assert_true(counts[3][k] == 0 || counts[3][k] == l->cfg);
        }
    }
    /* the split */
    assert_int_equal(l->seq_len, gr->seq_len);
    assert_int_equal(l->chunk * P, l->seq_padded);
    assert_true(l->seq_padded >= l->seq_len);
    assert_true(l->pad_tokens == l->seq_padded - l->seq_len);
    assert_true(l->pad_tokens < P); /* less than one token per rank-chunk */
    assert_true(fabs(l->pad_pct - 100.0 * (double)l->pad_tokens / (double)l->seq_len) < 1e-9);
    /* every token exactly once per cfg group, padding only at the tail */
    for (int ci = 0; ci < l->cfg; ci++) {
        int64_t next = 0;
        int seen_short = 0;
        for (int k = 0; k < P; k++) {
            int rank = ci * P + k, cfg_idx, ring_idx, uly_idx;
            assert_int_equal(layout_rank_coords(l, rank, &cfg_idx, &ring_idx, &uly_idx, NULL), 0);
            assert_int_equal(cfg_idx * P + ring_idx * l->ulysses + uly_idx, rank);
            assert_int_equal(cfg_idx, ci);
            int64_t b, n;
            assert_int_equal(layout_token_range(l, rank, &b, &n, NULL), 0);
            assert_int_equal(b, (int64_t)k * l->chunk);
            assert_true(n >= 0 && n <= l->chunk);
            if (n > 0) {
                assert_false(seen_short);
                assert_int_equal(b, next);
            }
            if (n < l->chunk)
                seen_short = 1;
            next += n;
        }
        assert_int_equal(next, l->seq_len);
    }
    /* cost */
    assert_true(isfinite(l->t_step) && l->t_step > 0);
    assert_true(fabs(l->t_step - (l->t_compute + l->t_uly + l->t_ring + l->t_cfg)) <
                1e-9 * l->t_step);
    assert_true(l->t_ring <= l->t_ring_total + 1e-15);
    assert_true(l->mem_per_rank > 0);
    if (l->mem_capacity > 0)
        assert_true(l->mem_per_rank <= l->mem_capacity);
    if (!c->use_all && !allow_empty)
        assert_int_equal(l->empty_ranks, 0);
    assert_true(l->why[0] != 0);
}

static void check_layout(const struct model_geom *g, const struct model_grid *gr,
                         const struct cluster_shape *c, const struct layout *l)
{
    check_layout_x(g, gr, c, l, 0);
}

#define CAP 8

/* Plan and check every returned layout; returns the count. */
static int plan_ok(const struct model_geom *g, const struct model_grid *gr,
                   const struct cluster_shape *c, struct layout *out)
{
    struct df_err err = {0};
    int n = 0;
    int rc = layout_plan(g, gr, c, NULL, out, CAP, &n, &err);
    if (rc != 0)
        fail_msg("layout_plan(%s, %lld tokens, %dx%d): %s", g->name, (long long)gr->seq_len,
                 c->nodes, c->ranks_per_node, err.msg);
    assert_true(n >= 1 && n <= CAP);
    for (int i = 0; i < n; i++) {
        check_layout(g, gr, c, &out[i]);
        if (i > 0)
            assert_true(out[i].t_step >= out[i - 1].t_step);
    }
    /* idle ranks are always explained */
    if (out[0].world < out[0].ranks_offered)
        assert_true(strstr(out[0].idle, "uses ") == out[0].idle);
    else
        assert_string_equal(out[0].idle, "");
    return n;
}

/* ---- the cases of the issue ---------------------------------------------- */

static void test_cogvideox_counts(void **state)
{
    (void)state;
    struct model_geom g = cogvideox_2b();
    struct model_grid gr = grid_cog();
    const int counts[] = {1, 2, 3, 4, 5, 6, 8, 10, 12, 16};
    struct layout out[CAP];
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        int G = counts[i];
        /* one node of G, any number used */
        struct cluster_shape c = {.nodes = 1, .ranks_per_node = G};
        plan_ok(&g, &gr, &c, out);
        /* exactly G: xDiT refuses 4 and 8 here (30 latent rows); we must not */
        c.use_all = 1;
        plan_ok(&g, &gr, &c, out);
        assert_int_equal(out[0].world, G);
        /* nodes of 8 when G > 8 */
        if (G > 8 && G % 8 == 0) {
            struct cluster_shape c8 = {.nodes = G / 8, .ranks_per_node = 8};
            plan_ok(&g, &gr, &c8, out);
        }
    }
}

static void test_wan13_counts(void **state)
{
    (void)state;
    struct model_geom g = wan_1_3b();
    struct model_grid gr = grid_wan480();
    assert_int_equal(gr.seq_len, 32760);
    struct layout out[CAP];
    for (int G = 1; G <= 16; G++) {
        for (int use_all = 0; use_all <= 1; use_all++) {
            struct cluster_shape c1 = {.nodes = 1, .ranks_per_node = G, .use_all = use_all};
            plan_ok(&g, &gr, &c1, out);
            if (use_all)
                assert_int_equal(out[0].world, G);
            /* cfg 2 whenever the count is even: no traffic until the combine */
            if (G % 2 == 0 && use_all)
                assert_int_equal(out[0].cfg, 2);
            if (G % 2 == 0) {
                struct cluster_shape c2 = {.nodes = 2, .ranks_per_node = G / 2, .use_all = use_all};
                plan_ok(&g, &gr, &c2, out);
            }
        }
    }
    /* 12 heads, 8 GPUs: ulysses 8 is impossible, yet all 8 GPUs run */
    struct cluster_shape c = {.nodes = 1, .ranks_per_node = 8};
    plan_ok(&g, &gr, &c, out);
    assert_int_equal(out[0].world, 8);
    assert_int_equal(out[0].cfg, 2);
    /* 2 nodes x 8: ulysses inside the node, ring (if any) across */
    struct cluster_shape c2 = {.nodes = 2, .ranks_per_node = 8};
    plan_ok(&g, &gr, &c2, out);
    assert_true(out[0].uly_intra);
}

static void test_wan14_counts(void **state)
{
    (void)state;
    struct model_geom g = wan_14b();
    struct model_grid grids[] = {grid_wan480(), grid_of(21, 45, 80, 0)}; /* 480p, 720p */
    const int counts[] = {8, 16, 32};
    struct layout out[CAP];
    for (size_t gi = 0; gi < 2; gi++)
        for (size_t i = 0; i < 3; i++) {
            struct cluster_shape c = {.nodes = counts[i] / 8, .ranks_per_node = 8};
            plan_ok(&g, &grids[gi], &c, out);
            assert_true(out[0].uly_intra);
            c.use_all = 1;
            plan_ok(&g, &grids[gi], &c, out);
            assert_int_equal(out[0].cfg, 2);
            assert_true(out[0].mem_per_rank > 28e9); /* 14B bf16 weights are replicated */
        }
}

/* 7 GPUs and 12 heads: u=1 r=7 is legal, so 7 can run; the planner says
 * what it uses and why. */
static void test_seven_gpus(void **state)
{
    (void)state;
    struct model_geom g = wan_1_3b();
    struct model_grid gr = grid_wan480();
    struct layout out[CAP];
    struct cluster_shape c = {.nodes = 1, .ranks_per_node = 7};
    plan_ok(&g, &gr, &c, out);
    if (out[0].world < 7)
        assert_non_null(strstr(out[0].idle, "the best layout on all 7"));
    c.use_all = 1;
    plan_ok(&g, &gr, &c, out);
    assert_int_equal(out[0].world, 7);
    assert_int_equal(out[0].cfg, 1);
}

/* ---- odd shapes ----------------------------------------------------------- */

static void test_prime_tokens(void **state)
{
    (void)state;
    struct model_geom g = tiny();
    struct model_grid gr = grid_of(1, 1, 7919, 0); /* prime */
    struct layout out[CAP];
    for (int G = 1; G <= 12; G++) {
        struct cluster_shape c = {.nodes = 1, .ranks_per_node = G, .use_all = 1};
        plan_ok(&g, &gr, &c, out);
        assert_int_equal(out[0].world, G);
        if (out[0].ulysses * out[0].ring > 1)
            assert_true(out[0].pad_tokens > 0);
    }
    /* Wan 1.3B at 13 latent frames, a prime-ish grid: 4x30x52 = 6240 is not prime,
     * but 17 frames of 16x16 latent give 5*8*8 = 320; use 1 x 1 x 31 x ... */
    struct model_geom w = wan_1_3b();
    struct model_grid odd = grid_of(5, 1, 13, 0); /* 65 tokens */
    struct cluster_shape c = {.nodes = 2, .ranks_per_node = 8};
    plan_ok(&w, &odd, &c, out);
}

static void test_one_gpu(void **state)
{
    (void)state;
    struct model_geom g = wan_1_3b();
    struct model_grid gr = grid_wan480();
    struct layout out[CAP];
    struct cluster_shape c = {.nodes = 1, .ranks_per_node = 1};
    int n = plan_ok(&g, &gr, &c, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].world, 1);
    assert_int_equal(out[0].pad_tokens, 0);
    assert_int_equal(out[0].chunk, 32760);
}

static void test_more_gpus_than_tokens(void **state)
{
    (void)state;
    struct model_geom g = tiny();
    struct model_grid gr = grid_of(1, 1, 5, 0);
    struct layout out[CAP];
    struct cluster_shape c = {.nodes = 1, .ranks_per_node = 8, .cfg_branches = 1};
    plan_ok(&g, &gr, &c, out);
    assert_true(out[0].world <= 5);
    assert_non_null(strstr(out[0].idle, "uses "));
    /* mpirun -n 8 already started 8 ranks: no layout gives each a token, and
     * the planner (`ditfarm plan --exact`) refuses exactly as the worker does,
     * with the same function and message (issue 15: it used to offer it). */
    c.use_all = 1;
    struct df_err err = {0};
    int n = 0;
    assert_int_equal(layout_plan(&g, &gr, &c, NULL, out, CAP, &n, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "8 ranks for 5 tokens leave 3 rank(s) per group without a "
                                 "token; run this shot on fewer ranks");
    /* 5 ranks for 11 tokens: chunk 3 fills only 4 ranks */
    gr = grid_of(1, 1, 11, 0);
    c.ranks_per_node = 5;
    assert_int_equal(layout_plan(&g, &gr, &c, NULL, out, CAP, &n, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "5 ranks for 11 tokens leave 1 rank(s) per group"));
    /* every layout the planner offers passes the worker's check */
    for (int ranks = 1; ranks <= 8; ranks++)
        for (int64_t tok = 1; tok <= 24; tok++) {
            gr = grid_of(1, 1, (int)tok, 0);
            c.ranks_per_node = ranks;
            for (int all = 0; all <= 1; all++) {
                c.use_all = all;
                if (layout_plan(&g, &gr, &c, NULL, out, CAP, &n, &err) < 0)
                    continue;
                for (int i = 0; i < n; i++)
                    assert_int_equal(layout_check_runnable(&out[i], &err), 0);
            }
        }
}

/* The worker's CPU ranks under mpirun: exactly P, for every P it tests. */
static void test_cpu_ranks(void **state)
{
    (void)state;
    struct model_geom g = tiny();
    struct model_grid gr = grid_of(3, 4, 6, 0);
    const int ps[] = {1, 2, 3, 4, 6, 8};
    struct layout out[CAP];
    for (size_t i = 0; i < 6; i++)
        for (int br = 1; br <= 2; br++) {
            struct cluster_shape c = {.nodes = 1, .ranks_per_node = ps[i],
                                      .device = LAYOUT_DEVICE_CPU, .use_all = 1,
                                      .cfg_branches = br};
            plan_ok(&g, &gr, &c, out);
            assert_int_equal(out[0].world, ps[i]);
            if (br == 1)
                assert_int_equal(out[0].cfg, 1);
        }
}

/* A shot's max_gpus caps what the planner may use. */
static void test_max_ranks(void **state)
{
    (void)state;
    struct model_geom g = wan_1_3b();
    struct model_grid gr = grid_wan480();
    struct layout out[CAP];
    struct cluster_shape c = {.nodes = 2, .ranks_per_node = 8, .max_ranks = 6};
    int n = plan_ok(&g, &gr, &c, out);
    for (int i = 0; i < n; i++)
        assert_true(out[i].world <= 6);
    assert_int_equal(out[0].ranks_offered, 6);
}

static void test_no_cfg_never_cfg2(void **state)
{
    (void)state;
    struct model_geom g = wan_1_3b();
    struct model_grid gr = grid_wan480();
    struct layout out[CAP];
    struct cluster_shape c = {.nodes = 1, .ranks_per_node = 8, .cfg_branches = 1};
    int n = plan_ok(&g, &gr, &c, out);
    for (int i = 0; i < n; i++)
        assert_int_equal(out[i].cfg, 1);
}

/* Runners-up say why they lose, with a percentage. */
static void test_alternatives_explained(void **state)
{
    (void)state;
    struct model_geom g = wan_1_3b();
    struct model_grid gr = grid_wan480();
    struct layout out[CAP];
    struct cluster_shape c = {.nodes = 2, .ranks_per_node = 8};
    int n = plan_ok(&g, &gr, &c, out);
    assert_true(n >= 3);
    for (int i = 1; i < n; i++)
        assert_true(out[i].why[0] == '+');
    char line[256];
    layout_describe(&out[0], line, sizeof(line));
    assert_non_null(strstr(line, "cfg "));
    assert_non_null(strstr(line, " = 16 ranks on 2 nodes x 8"));
    char map[1024];
    layout_describe_map(&out[0], 4, map, sizeof(map));
    assert_true(strncmp(map, "node 0: ranks 0-", 16) == 0);
}

static void test_json(void **state)
{
    (void)state;
    struct model_geom g = cogvideox_2b();
    struct model_grid gr = grid_cog();
    struct layout out[CAP];
    struct cluster_shape c = {.nodes = 1, .ranks_per_node = 4};
    plan_ok(&g, &gr, &c, out);
    cJSON *j = layout_to_json(&out[0]);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "world")->valuedouble, out[0].world);
    assert_int_equal(cJSON_GetObjectItem(j, "chunk")->valuedouble, (double)out[0].chunk);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "why")));
    cJSON_Delete(j);
}

static void test_make_forced(void **state)
{
    (void)state;
    struct model_geom g = wan_1_3b();
    struct model_grid gr = grid_wan480();
    struct cluster_shape c = {.nodes = 2, .ranks_per_node = 8};
    struct layout l;
    struct df_err err = {0};
    assert_int_equal(layout_make(&g, &gr, &c, NULL, 2, 4, 2, 8, &l, &err), 0);
    check_layout(&g, &gr, &c, &l);
    assert_int_equal(l.world, 16);
    assert_true(l.uly_intra);
    assert_true(l.cfg_inter);
    /* every (u, r, pad) combination the worker's parity tests need */
    struct cluster_shape cpu = {.nodes = 1, .ranks_per_node = 8, .device = LAYOUT_DEVICE_CPU};
    struct model_geom t = tiny();
    struct model_grid odd = grid_of(1, 3, 7, 0);
    for (int u = 1; u <= 4; u *= 2)
        for (int r = 1; u * r <= 8; r++) {
            assert_int_equal(layout_make(&t, &odd, &cpu, NULL, 1, u, r, 0, &l, &err), 0);
            check_layout_x(&t, &odd, &cpu, &l, 1);
        }
}

/* ---- bad input: exact messages -------------------------------------------- */

static void expect_fail(const struct model_geom *g, const struct model_grid *gr,
                        const struct cluster_shape *c, const struct layout_params *p, int code,
                        const char *msg)
{
    struct layout out[CAP];
    struct df_err err = {0};
    int n = -1;
    assert_int_equal(layout_plan(g, gr, c, p, out, CAP, &n, &err), code);
    assert_int_equal(n, 0);
    assert_string_equal(err.msg, msg);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct model_geom g = wan_1_3b();
    struct model_grid gr = grid_wan480();
    struct cluster_shape c = {.nodes = 0, .ranks_per_node = 8};
    expect_fail(&g, &gr, &c, NULL, DF_E_INVAL, "cluster: nodes must be >= 1 (got 0)");
    c = (struct cluster_shape){.nodes = 1, .ranks_per_node = -3};
    expect_fail(&g, &gr, &c, NULL, DF_E_INVAL, "cluster: GPUs per node must be >= 1 (got -3)");
    c.device = LAYOUT_DEVICE_CPU;
    c.ranks_per_node = 0;
    expect_fail(&g, &gr, &c, NULL, DF_E_INVAL, "cluster: CPU ranks per node must be >= 1 (got 0)");
    c = (struct cluster_shape){.nodes = 5000, .ranks_per_node = 8};
    expect_fail(&g, &gr, &c, NULL, DF_E_RANGE,
                "cluster: 5000 nodes is more than the planner supports (1024)");
    c = (struct cluster_shape){.nodes = 1000, .ranks_per_node = 1000};
    expect_fail(&g, &gr, &c, NULL, DF_E_RANGE,
                "cluster: 1000000 ranks (1000 nodes x 1000) is more than the planner "
                "supports (16384)");
    c = (struct cluster_shape){.nodes = 1, .ranks_per_node = 8, .cfg_branches = 3};
    expect_fail(&g, &gr, &c, NULL, DF_E_INVAL, "cluster: cfg_branches must be 1 or 2 (got 3)");

    c = (struct cluster_shape){.nodes = 1, .ranks_per_node = 8};
    struct model_geom headless = g;
    headless.num_heads = 0;
    expect_fail(&headless, &gr, &c, NULL, DF_E_INVAL,
                "model 'wan2.1-t2v-1.3b': no attention heads (num_heads = 0); the planner needs "
                "num_heads >= 1");
    struct model_grid empty = gr;
    empty.seq_len = 0;
    expect_fail(&g, &empty, &c, NULL, DF_E_INVAL, "shot has no tokens (seq_len = 0)");
    struct model_grid huge = gr;
    huge.seq_len = (int64_t)1 << 40;
    expect_fail(&g, &huge, &c, NULL, DF_E_RANGE,
                "shot has 1099511627776 tokens, more than the planner supports (16777216)");

    struct layout_params p;
    layout_params_default(LAYOUT_DEVICE_GPU, &p);
    p.bw_inter = 0;
    expect_fail(&g, &gr, &c, &p, DF_E_INVAL, "layout params: bw_inter must be > 0 (got 0)");

    /* 14B on 16 GB cards does not fit whatever the split */
    struct model_geom big = wan_14b();
    c.mem_per_rank = 16e9;
    struct layout out[CAP];
    struct df_err err = {0};
    int n;
    assert_int_equal(layout_plan(&big, &gr, &c, NULL, out, CAP, &n, &err), DF_E_RANGE);
    assert_non_null(strstr(err.msg, "model 'wan2.1-t2v-14b' does not fit: it needs at least"));
    assert_non_null(strstr(err.msg, "ranks have 14.9 GiB"));

    /* forcing a layout the heads forbid */
    c = (struct cluster_shape){.nodes = 1, .ranks_per_node = 8};
    struct layout l;
    assert_int_equal(layout_make(&g, &gr, &c, NULL, 1, 8, 1, 8, &l, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "layout cfg 1 x ulysses 8 x ring 1 on 8 per node (model "
                                 "'wan2.1-t2v-1.3b', 12 heads, 1 nodes x 8): ulysses must "
                                 "divide the attention heads");
    assert_int_equal(layout_make(&g, &gr, &c, NULL, 2, 4, 1, 8, &l, &err), 0);
    assert_int_equal(layout_rank_coords(&l, -1, &n, &n, &n, &err), DF_E_RANGE);
    assert_string_equal(err.msg, "rank -1 is outside the layout's 8 ranks");
    int64_t b, cnt;
    assert_int_equal(layout_token_range(&l, 8, &b, &cnt, &err), DF_E_RANGE);
    assert_int_equal(layout_rank_node(&l, 8), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cogvideox_counts),
        cmocka_unit_test(test_wan13_counts),
        cmocka_unit_test(test_wan14_counts),
        cmocka_unit_test(test_seven_gpus),
        cmocka_unit_test(test_prime_tokens),
        cmocka_unit_test(test_one_gpu),
        cmocka_unit_test(test_more_gpus_than_tokens),
        cmocka_unit_test(test_cpu_ranks),
        cmocka_unit_test(test_max_ranks),
        cmocka_unit_test(test_no_cfg_never_cfg2),
        cmocka_unit_test(test_alternatives_explained),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_make_forced),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
