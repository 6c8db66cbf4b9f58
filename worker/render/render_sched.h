/*
 * render_sched.h -- the model folder's scheduler/scheduler_config.json as the
 * shot's sampler defaults (internal to worker/render/).
 *
 * Validation already took the sampler class and flow_shift from it when the
 * manifest leaves them out (lib/model_folder.h); here the UniPC solver order
 * and type, lower_order_final and final_sigmas_type are applied (the
 * manifest has no keys for them), and rank 0 logs what came from where,
 * naming a manifest value that overrides the model's.
 */
#ifndef DF_RENDER_SCHED_H
#define DF_RENDER_SCHED_H

#include "err.h"
#include "sampler.h"

struct render;

/* Adjust sc (already filled from the shot) from the folder's scheduler
 * config.  Returns 0, or DF_E_PARSE / DF_E_RANGE / DF_E_INVAL naming the file
 * and key (a solver type or order the sampler does not have). */
int render_sched_apply(struct render *r, struct sampler_config *sc, struct df_err *err);

#endif /* DF_RENDER_SCHED_H */
