/* test_sampler.c -- worker/sampler/ (samplers and cfg.c): trajectories against
 * diffusers (tests/data/sampler, made by tests/fixtures/make_sampler_fixtures.py),
 * shard independence, checkpoint state (same and different sharding), and
 * the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "noise.h"
#include "sampler.h"

#define TRAJ_TOL 1e-4 /* relative L2 per step, the acceptance bound */

/* ------------------------------------------------------------------------ */
/* The fake model (same as make_sampler_fixtures.py)                          */
/* ------------------------------------------------------------------------ */

struct fake {
    size_t offset; /* global index of latent[0] */
    size_t n;
    int num_train;
    float guidance;
    float *cond, *uncond; /* [n] scratch */
};

static void fake_branches(const struct fake *f, const float *x, float t, float *cond, float *uncond)
{
    const double tau = (double)t / f->num_train;
    for (size_t i = 0; i < f->n; i++) {
        const double j = (double)(f->offset + i), xd = x[i];
        const double a = 0.8 * sin(0.37 * j + 0.1);
        cond[i] = (float)(1.1 * xd - a + 0.2 * tau * cos(0.05 * j) + 0.1 * tanh(xd));
        uncond[i] = (float)(0.9 * xd - 0.5 * a);
    }
}

static int fake_model(void *user, const float *latent, float t, float *velocity, struct df_err *err)
{
    (void)err;
    struct fake *f = user;
    fake_branches(f, latent, t, f->cond, f->uncond);
    cfg_combine(f->cond, f->uncond, f->guidance, f->n, velocity);
    return 0;
}

static struct fake fake_make(size_t offset, size_t n, int num_train, float g)
{
    struct fake f = {
        offset, n, num_train, g, malloc((n + 1) * sizeof(float)), malloc((n + 1) * sizeof(float))};
    assert_non_null(f.cond);
    assert_non_null(f.uncond);
    return f;
}

static void fake_free(struct fake *f)
{
    free(f->cond);
    free(f->uncond);
}

/* ------------------------------------------------------------------------ */
/* Fixture cases                                                              */
/* ------------------------------------------------------------------------ */

struct fixture_case {
    char name[64], kind[16], solver[8], final[16];
    int steps, num_train, order, lof;
    double shift, guidance;
    unsigned long long seed, disable_corrector;
    size_t n;
};

static float *read_f32(const char *path, size_t count)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    float *buf = malloc(count * sizeof *buf);
    assert_non_null(buf);
    unsigned char raw[4];
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(fread(raw, 1, 4, fp), 4);
        const uint32_t bits = (uint32_t)raw[0] | (uint32_t)raw[1] << 8 | (uint32_t)raw[2] << 16 |
                              (uint32_t)raw[3] << 24;
        memcpy(&buf[i], &bits, 4);
    }
    assert_int_equal(fgetc(fp), EOF); /* exactly the expected size */
    fclose(fp);
    return buf;
}

static void config_of(const struct fixture_case *c, struct sampler_config *cfg)
{
    enum sampler_kind kind;
    assert_int_equal(sampler_kind_from_name(c->kind, &kind, NULL), 0);
    sampler_config_init(cfg, kind);
    cfg->steps = c->steps;
    cfg->shift = c->shift;
    cfg->num_train_timesteps = c->num_train;
    cfg->solver_order = c->order;
    cfg->lower_order_final = c->lof != 0;
    cfg->disable_corrector = c->disable_corrector;
    assert_int_equal(sampler_solver_from_name(c->solver, &cfg->solver, NULL), 0);
    assert_int_equal(sampler_final_sigma_from_name(c->final, &cfg->final_sigma, NULL), 0);
}

static double rel_l2(const float *got, const float *want, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* Returns the worst relative L2 over the trajectory. */
static double run_fixture_case(const struct fixture_case *c)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/sampler/%s.f32", DF_TEST_DATA, c->name);
    const size_t count = (size_t)c->steps + (size_t)(c->steps + 1) * c->n;
    float *data = read_f32(path, count);
    const float *want_t = data, *want_x = data + c->steps;

    /* The fixture's initial latent was drawn by the numpy twin of noise.c. */
    float *x = malloc(c->n * sizeof *x);
    assert_non_null(x);
    noise_fill(c->seed, 0, c->n, x);
    assert_memory_equal(x, want_x, c->n * sizeof *x);

    struct sampler_config cfg;
    config_of(c, &cfg);
    struct df_err err = {0};
    sampler_t s = NULL;
    assert_int_equal(sampler_create(&cfg, 0, c->n, c->n, &s, &err), 0);
    struct fake f = fake_make(0, c->n, c->num_train, (float)c->guidance);
    float *v = malloc(c->n * sizeof *v);
    assert_non_null(v);

    double worst = 0;
    for (int i = 0; i < c->steps; i++) {
        const float t = sampler_timestep(s, i);
        if (t != want_t[i])
            fail_msg("%s: step %d timestep %.9g, diffusers %.9g", c->name, i, (double)t,
                     (double)want_t[i]);
        assert_int_equal(fake_model(&f, x, t, v, &err), 0);
        assert_int_equal(sampler_step(s, i, v, x, c->n, &err), 0);
        const double r = rel_l2(x, want_x + (size_t)(i + 1) * c->n, c->n);
        if (!(r <= TRAJ_TOL))
            fail_msg("%s: step %d relative L2 %.3g > %g", c->name, i, r, TRAJ_TOL);
        worst = fmax(worst, r);
    }
    assert_int_equal(sampler_next_step(s), c->steps);
    fake_free(&f);
    free(v);
    free(x);
    free(data);
    sampler_free(s);
    return worst;
}

static void test_trajectories_match_diffusers(void **state)
{
    (void)state;
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s/sampler/cases.txt", DF_TEST_DATA);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    int ncases = 0;
    double worst[SAMPLER_KIND_COUNT] = {0};
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#')
            continue;
        struct fixture_case c;
        memset(&c, 0, sizeof c);
        const int got = sscanf(line, "%63s %15s %d %lf %d %d %7s %d %15s %llu %zu %lf %llu", c.name,
                               c.kind, &c.steps, &c.shift, &c.num_train, &c.order, c.solver, &c.lof,
                               c.final, &c.seed, &c.n, &c.guidance, &c.disable_corrector);
        assert_int_equal(got, 13);
        const double r = run_fixture_case(&c);
        enum sampler_kind k;
        assert_int_equal(sampler_kind_from_name(c.kind, &k, NULL), 0);
        worst[k] = fmax(worst[k], r);
        ncases++;
    }
    fclose(fp);
    assert_true(ncases >= 30);
    print_message("sampler: %d diffusers trajectories match; worst relative L2 euler %.3g, "
                  "unipc %.3g (tolerance %g)\n",
                  ncases, worst[SAMPLER_KIND_EULER], worst[SAMPLER_KIND_UNIPC], TRAJ_TOL);
}

/* ------------------------------------------------------------------------ */
/* Sharding and checkpoint state                                              */
/* ------------------------------------------------------------------------ */

enum { TOTAL = 301 };

struct shard {
    size_t off, n;
    sampler_t s;
    struct fake f;
    float *v;
};

static void shard_open(struct shard *sh, const struct sampler_config *cfg, size_t off, size_t n)
{
    struct df_err err = {0};
    sh->off = off, sh->n = n;
    assert_int_equal(sampler_create(cfg, off, n, TOTAL, &sh->s, &err), 0);
    sh->f = fake_make(off, n, cfg->num_train_timesteps, 5.0f);
    sh->v = malloc((n + 1) * sizeof(float));
    assert_non_null(sh->v);
}

static void shard_close(struct shard *sh)
{
    sampler_free(sh->s);
    fake_free(&sh->f);
    free(sh->v);
}

/* Steps [from, to) on every shard of the global latent x. */
static void shards_run(struct shard *sh, int nsh, float *x, int from, int to)
{
    struct df_err err = {0};
    for (int i = from; i < to; i++) {
        for (int k = 0; k < nsh; k++) {
            const float t = sampler_timestep(sh[k].s, i);
            assert_int_equal(fake_model(&sh[k].f, x + sh[k].off, t, sh[k].v, &err), 0);
            assert_int_equal(sampler_step(sh[k].s, i, sh[k].v, x + sh[k].off, sh[k].n, &err), 0);
        }
    }
}

static void sample_whole(const struct sampler_config *cfg, float *x)
{
    struct shard whole;
    noise_fill(99, 0, TOTAL, x);
    shard_open(&whole, cfg, 0, TOTAL);
    shards_run(&whole, 1, x, 0, cfg->steps);
    shard_close(&whole);
}

static void configs_for_sharding(struct sampler_config cfgs[3])
{
    sampler_config_init(&cfgs[0], SAMPLER_KIND_UNIPC);
    cfgs[0].steps = 9, cfgs[0].shift = 5.0;
    cfgs[1] = cfgs[0];
    cfgs[1].solver_order = 3;
    sampler_config_init(&cfgs[2], SAMPLER_KIND_EULER);
    cfgs[2].steps = 6;
}

/* Three uneven shards (one of a single element, one empty) = the whole. */
static void test_uneven_shards_bitwise(void **state)
{
    (void)state;
    struct sampler_config cfgs[3];
    configs_for_sharding(cfgs);
    static const size_t cuts[] = {0, 137, 138, 138, TOTAL};
    for (int c = 0; c < 3; c++) {
        float whole[TOTAL], sharded[TOTAL];
        sample_whole(&cfgs[c], whole);
        struct shard sh[4];
        noise_fill(99, 0, TOTAL, sharded);
        for (int k = 0; k < 4; k++)
            shard_open(&sh[k], &cfgs[c], cuts[k], cuts[k + 1] - cuts[k]);
        shards_run(sh, 4, sharded, 0, cfgs[c].steps);
        for (int k = 0; k < 4; k++)
            shard_close(&sh[k]);
        assert_memory_equal(whole, sharded, sizeof whole);
    }
}

/* Save the blob mid-run, load it into a fresh sampler, finish: bitwise equal. */
static void test_state_blob_resume(void **state)
{
    (void)state;
    struct sampler_config cfgs[3];
    configs_for_sharding(cfgs);
    for (int c = 0; c < 3; c++) {
        float whole[TOTAL], x[TOTAL];
        sample_whole(&cfgs[c], whole);
        struct shard a, b;
        struct df_err err = {0};
        noise_fill(99, 0, TOTAL, x);
        shard_open(&a, &cfgs[c], 0, TOTAL);
        shards_run(&a, 1, x, 0, 4);
        const size_t size = sampler_state_size(a.s);
        unsigned char *blob = malloc(size);
        size_t written = 0;
        assert_int_equal(sampler_state_save(a.s, blob, size - 1, &written, &err), DF_E_RANGE);
        assert_int_equal(sampler_state_save(a.s, blob, size, &written, &err), 0);
        assert_int_equal(written, size);
        shard_close(&a);

        shard_open(&b, &cfgs[c], 0, TOTAL);
        assert_int_equal(sampler_state_load(b.s, blob, size - 4, &err), DF_E_CORRUPT);
        assert_int_equal(sampler_state_load(b.s, blob, size, &err), 0);
        assert_int_equal(sampler_next_step(b.s), 4);
        shards_run(&b, 1, x, 4, cfgs[c].steps);
        shard_close(&b);
        assert_memory_equal(whole, x, sizeof x);

        /* The same blob refuses another shard or another config. */
        struct shard other;
        shard_open(&other, &cfgs[c], 1, TOTAL - 1);
        assert_int_equal(sampler_state_load(other.s, blob, size, &err), DF_E_INVAL);
        assert_non_null(strstr(err.msg, "shard offset"));
        shard_close(&other);
        struct sampler_config cfg2 = cfgs[c];
        cfg2.shift += 0.5;
        shard_open(&other, &cfg2, 0, TOTAL);
        assert_int_equal(sampler_state_load(other.s, blob, size, &err), DF_E_INVAL);
        assert_non_null(strstr(err.msg, "shift"));
        blob[0] ^= 1;
        assert_int_equal(sampler_state_load(other.s, blob, size, &err), DF_E_CORRUPT);
        shard_close(&other);
        free(blob);
    }
}

/* Checkpoint on 2 ranks, resume on 3: gather the history tensors to global
 * extent, scatter into the new shards, finish -- equal to never stopping. */
static void test_state_reshard_resume(void **state)
{
    (void)state;
    struct sampler_config cfgs[3];
    configs_for_sharding(cfgs);
    for (int c = 0; c < 3; c++) {
        float whole[TOTAL], x[TOTAL];
        sample_whole(&cfgs[c], whole);
        noise_fill(99, 0, TOTAL, x);

        struct shard two[2];
        shard_open(&two[0], &cfgs[c], 0, 150);
        shard_open(&two[1], &cfgs[c], 150, TOTAL - 150);
        shards_run(two, 2, x, 0, 5);
        struct sampler_scalars sc;
        sampler_scalars_get(two[0].s, &sc);
        const int nhist = sampler_history_count(two[0].s);
        assert_int_equal(nhist, cfgs[c].kind == SAMPLER_KIND_EULER ? 0 : cfgs[c].solver_order + 1);
        float *global = calloc((size_t)(nhist + 1) * TOTAL, sizeof(float));
        for (int k = 0; k < nhist; k++)
            for (int r = 0; r < 2; r++)
                memcpy(global + (size_t)k * TOTAL + two[r].off, sampler_history(two[r].s, k),
                       two[r].n * sizeof(float));
        if (nhist)
            assert_string_equal(sampler_history_name(two[0].s, nhist - 1), "last_sample");
        shard_close(&two[0]);
        shard_close(&two[1]);

        struct shard three[3];
        static const size_t cuts[] = {0, 100, 201, TOTAL};
        struct df_err err = {0};
        for (int r = 0; r < 3; r++) {
            shard_open(&three[r], &cfgs[c], cuts[r], cuts[r + 1] - cuts[r]);
            assert_int_equal(sampler_scalars_set(three[r].s, &sc, &err), 0);
            for (int k = 0; k < nhist; k++)
                memcpy(sampler_history(three[r].s, k), global + (size_t)k * TOTAL + cuts[r],
                       three[r].n * sizeof(float));
        }
        shards_run(three, 3, x, 5, cfgs[c].steps);
        for (int r = 0; r < 3; r++)
            shard_close(&three[r]);
        free(global);
        assert_memory_equal(whole, x, sizeof x);
    }
}

static int failing_model(void *user, const float *latent, float t, float *velocity,
                         struct df_err *err)
{
    int *calls = user;
    (void)latent, (void)velocity;
    if (++*calls == 3)
        return df_err_set(err, DF_E_COMM, "peer lost at t=%g", (double)t);
    return 0;
}

/* sampler_run = the hand-written loop; a model error stops it with context. */
static void test_run_loop(void **state)
{
    (void)state;
    struct sampler_config cfgs[3];
    configs_for_sharding(cfgs);
    float whole[TOTAL], x[TOTAL];
    sample_whole(&cfgs[1], whole);
    noise_fill(99, 0, TOTAL, x);
    struct shard sh;
    struct df_err err = {0};
    shard_open(&sh, &cfgs[1], 0, TOTAL);
    assert_int_equal(sampler_run(sh.s, fake_model, &sh.f, x, &err), 0);
    assert_memory_equal(whole, x, sizeof x);
    assert_int_equal(sampler_run(sh.s, fake_model, &sh.f, x, &err), 0); /* nothing left */
    shard_close(&sh);

    int calls = 0;
    shard_open(&sh, &cfgs[1], 0, TOTAL);
    assert_int_equal(sampler_run(sh.s, failing_model, &calls, x, &err), DF_E_COMM);
    assert_int_equal(sampler_next_step(sh.s), 2);
    assert_non_null(strstr(err.msg, "sampler step 2/9"));
    assert_non_null(strstr(err.msg, "peer lost"));
    shard_close(&sh);
}

/* ------------------------------------------------------------------------ */
/* Schedules, names, errors, CFG                                              */
/* ------------------------------------------------------------------------ */

static void test_wan_schedule(void **state)
{
    (void)state;
    struct sampler_config cfg;
    sampler_config_init(&cfg, SAMPLER_KIND_UNIPC);
    cfg.steps = 50;
    sampler_t s = NULL;
    assert_int_equal(sampler_create(&cfg, 0, 4, 4, &s, NULL), 0);
    /* Wan2.1 480p, 50 steps: first timestep 999, sigmas fall to 0. */
    assert_true(sampler_timestep(s, 0) == 999.0f);
    assert_true(sampler_sigma(s, 50) == 0.0f);
    for (int i = 0; i < 50; i++)
        assert_true(sampler_sigma(s, i) > sampler_sigma(s, i + 1));
    assert_true(isnan(sampler_timestep(s, 50)));
    assert_int_equal(sampler_get_config(s)->steps, 50);
    assert_true(isnan(sampler_sigma(s, 51)));
    sampler_free(s);
}

static void test_names(void **state)
{
    (void)state;
    struct df_err err = {0};
    for (int k = 0; k < SAMPLER_KIND_COUNT; k++) {
        enum sampler_kind back;
        assert_int_equal(sampler_kind_from_name(sampler_kind_name(k), &back, &err), 0);
        assert_int_equal(back, k);
    }
    enum sampler_kind kind;
    assert_int_equal(sampler_kind_from_name("ddim", &kind, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "unknown sampler 'ddim' (expected one of: euler, unipc, cogvideox_ddim, cogvideox_dpm)");
    assert_string_equal(sampler_kind_name(SAMPLER_KIND_COUNT), "?");
    assert_string_equal(sampler_solver_name(SAMPLER_SOLVER_BH2), "bh2");
    assert_string_equal(sampler_final_sigma_name(SAMPLER_FINAL_SIGMA_MIN), "sigma_min");
}

static void expect_create_error(const struct sampler_config *cfg, int code, const char *needle)
{
    struct df_err err = {0};
    sampler_t s = (sampler_t)1;
    assert_int_equal(sampler_create(cfg, 0, 8, 8, &s, &err), code);
    assert_null(s);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_bad_configs(void **state)
{
    (void)state;
    struct sampler_config good, c;
    sampler_config_init(&good, SAMPLER_KIND_UNIPC);
    c = good, c.steps = 0;
    expect_create_error(&c, DF_E_RANGE, "steps 0");
    c = good, c.shift = 0.0;
    expect_create_error(&c, DF_E_RANGE, "shift");
    c = good, c.shift = NAN;
    expect_create_error(&c, DF_E_RANGE, "shift");
    c = good, c.solver_order = SAMPLER_MAX_ORDER + 1;
    expect_create_error(&c, DF_E_RANGE, "solver_order");
    c = good, c.solver = SAMPLER_SOLVER_BH1;
    expect_create_error(&c, DF_E_INVAL, "bh1");
    c = good, c.lower_order_final = false;
    expect_create_error(&c, DF_E_INVAL, "lower_order_final");
    c = good, c.kind = SAMPLER_KIND_COUNT;
    expect_create_error(&c, DF_E_INVAL, "kind");

    struct df_err err = {0};
    sampler_t s = NULL;
    assert_int_equal(sampler_create(&good, 5, 4, 8, &s, &err), DF_E_RANGE);
    assert_int_equal(sampler_create(&good, 4, 4, 8, &s, &err), 0);
    float v[4] = {0}, x[4] = {0};
    assert_int_equal(sampler_step(s, 1, v, x, 4, &err), DF_E_INVAL); /* out of order */
    assert_non_null(strstr(err.msg, "next step is 0"));
    assert_int_equal(sampler_step(s, 0, v, x, 3, &err), DF_E_INVAL); /* wrong shard size */
    assert_int_equal(sampler_step(s, 0, v, x, 4, &err), 0);

    struct sampler_scalars sc;
    sampler_scalars_get(s, &sc);
    sc.n_model_outputs = 2;
    assert_int_equal(sampler_scalars_set(s, &sc, &err), DF_E_CORRUPT);
    sampler_free(s);
    sampler_free(NULL);
}

static void test_cfg_combine(void **state)
{
    (void)state;
    const float cond[3] = {1.0f, -2.0f, 0.5f}, uncond[3] = {0.5f, 1.0f, 0.5f};
    float out[3], alias[3];
    cfg_combine(cond, uncond, 5.0f, 3, out);
    assert_true(out[0] == 3.0f && out[1] == -14.0f && out[2] == 0.5f);
    memcpy(alias, cond, sizeof alias);
    cfg_combine(alias, uncond, 5.0f, 3, alias);
    assert_memory_equal(alias, out, sizeof out);
    cfg_combine(cond, uncond, 1.0f, 3, out);
    assert_memory_equal(out, cond, sizeof out);
    struct shot s = {.guidance_scale = 5.0};
    assert_true(shot_guided(&s));
    s.guidance_scale = 1.0;
    assert_false(shot_guided(&s));
    s.guidance_scale = 1.00000005; /* 1.0f as the worker combines it: unguided everywhere */
    assert_false(shot_guided(&s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trajectories_match_diffusers),
        cmocka_unit_test(test_uneven_shards_bitwise),
        cmocka_unit_test(test_state_blob_resume),
        cmocka_unit_test(test_state_reshard_resume),
        cmocka_unit_test(test_run_loop),
        cmocka_unit_test(test_wan_schedule),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_cfg_combine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
