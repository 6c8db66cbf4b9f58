/*
 * sampler_euler.c -- flow-matching Euler, as diffusers'
 * FlowMatchEulerDiscreteScheduler (shift, no dynamic shifting, no stochastic
 * sampling).
 * ref: diffusers/schedulers/scheduling_flow_match_euler_discrete.py
 *      (__init__, set_timesteps, step), diffusers 0.42.1
 *
 * The schedule reproduces diffusers' arithmetic type by type, because the
 * timesteps go into the model: the train-time sigmas are float32 torch math,
 * the inference sigmas float64 numpy math cast to float32, and the timesteps
 * float32 again.  Note that diffusers applies the shift twice: once to the
 * train sigmas (which only moves sigma_min) and once to the inference sigmas.
 * The update x += (sigma_{i+1} - sigma_i) * v is float32, as in diffusers.
 */
#include "sampler_int.h"

/* The float32 schedule must round like torch: no fused multiply-add, whatever the
 * compiler's default or -march (GCC's -std=c11 is already off; clang's is on). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* float32 shift of a float32 sigma, as torch computes `shift * s / (1 + (shift
 * - 1) * s)` on a float32 tensor with Python-float scalars. */
static float shift_f32(double shift, float s)
{
    const float num = (float)shift * s;
    const float den = 1.0f + (float)(shift - 1.0) * s;
    return num / den;
}

static void euler_schedule(struct sampler *s)
{
    const int nt = s->cfg.num_train_timesteps;
    const int steps = s->cfg.steps;
    const double shift = s->cfg.shift;

    /* __init__: sigmas = shift(linspace(1, N, N)[::-1] / N) in float32. */
    const double sigma_max = shift_f32(shift, (float)nt / (float)nt);
    const double sigma_min = shift_f32(shift, 1.0f / (float)nt);

    /* set_timesteps: linspace over t in float64, /N, shift again, to float32. */
    for (int i = 0; i < steps; i++) {
        const double t = sampler_linspace(sigma_max * nt, sigma_min * nt, steps, i);
        const double sg = t / nt;
        const double shifted = shift * sg / (1.0 + (shift - 1.0) * sg);
        s->sigmas[i] = (float)shifted;
        s->timesteps[i] = s->sigmas[i] * (float)nt;
    }
    s->sigmas[steps] = 0.0f;
}

static void euler_step(struct sampler *s, int i, const float *velocity, float *latent)
{
    const float dt = s->sigmas[i + 1] - s->sigmas[i];
    for (size_t j = 0; j < s->n; j++)
        latent[j] = latent[j] + dt * velocity[j];
}

static int euler_history_slots(const struct sampler_config *cfg)
{
    (void)cfg;
    return 0;
}

const struct sampler_ops sampler_euler_ops = {
    .schedule = euler_schedule,
    .step = euler_step,
    .history_slots = euler_history_slots,
    .check = NULL,
    .noise_draws = NULL,
};
