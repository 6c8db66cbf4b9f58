/*
 * sampler_int.h -- what sampler.c shares with the per-kind files
 * (sampler_euler.c, sampler_unipc.c).  Not for other modules.
 *
 * A kind is a table of two functions: `schedule` fills the sigma and timestep
 * tables once at create, `step` advances one shard one step.  sampler.c owns
 * validation, allocation, ordering checks and serialization.
 */
#ifndef DF_SAMPLER_INT_H
#define DF_SAMPLER_INT_H

#include "sampler.h"

#define SAMPLER_MAGIC 0x53414d50u /* "SAMP" */

struct sampler {
    uint32_t magic;            /* SAMPLER_MAGIC while alive */
    struct sampler_config cfg; /* validated at create */
    size_t offset, n, total;   /* this shard: [offset, offset + n) of total */
    float *sigmas;             /* [steps + 1] float32 values as diffusers holds them */
    float *timesteps;          /* [steps] what the model gets at step i */
    int next_step;             /* steps taken */
    /* UniPC history (unused by euler): */
    int lower_order_nums;              /* diffusers' warm-up counter, <= solver_order */
    int this_order;                    /* order of the last predictor */
    int n_out;                         /* x0 predictions held in out[0..n_out), oldest first */
    bool has_last;                     /* last_sample holds the last pre-predictor sample */
    float *out[SAMPLER_MAX_ORDER + 1]; /* [n] each; one spare slot for the new x0 */
    float *last_sample;                /* [n] */
    float *arena;                      /* the one allocation behind out[] and last_sample */
    /* cogvideox kinds (sampler_cogvideox.c): */
    double *alphas_cumprod;            /* [num_train_timesteps], float64 as diffusers holds them */
    double final_alpha_cumprod;        /* alpha_cumprod past the last timestep */
    sampler_noise_fn noise_fn;         /* draws inside a step (cogvideox_dpm) */
    void *noise_user;
    float *noise[2];                   /* [n] each: this step's draws, in order */
};

struct sampler_ops {
    /* Fill s->sigmas[0..steps] and s->timesteps[0..steps). */
    void (*schedule)(struct sampler *s);
    /* Step i on this shard: latent[0..n) from sigma i to sigma i+1. */
    void (*step)(struct sampler *s, int i, const float *velocity, float *latent);
    /* Number of history floats per element this kind needs (0 or order+2). */
    int (*history_slots)(const struct sampler_config *cfg);
    /* (optional) Kind-specific config checks; NULL = none. */
    int (*check)(const struct sampler_config *cfg, struct df_err *err);
    /* (optional) Noise draws step i takes (filled into s->noise before
     * `step`); NULL = none. */
    int (*noise_draws)(const struct sampler *s, int i);
};

extern const struct sampler_ops sampler_euler_ops;
extern const struct sampler_ops sampler_unipc_ops;
extern const struct sampler_ops sampler_cogvideox_ddim_ops;
extern const struct sampler_ops sampler_cogvideox_dpm_ops;

/* numpy.linspace(start, stop, num)[i], reproduced bit for bit: i*step + start
 * with step = (stop - start) / (num - 1), and exactly `stop` at i == num - 1. */
double sampler_linspace(double start, double stop, int num, int i);

#endif /* DF_SAMPLER_INT_H */
