/*
 * sampler_json.h -- a sampler config from a diffusers `scheduler/` folder's
 * scheduler_config.json, so a model folder's own scheduler drives the
 * sampler (the replay tool `ditfarm-worker sample`, CogVideoX renders).
 *
 * _class_name picks the kind:
 *   FlowMatchEulerDiscreteScheduler  -> euler   (shift)
 *   UniPCMultistepScheduler          -> unipc   (flow_shift, solver_order,
 *       solver_type, lower_order_final, final_sigmas_type; must be the flow
 *       variant: use_flow_sigmas true, prediction_type flow_prediction)
 *   CogVideoXDDIMScheduler           -> cogvideox_ddim
 *   CogVideoXDPMScheduler            -> cogvideox_dpm
 *       (beta_start, beta_end, beta_schedule, snr_shift_scale,
 *        rescale_betas_zero_snr, set_alpha_to_one, steps_offset,
 *        timestep_spacing, prediction_type)
 * Missing keys take the scheduler class's __init__ defaults; keys this code
 * cannot honour (trained_betas, clip_sample true, other beta schedules) are
 * refused with DF_E_UNSUPPORTED naming the key.  `steps` is left at its
 * default (50): the caller sets it.
 *
 *     struct sampler_config cfg;
 *     if (sampler_config_load_json("m/scheduler/scheduler_config.json", &cfg, &err) < 0) ...
 *     cfg.steps = 50;
 */
#ifndef DF_SAMPLER_JSON_H
#define DF_SAMPLER_JSON_H

#include "err.h"
#include "sampler.h"

/* Returns 0, DF_E_IO/DF_E_NOTFOUND (file), DF_E_PARSE (bad JSON, a key of
 * the wrong type: message names it), DF_E_UNSUPPORTED (unknown class or an
 * unsupported setting). */
int sampler_config_load_json(const char *path, struct sampler_config *out, struct df_err *err);

#endif /* DF_SAMPLER_JSON_H */
