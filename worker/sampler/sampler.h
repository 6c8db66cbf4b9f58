/*
 * sampler.h -- flow-matching samplers: Euler and UniPC multistep, exactly as
 * diffusers' FlowMatchEulerDiscreteScheduler (with `shift`) and
 * UniPCMultistepScheduler (prediction_type="flow_prediction",
 * use_flow_sigmas=True, `flow_shift`, predict_x0=True) compute them: same
 * sigma/timestep schedule, same per-step update, same multistep history.
 *
 * The sampler never sees the model: the worker's loop asks it for the timestep
 * of step i, runs the model (and CFG, see cfg.h) on its own shard, and hands the
 * velocity back.  Every update is elementwise, so under sequence parallelism
 * each rank creates a sampler for ITS contiguous shard [offset, offset + n) of
 * the flattened latent (total elements) and steps only that; the history is
 * held per shard.  P ranks stepping their shards = one rank stepping the whole,
 * bit for bit (tests/test_sampler.c checks it).
 *
 *     struct sampler_config cfg;
 *     sampler_config_init(&cfg, SAMPLER_KIND_UNIPC);   // Wan defaults
 *     cfg.steps = 30; cfg.shift = 5.0;
 *     sampler_t *smp;
 *     if (sampler_create(&cfg, off, n, total, &smp, err) < 0) return ...;
 *     for (int i = sampler_next_step(smp); i < cfg.steps; i++) {
 *         float t = sampler_timestep(smp, i);
 *         model(latent, t, cond, uncond);                 // both CFG branches
 *         cfg_combine(cond, uncond, guidance, n, vel);
 *         DF_TRY(sampler_step(smp, i, vel, latent, n, err));
 *     }
 *     sampler_free(smp);
 *
 * Checkpoints: a UniPC sampler carries history (the last solver_order x0
 * predictions and the last pre-predictor sample).  Two ways to save it:
 *  - sampler_state_{size,save,load}: one self-describing little-endian blob for
 *    this shard (format table at sampler_state_save), resumable on the same
 *    shard layout;
 *  - sampler_scalars_{get,set} + sampler_history(): the small scalar state plus
 *    pointers to the n-element history tensors, so a checkpoint writer can
 *    gather each tensor to its global extent (total elements) and a resume on a
 *    different rank count can scatter the slices back.
 */
#ifndef DF_SAMPLER_H
#define DF_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "manifest.h"

/* ------------------------------------------------------------------------ */
/* Enums (YAML, CLI and logs use the names)                                  */
/* ------------------------------------------------------------------------ */

/* enum sampler_kind, its names and sampler_kind_from_name are lib/manifest.h's:
 * one enum for the manifest, the planner and the sampler. */

/* The discrete-time (DDPM-family) schedulers' config, as scheduler_config.json
 * spells it (sampler_ddpm.h parses the file).  Used by the cogvideox_* kinds. */
enum sampler_beta_schedule {
    SAMPLER_BETA_SCHEDULE_LINEAR,        /* "linear" */
    SAMPLER_BETA_SCHEDULE_SCALED_LINEAR, /* "scaled_linear" (CogVideoX) */
    SAMPLER_BETA_SCHEDULE_COUNT
};

enum sampler_spacing {
    SAMPLER_SPACING_LINSPACE, /* "linspace" */
    SAMPLER_SPACING_LEADING,  /* "leading" */
    SAMPLER_SPACING_TRAILING, /* "trailing" (CogVideoX) */
    SAMPLER_SPACING_COUNT
};

enum sampler_prediction {
    SAMPLER_PREDICTION_EPSILON, /* "epsilon" */
    SAMPLER_PREDICTION_SAMPLE,  /* "sample" */
    SAMPLER_PREDICTION_V,       /* "v_prediction" (CogVideoX) */
    SAMPLER_PREDICTION_COUNT
};

struct sampler_ddpm_config {
    double beta_start, beta_end;             /* 0.00085, 0.012 */
    enum sampler_beta_schedule beta_schedule; /* scaled_linear */
    double snr_shift_scale;                  /* alphas_cumprod / (s + (1 - s) alphas_cumprod) */
    bool rescale_betas_zero_snr;             /* zero terminal SNR (CogVideoX: true) */
    bool set_alpha_to_one;                   /* final alpha_cumprod 1 (else alphas_cumprod[0]) */
    int steps_offset;                        /* "leading" spacing offset */
    enum sampler_spacing spacing;            /* timestep_spacing */
    enum sampler_prediction prediction;      /* prediction_type */
};

enum sampler_solver {
    SAMPLER_SOLVER_BH1, /* "bh1": B(h) = h */
    SAMPLER_SOLVER_BH2, /* "bh2": B(h) = e^h - 1 (diffusers default, Wan) */
    SAMPLER_SOLVER_COUNT
};

enum sampler_final_sigma {
    SAMPLER_FINAL_SIGMA_ZERO, /* "zero": last step lands on sigma 0 (Wan) */
    SAMPLER_FINAL_SIGMA_MIN,  /* "sigma_min": last sigma repeats the smallest */
    SAMPLER_FINAL_SIGMA_COUNT
};

/* Name of a value ("euler", "bh2", "zero", ...); "?" when out of range. */
const char *sampler_solver_name(enum sampler_solver s);
const char *sampler_final_sigma_name(enum sampler_final_sigma f);

/* Parse a name back; returns 0, or DF_E_INVAL naming the valid choices. */
int sampler_solver_from_name(const char *name, enum sampler_solver *out, struct df_err *err);
int sampler_final_sigma_from_name(const char *name, enum sampler_final_sigma *out,
                                  struct df_err *err);

/* ------------------------------------------------------------------------ */
/* Configuration                                                              */
/* ------------------------------------------------------------------------ */

#define SAMPLER_MAX_ORDER 4 /* highest UniPC solver_order supported */
#define SAMPLER_MAX_STEPS 10000

struct sampler_config {
    enum sampler_kind kind;
    int steps;               /* num_inference_steps, 1..SAMPLER_MAX_STEPS */
    double shift;            /* diffusers `shift` (euler) / `flow_shift` (unipc), > 0 */
    int num_train_timesteps; /* 1000 for Wan */
    /* UniPC only (ignored by euler): */
    int solver_order;                     /* 1..SAMPLER_MAX_ORDER; Wan: 2 */
    enum sampler_solver solver;           /* Wan: bh2 */
    bool lower_order_final;               /* Wan: true */
    enum sampler_final_sigma final_sigma; /* Wan: zero */
    uint64_t disable_corrector;           /* bit i: no corrector at step i+1, i.e.
                                             diffusers' disable_corrector list
                                             (indices < 64) */
    /* cogvideox_ddim / cogvideox_dpm only (ignored by the flow kinds): */
    struct sampler_ddpm_config ddpm;
};

/* Fill cfg with the Wan2.1 diffusers scheduler config for `kind`: 50 steps,
 * shift 3.0, 1000 train timesteps, order 2, bh2, lower_order_final, zero;
 * for the cogvideox kinds, CogVideoX-2B's/5B's scheduler_config.json (v
 * prediction, scaled_linear 0.00085..0.012, zero-SNR rescale, trailing,
 * set_alpha_to_one; snr_shift_scale 3.0 for ddim, 1.0 for dpm). */
void sampler_config_init(struct sampler_config *cfg, enum sampler_kind kind);

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct sampler *sampler_t;

/* The model as the sampler's convenience loop (sampler_run) sees it: write the
 * (already guided) velocity for `latent` at `timestep`; return 0 or DF_E_*. */
typedef int (*sampler_model_fn)(void *user, const float *latent, float timestep, float *velocity,
                                struct df_err *err);

/* Create a sampler for the shard [offset, offset + n) of a latent of `total`
 * elements (offset + n <= total; n may be 0).  Computes the whole schedule.
 * Returns 0 and *out (caller frees with sampler_free), DF_E_INVAL/DF_E_RANGE
 * for a bad config (message names the field), or DF_E_NOMEM. */
int sampler_create(const struct sampler_config *cfg, size_t offset, size_t n, size_t total,
                   sampler_t *out, struct df_err *err);

/* Free; accepts NULL. */
void sampler_free(sampler_t s);

/* ------------------------------------------------------------------------ */
/* Schedule and stepping                                                      */
/* ------------------------------------------------------------------------ */

/* The config the sampler was created with. */
const struct sampler_config *sampler_get_config(const struct sampler *s);

/* Index of the next step to run (0 after create, steps when done). */
int sampler_next_step(const struct sampler *s);

/* The timestep the model gets at step i (0 <= i < steps), exactly the value
 * diffusers passes: float32 sigma*N for euler, integer-valued for unipc and
 * the cogvideox kinds.
 * Returns NAN for an i out of range. */
float sampler_timestep(const struct sampler *s, int i);

/* Sigma at schedule position i (0 <= i <= steps; i == steps is the final
 * sigma), as the float32 value diffusers holds; the cogvideox kinds give
 * sqrt((1 - alpha_cumprod) / alpha_cumprod) of the step's timestep (the
 * final one of the last step's previous timestep).  NAN out of range. */
float sampler_sigma(const struct sampler *s, int i);

/* Noise the stochastic kinds (cogvideox_dpm) draw inside a step: fill
 * dst[0..n) with draw `draw` of step i for this shard [offset, offset + n)
 * of the latent -- the same values whatever the sharding.  Returns 0 or a
 * negative code (the step fails with it). */
typedef int (*sampler_noise_fn)(void *user, int step, int draw, size_t offset, size_t n,
                                float *dst, struct df_err *err);

/* Set the noise source (copied; NULL fn clears it).  A step that needs draws
 * without a source fails with DF_E_INVAL. */
void sampler_set_noise(sampler_t s, sampler_noise_fn fn, void *user);

/* Noise draws step i takes, in order (diffusers' randn_tensor calls):
 * cogvideox_dpm 1 on its first and last step, 2 on the others; 0 otherwise. */
int sampler_noise_draws(const struct sampler *s, int i);

/* Advance the shard from step i to i+1: `velocity` is the model's (guided)
 * output for `latent` at sampler_timestep(s, i) (a velocity for the flow
 * kinds, the prediction_type's quantity for the cogvideox kinds); `latent` (n floats, this
 * shard) is updated in place.  Steps must come in order: i must equal
 * sampler_next_step(s) and n the shard size given at create, else DF_E_INVAL.
 * velocity and latent must not overlap.  Returns 0, or the noise source's
 * error (DF_E_INVAL when a stochastic step has none). */
int sampler_step(sampler_t s, int i, const float *velocity, float *latent, size_t n,
                 struct df_err *err);

/* Run every remaining step on this shard with `model` (a single-process loop:
 * tests, tools, one rank).  Returns 0, DF_E_NOMEM, or the model's error. */
int sampler_run(sampler_t s, sampler_model_fn model, void *user, float *latent, struct df_err *err);

/* ------------------------------------------------------------------------ */
/* State for checkpoints                                                      */
/* ------------------------------------------------------------------------ */

/* Everything but the tensors.  Identical on every rank. */
struct sampler_scalars {
    int32_t next_step;        /* steps already taken */
    int32_t lower_order_nums; /* unipc warm-up counter (diffusers' name) */
    int32_t this_order;       /* unipc order of the last predictor = next corrector */
    int32_t n_model_outputs;  /* unipc x0 predictions held, 0..solver_order */
    int32_t has_last_sample;  /* unipc: 1 once a step was taken */
};

/* Read the scalar state (never fails). */
void sampler_scalars_get(const struct sampler *s, struct sampler_scalars *out);

/* Restore the scalar state on a fresh or used sampler with the same config
 * (possibly another shard); then fill every sampler_history() tensor.
 * Returns 0 or DF_E_CORRUPT when the values cannot belong to this config. */
int sampler_scalars_set(sampler_t s, const struct sampler_scalars *sc, struct df_err *err);

/* Number of n-element history tensors the current scalars imply:
 * n_model_outputs + has_last_sample (0 for euler). */
int sampler_history_count(const struct sampler *s);

/* History tensor k (0 <= k < sampler_history_count): k < n_model_outputs is
 * the k-th x0 prediction, oldest first; the last one is the last sample.  Each
 * is this shard's n floats, owned by the sampler (read to save, write to
 * restore).  Returns NULL for k out of range or an empty shard.  Names for
 * logs and checkpoint keys come from sampler_history_name ("model_output.0",
 * ..., "last_sample"). */
float *sampler_history(sampler_t s, int k);
const char *sampler_history_name(const struct sampler *s, int k);

/* Bytes sampler_state_save writes for this sampler now. */
size_t sampler_state_size(const struct sampler *s);

/* Serialize config, shard extents, scalars and history of this shard into
 * dst[0..dst_cap).  Returns 0 and *written, or DF_E_RANGE if dst_cap is short. */
int sampler_state_save(const struct sampler *s, void *dst, size_t dst_cap, size_t *written,
                       struct df_err *err);

/* Restore from a blob made by sampler_state_save for the same config and shard.
 * Returns 0, or DF_E_CORRUPT (bad magic/version/size) or DF_E_INVAL (config or
 * shard differs; the message names the field). */
int sampler_state_load(sampler_t s, const void *src, size_t src_len, struct df_err *err);

#endif /* DF_SAMPLER_H */
