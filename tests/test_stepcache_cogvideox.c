/*
 * test_stepcache_cogvideox.c -- TeaCache for CogVideoX against the
 * reference (tests/fixtures/make_cogvideox_teacache.py, diffusers modules on
 * the tiny 2b / 5b / 15 fixtures): the family's compared vector e is emb
 * (time embedding + ofs embedding) within fp32 rounding, the family's
 * polynomial rescales each step's rel-L1 as numpy.poly1d does with the
 * published coefficients, and the planned mask makes the reference's online
 * decisions for every threshold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "family.h"
#include "kern.h"
#include "safetensors.h"
#include "stepcache.h"

#define N_TAUS 3

static double *read_f64(const struct safetensors *st, const char *name, int64_t *n)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    if (!t)
        fail_msg("no tensor %s", name);
    float *f = malloc((size_t)t->numel * sizeof *f);
    double *d = malloc((size_t)t->numel * sizeof *d);
    assert_non_null(f);
    assert_non_null(d);
    if (t->dtype == SAFETENSORS_DTYPE_F64) {
        memcpy(d, t->data, (size_t)t->numel * sizeof *d); /* little-endian host */
    } else {
        struct df_err err = {0};
        assert_int_equal(safetensors_to_f32(t, f, (size_t)t->numel, &err), 0);
        for (int64_t i = 0; i < t->numel; i++)
            d[i] = f[i];
    }
    free(f);
    *n = t->numel;
    return d;
}

/* Reserve the smallest legal forward: planning needs the time buffers only. */
static void reserve_small(family_model_t *fm, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
    struct safetensors *in;
    struct df_err err = {0};
    if (safetensors_open(path, &in, &err) < 0)
        fail_msg("%s", err.msg);
    const struct safetensors_tensor *hs = safetensors_find(in, "hidden_states");
    const struct safetensors_tensor *txt = safetensors_find(in, "encoder_hidden_states");
    assert_non_null(hs);
    assert_non_null(txt);
    struct family_shape sh = {.frames = (int)hs->shape[1], .height = (int)hs->shape[3],
                              .width = (int)hs->shape[4], .text_len = (int)txt->shape[1]};
    safetensors_close(in);
    if (family_reserve(fm, &sh, &err) < 0)
        fail_msg("reserve: %s", err.msg);
}

static void check_one(const char *name)
{
    char dir[2048], path[2200];
    snprintf(dir, sizeof dir, "%s/cogvideox/%s", DF_TEST_DATA, name);
    snprintf(path, sizeof path, "%s/cogvideox/teacache/%s.safetensors", DF_TEST_DATA, name);
    struct df_err err = {0};
    kern_backend_t be;
    assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
    family_model_t *fm;
    if (family_load(be, dir, &fm, &err) < 0)
        fail_msg("%s", err.msg);
    reserve_small(fm, dir);
    struct family_info fi;
    family_info(fm, &fi);
    assert_true(fi.has_time_embed);
    assert_int_equal(fi.time_mod_dim, 0);
    struct safetensors *ref;
    if (safetensors_open(path, &ref, &err) < 0)
        fail_msg("%s", err.msg);
    int64_t steps, ne, nr;
    double *ts = read_f64(ref, "timesteps", &steps);
    double *emb = read_f64(ref, "emb", &ne);
    double *rescaled = read_f64(ref, "rescaled", &nr);
    const int te = fi.time_embed_dim;
    assert_int_equal(ne, steps * te);
    assert_int_equal(nr, steps);

    /* e = emb, every step */
    float *e = calloc((size_t)te * 2, sizeof *e);
    double worst = 0;
    for (int64_t i = 0; i < steps; i++) {
        float *cur = e + (i & 1) * te, *prev = e + !(i & 1) * te;
        assert_int_equal(family_time_embed(fm, (float)ts[i], cur, NULL, &err), 0);
        double num = 0, den = 0;
        for (int k = 0; k < te; k++) {
            num += pow(cur[k] - emb[i * te + k], 2);
            den += pow(emb[i * te + k], 2);
        }
        worst = fmax(worst, sqrt(num / den));
        /* the polynomial on this rel-L1, as the reference rescales it */
        if (i == 0 || i == steps - 1)
            continue;
        double dn = 0, dd = 0;
        for (int k = 0; k < te; k++) {
            dn += fabs((double)cur[k] - prev[k]);
            dd += fabs((double)prev[k]);
        }
        double c[STEPCACHE_POLY_TERMS];
        const char *src;
        assert_int_equal(family_teacache_poly(fm, c, &src), 1);
        const double got = stepcache_poly_eval(c, dn / dd);
        if (fabs(got - rescaled[i]) > 1e-4 * fmax(1.0, fabs(rescaled[i])))
            fail_msg("%s step %lld: rescaled %.9g, reference %.9g", name, (long long)i, got,
                     rescaled[i]);
    }
    printf("%s: emb rel L2 %.2e over %lld steps\n", name, worst, (long long)steps);
    assert_true(worst < 1e-5);

    /* the planned mask = the reference's online decisions */
    for (int k = 0; k < N_TAUS; k++) {
        char tn[32], cn[32];
        snprintf(tn, sizeof tn, "tau_%d", k);
        snprintf(cn, sizeof cn, "compute_%d", k);
        int64_t one, nc;
        double *tau = read_f64(ref, tn, &one);
        double *want = read_f64(ref, cn, &nc);
        struct stepcache_calib cal = {0};
        const char *src;
        cal.has_poly[CACHE_MODE_E] = family_teacache_poly(fm, cal.poly[CACHE_MODE_E], &src);
        struct shot_cache pol = {.policy = CACHE_POLICY_TEACACHE, .threshold = *tau,
                                 .mode = CACHE_MODE_E};
        float *tf = malloc((size_t)steps * sizeof *tf);
        for (int64_t i = 0; i < steps; i++)
            tf[i] = (float)ts[i];
        struct stepcache_plan_in in = {.policy = &pol, .calib = &cal, .sampler = "cogvideox_dpm",
                                       .steps = (int)steps, .timesteps = tf, .guided = 1,
                                       .tau = *tau, .tau_source = "test",
                                       .time_embed = stepcache_family_time_embed, .user = fm,
                                       .dim = te, .e0_dim = 0};
        struct stepcache_mask mask;
        if (stepcache_plan(&in, &mask, &err) < 0)
            fail_msg("plan: %s", err.msg);
        int computed = 0;
        for (int64_t i = 0; i < steps; i++) {
            const int c = stepcache_mask_action(&mask, (int)i, STEPCACHE_BRANCH_COND) ==
                          STEPCACHE_ACTION_COMPUTE;
            const int u = stepcache_mask_action(&mask, (int)i, STEPCACHE_BRANCH_UNCOND) ==
                          STEPCACHE_ACTION_COMPUTE;
            assert_int_equal(c, u); /* one decision per step, as the batch of two */
            if (c != (want[i] != 0))
                fail_msg("%s tau %g step %lld: plan %s, reference %s", name, *tau, (long long)i,
                         c ? "computes" : "skips", want[i] != 0 ? "computes" : "skips");
            computed += c;
        }
        printf("%s tau %g: %d/%lld steps compute\n", name, *tau, computed, (long long)steps);
        stepcache_mask_free(&mask);
        free(tf);
        free(tau);
        free(want);
    }
    free(ts);
    free(emb);
    free(rescaled);
    free(e);
    safetensors_close(ref);
    family_free(fm);
    kern_backend_free(be);
}

static void test_2b(void **state)
{
    (void)state;
    check_one("2b");
}

static void test_5b(void **state)
{
    (void)state;
    check_one("5b");
}

static void test_15(void **state)
{
    (void)state;
    check_one("15");
}

/* The published coefficients, picked by the positional scheme as the
 * reference picks them by use_rotary_positional_embeddings. */
static void test_poly_choice(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        double c0, c4;
    } want[] = {{"2b", -3.10658903e+01, -3.61568434e-03},
                {"5b", -1.53880483e+03, -5.23162339e-02},
                {"15", -1.53880483e+03, -5.23162339e-02}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/cogvideox/%s", DF_TEST_DATA, want[i].name);
        struct df_err err = {0};
        kern_backend_t be;
        assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
        family_model_t *fm;
        assert_int_equal(family_load(be, dir, &fm, &err), 0);
        double c[STEPCACHE_POLY_TERMS];
        const char *src;
        assert_int_equal(family_teacache_poly(fm, c, &src), 1);
        assert_non_null(src);
        assert_true(c[0] == want[i].c0 && c[4] == want[i].c4);
        family_free(fm);
        kern_backend_free(be);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poly_choice),
        cmocka_unit_test(test_2b),
        cmocka_unit_test(test_5b),
        cmocka_unit_test(test_15),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
