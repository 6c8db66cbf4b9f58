/*
 * test_gpu_host.c -- the host-side logic of the GPU sequence-parallel path,
 * without a GPU (worker/comm/sp_plan.h):
 *   - Ulysses pack/unpack maps equal the host staging loops of usp_attn.c
 *     (the reference kept below), padding rows are zero, and unpack(pack(x))
 *     gives x back, over many layouts and ragged tails;
 *   - the ring plan visits every block once, alternates buffers, and passes
 *     the two-stream race checker; plans with a wait removed or a wait that
 *     can never be met are caught (the checker is not vacuous);
 *   - the fused ops the GPU runs in one pass (kern_norm_modulate,
 *     kern_qk_norm_rope, kern_linear_gelu) equal the plain ops bit for bit on
 *     the CPU reference, so the Wan forward's numerics did not move;
 *   - NCCL communicator ids of the four USP groups (comm_groups.c's split
 *     order and colors) differ between groups for every layout up to 64 ranks,
 *     and so do their PMIx keys (boot_key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "kern.h"
#include "sp_plan.h"

/* The staging loops of usp_attn.c's scatter_heads / gather_heads, verbatim
 * in meaning: the reference the maps must reproduce. */
static void ref_pack(const float *x, float *pack, int U, int64_t chunk, int H, int D,
                     int64_t s_local)
{
    const size_t hl = (size_t)(H / U) * D, row = (size_t)H * D;
    float *pad = calloc((size_t)chunk * row, sizeof *pad);
    memcpy(pad, x, (size_t)s_local * row * sizeof *pad);
    for (int j = 0; j < U; j++)
        for (int64_t t = 0; t < chunk; t++)
            memcpy(pack + ((size_t)j * chunk + t) * hl, pad + (size_t)t * row + (size_t)j * hl,
                   hl * sizeof *pack);
    free(pad);
}

static void ref_unpack(const float *pack, float *out, int U, int64_t chunk, int H, int D,
                       int64_t s_local)
{
    const size_t hl = (size_t)(H / U) * D, row = (size_t)H * D;
    for (int j = 0; j < U; j++)
        for (int64_t t = 0; t < s_local; t++)
            memcpy(out + (size_t)t * row + (size_t)j * hl, pack + ((size_t)j * chunk + t) * hl,
                   hl * sizeof *out);
}

static void fill(float *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 16777216.0f + 0.5f; /* never 0: padding shows */
    }
}

static void check_layout(int U, int64_t chunk, int H, int D, int64_t s_local)
{
    const size_t row = (size_t)H * D, n = (size_t)chunk * row;
    float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want);
    float *got = malloc(n * sizeof *got), *back = malloc(n * sizeof *back);
    float *ref_back = malloc(n * sizeof *ref_back);
    assert_non_null(x && want && got && back && ref_back);
    fill(x, n, (unsigned)(U * 131 + chunk * 7 + H + D + s_local));
    for (size_t i = 0; i < n; i++)
        got[i] = -1.0f, back[i] = ref_back[i] = -2.0f; /* poison */
    ref_pack(x, want, U, chunk, H, D, s_local);
    struct sp_copy map[SP_MAX_COPIES(8)];
    int nmap = 0;
    struct df_err err = {0};
    assert_int_equal(sp_ulysses_pack_map(U, chunk, H, D, s_local, map, &nmap, &err), 0);
    assert_true(nmap <= (int)SP_MAX_COPIES(U));
    for (int i = 0; i < nmap; i++)
        sp_copy_apply(got, x, &map[i]);
    assert_memory_equal(got, want, n * sizeof *got); /* every element written, padding 0 */
    assert_int_equal(sp_ulysses_unpack_map(U, chunk, H, D, s_local, map, &nmap, &err), 0);
    for (int i = 0; i < nmap; i++)
        sp_copy_apply(back, got, &map[i]);
    ref_unpack(want, ref_back, U, chunk, H, D, s_local);
    assert_memory_equal(back, ref_back, n * sizeof *back);
    assert_memory_equal(back, x, (size_t)s_local * row * sizeof *x); /* round trip */
    /* The same maps as backend ops (what a GPU rank queues on its stream). */
    kern_backend_t be;
    assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
    float *dx = kern_alloc(be, n, &err), *dp = kern_alloc(be, n, &err);
    assert_non_null(dx && dp);
    assert_int_equal(kern_upload(be, dx, x, n, &err), 0);
    for (size_t i = 0; i < n; i++)
        got[i] = -3.0f;
    assert_int_equal(kern_upload(be, dp, got, n, &err), 0);
    assert_int_equal(sp_ulysses_pack_map(U, chunk, H, D, s_local, map, &nmap, &err), 0);
    for (int i = 0; i < nmap; i++)
        assert_int_equal(sp_copy_on(be, dp, dx, &map[i], &err), 0);
    assert_int_equal(kern_download(be, got, dp, n, &err), 0);
    assert_memory_equal(got, want, n * sizeof *got);
    kern_release(be, dx);
    kern_release(be, dp);
    kern_backend_free(be);
    free(x), free(want), free(got), free(back), free(ref_back);
}

static void test_ulysses_maps(void **state)
{
    (void)state;
    const int Us[] = {1, 2, 4, 8};
    for (size_t u = 0; u < sizeof Us / sizeof Us[0]; u++)
        for (int64_t chunk = 1; chunk <= 9; chunk += 4)
            for (int64_t s = 0; s <= chunk; s++) {
                check_layout(Us[u], chunk, 8, 6, s);
                check_layout(Us[u], chunk, 16, 2, s);
            }
    check_layout(4, 33, 12, 128, 31); /* Wan-1.3B heads, ragged tail */
}

static void test_ulysses_map_errors(void **state)
{
    (void)state;
    struct sp_copy map[SP_MAX_COPIES(8)];
    int n = 0;
    struct df_err err = {0};
    assert_int_equal(sp_ulysses_pack_map(3, 4, 8, 2, 4, map, &n, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "8 heads"));
    df_err_clear(&err);
    assert_int_equal(sp_ulysses_pack_map(2, 4, 8, 2, 5, map, &n, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "outside"));
    assert_int_equal(sp_ulysses_unpack_map(0, 4, 8, 2, 1, map, &n, &err), DF_E_INVAL);
}

static void test_ring_plan(void **state)
{
    (void)state;
    struct sp_ring_step st[16];
    struct df_err err = {0};
    for (int r = 1; r <= 16; r++)
        for (int idx = 0; idx < r; idx++) {
            assert_int_equal(sp_ring_plan(r, idx, st, &err), 0);
            int seen = 0;
            for (int s = 0; s < r; s++) {
                assert_int_equal(st[s].buf, s & 1);
                assert_int_equal(st[s].sends, s < r - 1);
                seen |= 1 << st[s].block;
            }
            assert_int_equal(st[0].block, idx); /* own keys first: no wait for the ring */
            assert_int_equal(seen, (1 << r) - 1);
            if (sp_ring_plan_check(st, r, &err) != 0)
                fail_msg("ring %d rank %d: %s", r, idx, err.msg);
        }
    assert_int_equal(sp_ring_plan(4, 4, st, &err), DF_E_INVAL);
}

static void test_ring_plan_check_catches_races(void **state)
{
    (void)state;
    struct sp_ring_step st[8];
    struct df_err err = {0};
    /* The step-1 recv overwrites buffer 0 while step 0's attention may still read it. */
    assert_int_equal(sp_ring_plan(4, 1, st, &err), 0);
    st[1].comm_after_compute = 1;
    assert_int_equal(sp_ring_plan_check(st, 4, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "buffer 0"));
    /* Step 1 attends to buffer 1 before its keys have arrived. */
    df_err_clear(&err);
    assert_int_equal(sp_ring_plan(4, 1, st, &err), 0);
    st[1].compute_after_comm = 0;
    assert_int_equal(sp_ring_plan_check(st, 4, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "buffer 1"));
    /* The first send forwards buffer 0 before the prologue filled it. */
    df_err_clear(&err);
    assert_int_equal(sp_ring_plan(2, 0, st, &err), 0);
    st[0].comm_after_compute = 0;
    assert_int_equal(sp_ring_plan_check(st, 2, &err), DF_E_INVAL);
    /* A wait for an op queued later never ends. */
    df_err_clear(&err);
    assert_int_equal(sp_ring_plan(4, 0, st, &err), 0);
    st[2].comm_after_compute = 5;
    assert_int_equal(sp_ring_plan_check(st, 4, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "deadlock"));
}

/* comm_groups.c: splits of the world in this order, with these colors. */
static void group_ids(int cfg_idx, int ring_idx, int uly_idx, int U, int R, unsigned id[4])
{
    const int ur = U * R, w = cfg_idx * ur + ring_idx * U + uly_idx;
    const int colors[4] = {cfg_idx * R + ring_idx, cfg_idx * U + uly_idx, w % ur, cfg_idx};
    for (int k = 0; k < 4; k++)
        id[k] = sp_nccl_comm_id(SP_NCCL_WORLD_ID, (unsigned)k + 1, colors[k]);
}

static void test_nccl_ids(void **state)
{
    (void)state;
    struct df_err err = {0};
    for (int C = 1; C <= 2; C++)
        for (int U = 1; U <= 8; U *= 2)
            for (int R = 1; R <= 8; R *= 2) {
                /* (split, color) -> id: equal ids only for the same group */
                enum { MAXG = 4 * 64 };
                unsigned ids[MAXG];
                int keys[MAXG], n = 0;
                for (int c = 0; c < C; c++)
                    for (int r = 0; r < R; r++)
                        for (int u = 0; u < U; u++) {
                            unsigned id[4];
                            group_ids(c, r, u, U, R, id);
                            const int ur = U * R, w = c * ur + r * U + u;
                            const int colors[4] = {c * R + r, c * U + u, w % ur, c};
                            for (int k = 0; k < 4; k++) {
                                assert_true(id[k] & 1u);
                                assert_int_not_equal(id[k], SP_NCCL_WORLD_ID);
                                int group = k * 64 + colors[k], found = 0;
                                for (int i = 0; i < n; i++) {
                                    if (keys[i] == group) {
                                        assert_int_equal(ids[i], id[k]);
                                        found = 1;
                                    } else if (ids[i] == id[k]) {
                                        fail_msg("layout %dx%dx%d: groups %d and %d share NCCL "
                                                 "id %u", C, U, R, keys[i], group, id[k]);
                                    }
                                }
                                if (!found) {
                                    keys[n] = group;
                                    ids[n++] = id[k];
                                }
                            }
                        }
                /* the unique ids' PMIx keys differ as the ids do */
                for (int i = 0; i < n; i++)
                    for (int j = i + 1; j < n; j++) {
                        char a[BOOT_KEY_CAP], b[BOOT_KEY_CAP];
                        assert_int_equal(boot_key(a, "nccl", ids[i], 0, &err), 0);
                        assert_int_equal(boot_key(b, "nccl", ids[j], 0, &err), 0);
                        assert_string_not_equal(a, b);
                    }
            }
}

static void test_fused_ops_equal_plain_ops(void **state)
{
    (void)state;
    struct df_err err = {0};
    kern_backend_t be;
    assert_int_equal(kern_backend_create("cpu", 2, &be, &err), 0);
    enum { S = 37, H = 4, D = 16, DIM = H * D, N = 96 };
    float *x = malloc(S * DIM * sizeof *x), *a = malloc(S * N * sizeof *a);
    float *b = malloc(S * N * sizeof *b), *v = malloc((3 * DIM + N) * sizeof *v);
    float *cs = malloc(S * D / 2 * sizeof *cs), *sn = malloc(S * D / 2 * sizeof *sn);
    float *w = malloc(N * DIM * sizeof *w);
    assert_non_null(x && a && b && v && cs && sn && w);
    fill(x, S * DIM, 1), fill(v, 3 * DIM + N, 2), fill(cs, S * D / 2, 3), fill(sn, S * D / 2, 4);
    fill(w, N * DIM, 5);
    /* norm + modulation */
    assert_int_equal(kern_norm_modulate(be, x, a, S, DIM, 1e-6f, v, v + DIM, &err), 0);
    assert_int_equal(kern_layernorm(be, x, b, S, DIM, 1e-6f, NULL, NULL, &err), 0);
    assert_int_equal(kern_modulate(be, b, b, S, DIM, v, v + DIM, &err), 0);
    assert_memory_equal(a, b, S * DIM * sizeof *a);
    /* q/k RMSNorm + RoPE */
    memcpy(a, x, S * DIM * sizeof *a);
    memcpy(b, x, S * DIM * sizeof *b);
    assert_int_equal(kern_qk_norm_rope(be, a, S, H, D, 1e-6f, v + 2 * DIM, cs, sn, &err), 0);
    assert_int_equal(kern_rmsnorm(be, b, b, S, DIM, 1e-6f, v + 2 * DIM, &err), 0);
    assert_int_equal(kern_rope(be, b, S, H, D, cs, sn, &err), 0);
    assert_memory_equal(a, b, S * DIM * sizeof *a);
    assert_int_equal(kern_qk_norm_rope(be, a, S, H, 15, 1e-6f, NULL, cs, sn, &err), DF_E_INVAL);
    /* linear + GELU */
    struct kern_weight *kw = NULL;
    assert_int_equal(kern_weight_create(be, w, N, DIM, &kw, &err), 0);
    assert_int_equal(kern_linear_gelu(be, x, kw, v + 3 * DIM, a, S, DIM, N, &err), 0);
    assert_int_equal(kern_linear(be, x, kw, v + 3 * DIM, b, S, DIM, N, &err), 0);
    assert_int_equal(kern_gelu_tanh(be, b, b, (size_t)S * N, &err), 0);
    assert_memory_equal(a, b, S * N * sizeof *a);
    assert_int_equal(kern_linear_gelu(be, x, kw, NULL, a, S, DIM + 1, N, &err), DF_E_INVAL);
    kern_weight_free(be, kw);
    kern_backend_free(be);
    free(x), free(a), free(b), free(v), free(cs), free(sn), free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ulysses_maps),
        cmocka_unit_test(test_ulysses_map_errors),
        cmocka_unit_test(test_ring_plan),
        cmocka_unit_test(test_ring_plan_check_catches_races),
        cmocka_unit_test(test_nccl_ids),
        cmocka_unit_test(test_fused_ops_equal_plain_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
