/*
 * plan_cache.h -- what `ditfarm plan` says about a shot's step cache.
 *
 * The skip mask needs the model's time-embedding weights, which only the
 * worker loads, so the CLI asks `ditfarm-worker cache-plan MANIFEST --shot ID
 * --json` (the daemon never links the kernels).  The mask is exactly the one
 * the render will apply.
 */
#ifndef DF_PLAN_CACHE_H
#define DF_PLAN_CACHE_H

#include "err.h"

struct cJSON;

/* The worker's cache plan for one shot: {policy, tau, passes_computed,
 * passes_total, cond, uncond, predicted_speedup, ...}, caller frees with
 * cJSON_Delete.  Returns 0, or DF_E_NOTFOUND / DF_E_PARSE with the worker's
 * own message (e.g. a missing calibration).  `configs` (may be NULL) is
 * passed on as --configs, so the prediction reads the same models as the
 * plan.  Only the worker's stdout is read as JSON. */
int plan_cache_predict(const char *manifest, const char *shot_id, const char *configs,
                       struct cJSON **out, struct df_err *err);

#endif
