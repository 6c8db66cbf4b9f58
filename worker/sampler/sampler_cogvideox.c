/*
 * sampler_cogvideox.c -- CogVideoX's discrete-time schedulers: DDIM (2B) and
 * the stochastic DPM-Solver++(2M) variant (5B), as diffusers'
 * CogVideoXDDIMScheduler and CogVideoXDPMScheduler compute them, driven the
 * way CogVideoXPipeline.__call__ drives them.
 * ref: diffusers/schedulers/scheduling_ddim_cogvideox.py (__init__,
 *      rescale_zero_terminal_snr, set_timesteps, step),
 *      scheduling_dpm_cogvideox.py (get_variables, get_mult, step),
 *      pipelines/cogvideo/pipeline_cogvideox.py (the loop: old x0 and the
 *      previous loop timestep handed back to the DPM step), diffusers 0.42.1
 *
 * Traps kept on purpose (they are what diffusers does):
 *  - the previous timestep of a step is t - num_train_timesteps // steps,
 *    not the next timestep of the schedule (they differ when the trailing
 *    spacing rounds);
 *  - alphas_cumprod is float64 (scaled_linear) and the per-step scalars are
 *    float64 0-dim tensors, each rounded to float32 where it meets the
 *    float32 latent; the elementwise arithmetic is float32 in torch's order;
 *  - the DPM step draws noise for its first update and, when it has an old
 *    x0 and is not the last step, a second draw for the 2M update that
 *    replaces the first result (the first draw is consumed all the same).
 */
#include <math.h>
#include <string.h>

#include "sampler_int.h"

/* ------------------------------------------------------------------------ */
/* Schedule                                                                   */
/* ------------------------------------------------------------------------ */

/* torch.linspace(start, end, num) as ATen's CPU kernel computes it (scalar
 * form), in double; the float32 variant for the "linear" betas below. */
static double linspace_f64(double start, double end, int num, int i)
{
    if (num == 1)
        return start;
    const double step = (end - start) / (double)(num - 1);
    return i < num / 2 ? start + step * (double)i : end - step * (double)(num - i - 1);
}

static float linspace_f32(float start, float end, int num, int i)
{
    if (num == 1)
        return start;
    const float step = (end - start) / (float)(num - 1);
    return i < num / 2 ? start + step * (float)i : end - step * (float)(num - i - 1);
}

/* set_timesteps: the integer timesteps of `n` steps into t[0..n) (room for
 * n + 1).  Returns how many the spacing makes (n, or n + 1 when numpy's
 * arange of the trailing spacing overshoots by one). */
static int ddpm_timesteps(const struct sampler_config *c, int64_t *t)
{
    const int N = c->num_train_timesteps, n = c->steps;
    switch (c->ddpm.spacing) {
    case SAMPLER_SPACING_LINSPACE:
        for (int i = 0; i < n; i++) /* np.linspace(0, N-1, n).round()[::-1] */
            t[n - 1 - i] = (int64_t)rint(sampler_linspace(0.0, (double)(N - 1), n, i));
        return n;
    case SAMPLER_SPACING_LEADING:
        for (int i = 0; i < n; i++)
            t[n - 1 - i] = (int64_t)i * (N / n) + c->ddpm.steps_offset;
        return n;
    case SAMPLER_SPACING_TRAILING:
    default: {
        /* np.arange(N, 0, -ratio): length ceil(-N / -ratio); element i is
         * a0 + i * (a1 - a0) with a1 = N - ratio (numpy's fill). */
        const double ratio = (double)N / n, a0 = (double)N, a1 = a0 + -ratio;
        const double len = ceil((0.0 - a0) / -ratio);
        const int count = len > n ? n + 1 : n;
        for (int i = 0; i < count; i++) {
            const double v = i == 0 ? a0 : i == 1 ? a1 : a0 + (double)i * (a1 - a0);
            t[i] = (int64_t)rint(v) - 1;
        }
        return count;
    }
    }
}

/* betas -> alphas_cumprod with the SNR shift and the zero-SNR rescale, in
 * the precision diffusers holds them: float64 for scaled_linear, float32 for
 * linear (stored widened). */
static void ddpm_alphas(const struct sampler_config *c, double *ac)
{
    const struct sampler_ddpm_config *d = &c->ddpm;
    const int N = c->num_train_timesteps;
    const bool f32 = d->beta_schedule == SAMPLER_BETA_SCHEDULE_LINEAR;
    double cum = 1.0; /* torch's CPU cumprod accumulates in double */
    for (int i = 0; i < N; i++) {
        double a;
        if (f32) {
            const float b = linspace_f32((float)d->beta_start, (float)d->beta_end, N, i);
            a = (double)(1.0f - b);
        } else {
            const double r = linspace_f64(sqrt(d->beta_start), sqrt(d->beta_end), N, i);
            a = 1.0 - r * r;
        }
        cum *= a;
        ac[i] = f32 ? (double)(float)cum : cum;
    }
    const double s = d->snr_shift_scale;
    for (int i = 0; i < N; i++)
        ac[i] = f32 ? (double)((float)ac[i] / ((float)s + (float)(1.0 - s) * (float)ac[i]))
                    : ac[i] / (s + (1.0 - s) * ac[i]);
    if (!d->rescale_betas_zero_snr)
        return;
    const double s0 = sqrt(ac[0]), sT = sqrt(ac[N - 1]);
    for (int i = 0; i < N; i++) {
        double v = sqrt(ac[i]) - sT;
        v *= s0 / (s0 - sT);
        ac[i] = f32 ? (double)(float)(v * v) : v * v;
    }
}

static double alpha_at(const struct sampler *s, int64_t t)
{
    return t >= 0 ? s->alphas_cumprod[t] : s->final_alpha_cumprod;
}

static int64_t prev_timestep(const struct sampler *s, int i)
{
    return (int64_t)s->timesteps[i] - s->cfg.num_train_timesteps / s->cfg.steps;
}

static void ddpm_schedule(struct sampler *s)
{
    int64_t t[SAMPLER_MAX_STEPS + 1];
    ddpm_timesteps(&s->cfg, t); /* check() made sure it gives exactly steps */
    ddpm_alphas(&s->cfg, s->alphas_cumprod);
    s->final_alpha_cumprod = s->cfg.ddpm.set_alpha_to_one ? 1.0 : s->alphas_cumprod[0];
    for (int i = 0; i < s->cfg.steps; i++) {
        s->timesteps[i] = (float)t[i];
        const double a = s->alphas_cumprod[t[i]];
        s->sigmas[i] = (float)sqrt((1.0 - a) / a);
    }
    const double a = alpha_at(s, prev_timestep(s, s->cfg.steps - 1));
    s->sigmas[s->cfg.steps] = (float)sqrt((1.0 - a) / a);
}

static int ddpm_check(const struct sampler_config *c, struct df_err *err)
{
    const struct sampler_ddpm_config *d = &c->ddpm;
    DF_FAIL_IF((unsigned)d->beta_schedule >= SAMPLER_BETA_SCHEDULE_COUNT ||
                   (unsigned)d->spacing >= SAMPLER_SPACING_COUNT ||
                   (unsigned)d->prediction >= SAMPLER_PREDICTION_COUNT,
               err, DF_E_INVAL, "sampler: %s: unknown beta schedule, spacing or prediction type",
               c->kind == SAMPLER_KIND_COGVIDEOX_DPM ? "cogvideox_dpm" : "cogvideox_ddim");
    DF_FAIL_IF(!(d->beta_start > 0) || !(d->beta_end > d->beta_start) || !(d->beta_end < 1), err,
               DF_E_RANGE, "sampler: betas %g..%g must satisfy 0 < start < end < 1",
               d->beta_start, d->beta_end);
    DF_FAIL_IF(!(d->snr_shift_scale > 0) || !isfinite(d->snr_shift_scale), err, DF_E_RANGE,
               "sampler: snr_shift_scale %g must be a positive number", d->snr_shift_scale);
    DF_FAIL_IF(c->steps > c->num_train_timesteps, err, DF_E_RANGE,
               "sampler: %d steps exceed num_train_timesteps %d", c->steps,
               c->num_train_timesteps);
    DF_FAIL_IF(d->steps_offset < 0 || d->steps_offset > c->num_train_timesteps, err, DF_E_RANGE,
               "sampler: steps_offset %d out of range", d->steps_offset);
    int64_t t[SAMPLER_MAX_STEPS + 1];
    const int count = ddpm_timesteps(c, t);
    /* diffusers would then run a step at timestep -1 (alphas_cumprod[-1]). */
    DF_FAIL_IF(count != c->steps, err, DF_E_UNSUPPORTED,
               "sampler: %d steps with trailing spacing make %d timesteps in diffusers (numpy "
               "arange overshoot, last one -1); choose another step count",
               c->steps, count);
    for (int i = 0; i < count; i++)
        DF_FAIL_IF(t[i] < 0 || t[i] >= c->num_train_timesteps, err, DF_E_RANGE,
                   "sampler: timestep %lld of step %d outside 0..%d (steps_offset?)",
                   (long long)t[i], i, c->num_train_timesteps - 1);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Steps                                                                      */
/* ------------------------------------------------------------------------ */

/* pred_original_sample of element j (float32, torch's order). */
static inline float pred_x0(enum sampler_prediction p, float ca, float cb, float s, float m)
{
    switch (p) {
    case SAMPLER_PREDICTION_V:
        return ca * s - cb * m;
    case SAMPLER_PREDICTION_EPSILON:
        return (s - cb * m) / ca;
    case SAMPLER_PREDICTION_SAMPLE:
    default:
        return m;
    }
}

static void ddim_step(struct sampler *s, int i, const float *model, float *latent)
{
    const double at = alpha_at(s, (int64_t)s->timesteps[i]), ap = alpha_at(s, prev_timestep(s, i));
    const float ca = (float)sqrt(at), cb = (float)sqrt(1.0 - at);
    const double a_t = sqrt((1.0 - ap) / (1.0 - at));
    const double b_t = sqrt(ap) - sqrt(at) * a_t;
    const float fa = (float)a_t, fb = (float)b_t;
    const enum sampler_prediction p = s->cfg.ddpm.prediction;
    for (size_t j = 0; j < s->n; j++) {
        const float x0 = pred_x0(p, ca, cb, latent[j], model[j]);
        latent[j] = fa * latent[j] + fb * x0;
    }
}

static double lambda_of(double a)
{
    return log(sqrt(a / (1.0 - a)));
}

static int dpm_noise_draws(const struct sampler *s, int i)
{
    return i == 0 || prev_timestep(s, i) < 0 ? 1 : 2;
}

static void dpm_step(struct sampler *s, int i, const float *model, float *latent)
{
    const double at = alpha_at(s, (int64_t)s->timesteps[i]), ap = alpha_at(s, prev_timestep(s, i));
    const float ca = (float)sqrt(at), cb = (float)sqrt(1.0 - at);
    const double h = lambda_of(ap) - lambda_of(at);
    const double m1 = sqrt((1.0 - ap) / (1.0 - at)) * exp(-h);
    const double m2 = expm1(-2.0 * h) * sqrt(ap);
    const double mn = sqrt(1.0 - ap) * sqrt(1.0 - exp(-2.0 * h));
    const float f1 = (float)m1, f2 = (float)m2, fn = (float)mn;
    const enum sampler_prediction p = s->cfg.ddpm.prediction;
    float *old = s->out[0];
    const bool second = dpm_noise_draws(s, i) == 2; /* has an old x0, not the last step */
    float f3 = 0.0f, f4 = 0.0f;
    if (second) {
        const double ab = alpha_at(s, (int64_t)s->timesteps[i - 1]);
        const double r = (lambda_of(at) - lambda_of(ab)) / h;
        f3 = (float)(1.0 + 1.0 / (2.0 * r));
        f4 = (float)(1.0 / (2.0 * r));
    }
    for (size_t j = 0; j < s->n; j++) {
        const float x = latent[j];
        const float x0 = pred_x0(p, ca, cb, x, model[j]);
        if (second) {
            const float dd = f3 * x0 - f4 * old[j];
            latent[j] = f1 * x - f2 * dd + fn * s->noise[1][j];
        } else {
            latent[j] = f1 * x - f2 * x0 + fn * s->noise[0][j];
        }
        old[j] = x0;
    }
    s->n_out = 1;
}

static int ddim_history_slots(const struct sampler_config *cfg)
{
    (void)cfg;
    return 0;
}

/* out[0] = the previous step's x0 (the pipeline's old_pred_original_sample);
 * the last_sample slot is unused. */
static int dpm_history_slots(const struct sampler_config *cfg)
{
    (void)cfg;
    return 2;
}

const struct sampler_ops sampler_cogvideox_ddim_ops = {
    .schedule = ddpm_schedule,
    .step = ddim_step,
    .history_slots = ddim_history_slots,
    .check = ddpm_check,
    .noise_draws = NULL,
};

const struct sampler_ops sampler_cogvideox_dpm_ops = {
    .schedule = ddpm_schedule,
    .step = dpm_step,
    .history_slots = dpm_history_slots,
    .check = ddpm_check,
    .noise_draws = dpm_noise_draws,
};
