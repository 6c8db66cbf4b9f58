/* test_cogvideox_sample.c -- the CogVideoX schedulers (worker/sampler/
 * sampler_cogvideox.c) against CogVideoXPipeline trajectories, and their
 * state: shards, checkpoints, refusals.
 *
 * Fixtures tests/data/cogvideox/sample_<cfg>/ (make_cogvideox_fixtures.py):
 * the pipeline's timesteps and latents after every step for a tiny model,
 * with the DPM scheduler's noise draws recorded in order.  Here the loop is
 * driven directly (model + sampler, batch of two as uncond/cond forwards);
 * tests/integration/sample_cli.sh runs the same through `ditfarm-worker
 * sample`.
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

#include "cogvideox_model.h"
#include "kern.h"
#include "safetensors.h"
#include "sampler.h"
#include "sampler_json.h"

static float *read_all(const struct safetensors *st, const char *name, size_t *n_out)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    if (!t)
        return NULL;
    float *buf = malloc((size_t)t->numel * sizeof *buf);
    assert_non_null(buf);
    assert_int_equal(safetensors_to_f32(t, buf, (size_t)t->numel, NULL), 0);
    if (n_out)
        *n_out = (size_t)t->numel;
    return buf;
}

static double rel_l2(const float *got, const float *want, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)got[i] - want[i];
        num += e * e, den += (double)want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* Noise draws from a fixture's in.safetensors, sliced for the shard. */
struct draws {
    const struct safetensors *in;
    sampler_t smp;
    size_t total;
};

static int draw_fn(void *user, int step, int draw, size_t offset, size_t n, float *dst,
                   struct df_err *err)
{
    struct draws *d = user;
    int k = draw;
    for (int i = 0; i < step; i++)
        k += sampler_noise_draws(d->smp, i);
    char name[32];
    snprintf(name, sizeof name, "noise_draw_%d", k);
    float *all = read_all(d->in, name, NULL);
    DF_FAIL_IF(!all, err, DF_E_NOTFOUND, "no %s", name);
    memcpy(dst, all + offset, n * sizeof *dst);
    free(all);
    return 0;
}

static void sched_config(const char *dir, int steps, struct sampler_config *c)
{
    char path[700];
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
    struct df_err err = {0};
    if (sampler_config_load_json(path, c, &err) < 0)
        fail_msg("%s", err.msg);
    c->steps = steps;
}

/* The pipeline's loop on the fixture: uncond and cond forwards, (dynamic)
 * guidance, scheduler step; every step's latents compared. */
static void check_trajectory(const char *cfg, int steps, int dynamic)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/cogvideox/sample_%s", DF_TEST_DATA, cfg);
    struct safetensors *in, *ex;
    struct df_err err = {0};
    snprintf(path, sizeof path, "%s/in.safetensors", dir);
    assert_int_equal(safetensors_open(path, &in, &err), 0);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    assert_int_equal(safetensors_open(path, &ex, &err), 0);
    kern_backend_t be;
    assert_int_equal(kern_backend_create("cpu", 0, &be, &err), 0);
    struct cogvideox_model *m;
    snprintf(path, sizeof path, "%s/transformer", dir);
    if (cogvideox_model_load(be, path, &m, &err) < 0)
        fail_msg("%s", err.msg);
    const struct safetensors_tensor *tn = safetensors_find(in, "noise");
    const struct safetensors_tensor *tc = safetensors_find(in, "cond");
    struct cogvideox_shape sh = {.frames = (int)tn->shape[1], .height = (int)tn->shape[3],
                                 .width = (int)tn->shape[4], .text_len = (int)tc->shape[1]};
    assert_int_equal(cogvideox_model_reserve(m, &sh, &err), 0);
    size_t n = 0;
    float *lat = read_all(in, "noise", &n), *cond = read_all(in, "cond", NULL);
    float *unc = read_all(in, "uncond", NULL), *g = read_all(in, "guidance_scale", NULL);
    float *oc = malloc(n * sizeof *oc), *ou = malloc(n * sizeof *ou);
    struct sampler_config sc;
    sched_config(dir, steps, &sc);
    sampler_t smp;
    assert_int_equal(sampler_create(&sc, 0, n, n, &smp, &err), 0);
    struct draws d = {in, smp, n};
    sampler_set_noise(smp, draw_fn, &d);
    float *want_t = read_all(ex, "timesteps", NULL);
    double worst = 0;
    for (int i = 0; i < steps; i++) {
        const float t = sampler_timestep(smp, i);
        assert_true(t == want_t[i]);
        assert_int_equal(cogvideox_model_forward(m, &sh, lat, t, 0.0f, cond, oc, &err), 0);
        if (g[0] > 1.0f) {
            assert_int_equal(cogvideox_model_forward(m, &sh, lat, t, 0.0f, unc, ou, &err), 0);
            double gs = g[0];
            if (dynamic)
                gs = 1.0 + gs * ((1.0 - cos(M_PI * pow(((double)steps - t) / steps, 5.0))) / 2.0);
            for (size_t j = 0; j < n; j++)
                oc[j] = ou[j] + (float)gs * (oc[j] - ou[j]);
        }
        if (sampler_step(smp, i, oc, lat, n, &err) < 0)
            fail_msg("step %d: %s", i, err.msg);
        char name[32];
        snprintf(name, sizeof name, "latents_step_%d", i);
        float *want = read_all(ex, name, NULL);
        worst = fmax(worst, rel_l2(lat, want, n));
        free(want);
    }
    printf("cogvideox trajectory %s: %s x %d steps, worst step rel L2 %.2e\n", cfg,
           sampler_kind_name(sc.kind), steps, worst);
    assert_true(worst < 1e-4);
    free(lat), free(cond), free(unc), free(g), free(oc), free(ou), free(want_t);
    sampler_free(smp);
    cogvideox_model_free(m);
    kern_backend_free(be);
    safetensors_close(in);
    safetensors_close(ex);
}

static void test_trajectories(void **state)
{
    (void)state;
    check_trajectory("ddim", 4, 0);
    check_trajectory("ddim7", 7, 0);
    check_trajectory("dpm", 5, 1);
}

/* ---------------------------------------------------------------------------
 * State: shards and checkpoints with synthetic model outputs
 * ------------------------------------------------------------------------- */

#define N_EL 1000

static float fake_output(int step, size_t j)
{
    return sinf(0.37f * (float)j + 1.3f * (float)step);
}

static int synth_noise(void *user, int step, int draw, size_t offset, size_t n, float *dst,
                       struct df_err *err)
{
    (void)user, (void)err;
    for (size_t j = 0; j < n; j++)
        dst[j] = cosf(0.11f * (float)(offset + j) + 0.7f * (float)step + 2.1f * (float)draw);
    return 0;
}

/* Run steps [from, to) on shard [off, off + n) of x. */
static void run_steps(sampler_t s, int from, int to, float *x, size_t off, size_t n)
{
    float *v = malloc(n * sizeof *v);
    struct df_err err = {0};
    for (int i = from; i < to; i++) {
        for (size_t j = 0; j < n; j++)
            v[j] = fake_output(i, off + j);
        if (sampler_step(s, i, v, x + off, n, &err) < 0)
            fail_msg("%s", err.msg);
    }
    free(v);
}

static void test_shards_and_checkpoint(void **state)
{
    (void)state;
    const enum sampler_kind kinds[] = {SAMPLER_KIND_COGVIDEOX_DDIM, SAMPLER_KIND_COGVIDEOX_DPM};
    for (size_t k = 0; k < 2; k++) {
        struct sampler_config sc;
        sampler_config_init(&sc, kinds[k]);
        sc.steps = 8;
        struct df_err err = {0};
        float whole[N_EL], sharded[N_EL], resumed[N_EL];
        for (int j = 0; j < N_EL; j++)
            whole[j] = sharded[j] = resumed[j] = cosf((float)j);
        sampler_t s;
        assert_int_equal(sampler_create(&sc, 0, N_EL, N_EL, &s, &err), 0);
        sampler_set_noise(s, synth_noise, NULL);
        run_steps(s, 0, sc.steps, whole, 0, N_EL);
        sampler_free(s);
        /* three shards = one, bit for bit */
        const size_t cut[4] = {0, 333, 334, N_EL};
        for (int r = 0; r < 3; r++) {
            assert_int_equal(sampler_create(&sc, cut[r], cut[r + 1] - cut[r], N_EL, &s, &err), 0);
            sampler_set_noise(s, synth_noise, NULL);
            run_steps(s, 0, sc.steps, sharded, cut[r], cut[r + 1] - cut[r]);
            sampler_free(s);
        }
        assert_memory_equal(whole, sharded, sizeof whole);
        /* checkpoint after 3 steps, resume in a fresh sampler */
        assert_int_equal(sampler_create(&sc, 0, N_EL, N_EL, &s, &err), 0);
        sampler_set_noise(s, synth_noise, NULL);
        run_steps(s, 0, 3, resumed, 0, N_EL);
        size_t sz = sampler_state_size(s), wrote;
        unsigned char *blob = malloc(sz);
        assert_int_equal(sampler_state_save(s, blob, sz, &wrote, &err), 0);
        assert_int_equal(sampler_history_count(s), kinds[k] == SAMPLER_KIND_COGVIDEOX_DPM);
        sampler_free(s);
        assert_int_equal(sampler_create(&sc, 0, N_EL, N_EL, &s, &err), 0);
        sampler_set_noise(s, synth_noise, NULL);
        assert_int_equal(sampler_state_load(s, blob, wrote, &err), 0);
        run_steps(s, 3, sc.steps, resumed, 0, N_EL);
        sampler_free(s);
        assert_memory_equal(whole, resumed, sizeof whole);
        /* another snr_shift_scale: same kind and steps, different scheduler */
        struct sampler_config other = sc;
        other.ddpm.snr_shift_scale = 2.0;
        assert_int_equal(sampler_create(&other, 0, N_EL, N_EL, &s, &err), 0);
        assert_int_equal(sampler_state_load(s, blob, wrote, &err), DF_E_INVAL);
        assert_non_null(strstr(err.msg, "ddpm config fingerprint"));
        sampler_free(s);
        free(blob);
        printf("%s: 3 shards and a resume at step 3 equal the whole run bit for bit\n",
               sampler_kind_name(kinds[k]));
    }
}

static void test_refusals(void **state)
{
    (void)state;
    struct sampler_config sc;
    sampler_config_init(&sc, SAMPLER_KIND_COGVIDEOX_DPM);
    sc.steps = 61;
    sampler_t s;
    struct df_err err = {0};
    assert_int_equal(sampler_create(&sc, 0, 10, 10, &s, &err), DF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "62 timesteps"));
    sc.steps = 5;
    assert_int_equal(sampler_create(&sc, 0, 10, 10, &s, &err), 0);
    float v[10] = {0}, x[10] = {0};
    /* a stochastic step without a noise source */
    assert_int_equal(sampler_step(s, 0, v, x, 10, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "no noise source"));
    assert_int_equal(sampler_noise_draws(s, 0), 1);
    assert_int_equal(sampler_noise_draws(s, 2), 2);
    assert_int_equal(sampler_noise_draws(s, 4), 1);
    sampler_free(s);
    sc.ddpm.spacing = SAMPLER_SPACING_LEADING;
    sc.ddpm.steps_offset = 900;
    assert_int_equal(sampler_create(&sc, 0, 10, 10, &s, &err), DF_E_RANGE);
    assert_non_null(strstr(err.msg, "steps_offset"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trajectories),
        cmocka_unit_test(test_shards_and_checkpoint),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
