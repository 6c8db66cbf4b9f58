/*
 * calibrate.h -- fit a model's step-cache calibration (stepcache.h) for one
 * sampler and step count: run the model UNCACHED on a few prompts with
 * classifier-free guidance, record per step the input change (rel-L1 of e and
 * e0 between consecutive steps), the real output change of both branches
 * (rel-L1 of the block-stack residual R = x_out - x_in between consecutive
 * steps: what a skip replaces) and the cond/uncond difference (mean|v_c - v_u|
 * / mean|v_c| of the model outputs: what a CFG reuse replaces), then fit
 *   - the TeaCache quartic for each mode (input -> output, numpy.polyfit),
 *   - the PromptTea step model (12 features of (rel e0, step) -> output),
 *   - the per-step CFG table (mean over prompts of the cond/uncond difference).
 *
 *     struct calibrate_opts o;  calibrate_opts_init(&o);
 *     o.model_dir = "configs/models/tiny"; o.sampler = SAMPLER_KIND_EULER; o.steps = 8;
 *     struct stepcache_calib cal;  cJSON *prov;
 *     DF_TRY(calibrate_run(&o, &cal, &prov, err));
 *     stepcache_calib_save("configs/models/tiny/stepcache-euler-8.json", &cal, prov, err);
 *
 * Prompts are text; the embeddings come from text_embed_derive() (ditfarm has
 * no text encoder yet), so a calibration of a real model is only as good as
 * that stand-in -- the published coefficients stay the reference for Wan.
 */
#ifndef DF_CALIBRATE_H
#define DF_CALIBRATE_H

#include "err.h"
#include "sampler.h"
#include "stepcache.h"
#include "wan_model.h"

struct cJSON;

struct calibrate_opts {
    const char *model_dir;  /* folder with transformer/ */
    const char *model_name; /* written into the file; NULL: model_dir's basename */
    enum sampler_kind sampler;
    int steps;
    double shift;
    const char *const *prompts; /* n_prompts texts; NULL: built-in list */
    int n_prompts;              /* with prompts NULL: the first n of the built-in list */
    int latent[3];              /* latent T, H, W of the calibration runs */
    double guidance;            /* CFG scale (> 1: both branches) */
    uint64_t seed;              /* prompt p uses seed + p */
    const char *backend;        /* kern backend, "cpu" */
    int threads;
};

/* Defaults: euler, 50 steps, shift 3, 4 built-in prompts, latent 3x8x8,
 * guidance 5, seed 0, backend cpu. */
void calibrate_opts_init(struct calibrate_opts *o);

/* Number of built-in prompts, and prompt i (NULL past the end). */
int calibrate_builtin_count(void);
const char *calibrate_builtin_prompt(int i);

/* Run and fit.  On success *out holds the calibration (caller clears it) and
 * *provenance a new JSON object (caller deletes: cJSON_Delete) with the
 * options, per-step means and the fits' RMS errors.  Returns 0, DF_E_INVAL
 * (options), or the model's/backend's/fit's codes. */
int calibrate_run(const struct calibrate_opts *o, struct stepcache_calib *out,
                  struct cJSON **provenance, struct df_err *err);

/* The same on a model already created on backend `be` (benchmarks, tests);
 * the model is reserved for the calibration latent.  o->model_dir may be
 * NULL (then name the model with o->model_name). */
int calibrate_run_model(const struct calibrate_opts *o, kern_backend_t be, struct wan_model *m,
                        struct stepcache_calib *out, struct cJSON **provenance, struct df_err *err);

#endif
