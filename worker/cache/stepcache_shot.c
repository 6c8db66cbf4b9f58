/*
 * stepcache_shot.c -- plan a shot's step-cache mask in one call
 * (stepcache.h): calibration lookup and checks, tau and its source, the
 * sampler's timesteps, the mask.
 */
#include "stepcache.h"

#include "sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The policy as this family can serve it: a family with one compared vector
 * (time_mod_dim 0: CogVideoX's emb) plans TeaCache with it whatever the
 * mode says; PromptTea's step model is fitted on e0, which it lacks. */
static int family_policy(const struct family_info *fi, const struct shot_cache *asked,
                         struct shot_cache *out, struct df_err *err)
{
    *out = *asked;
    if (asked->policy == CACHE_POLICY_OFF)
        return 0;
    DF_FAIL_IF(!fi->has_time_embed, err, DF_E_UNSUPPORTED,
               "model family %s has no time embedding to plan a step cache with; use cache "
               "policy off",
               fi->name);
    DF_FAIL_IF(asked->policy == CACHE_POLICY_PROMPTTEA && !fi->time_mod_dim, err,
               DF_E_UNSUPPORTED,
               "prompttea: its step model compares the modulation e0, which model family %s "
               "does not have; use cache policy teacache",
               fi->name);
    if (!fi->time_mod_dim)
        out->mode = CACHE_MODE_E;
    return 0;
}

/* The calibration: the model's files first, else (TeaCache on e) the
 * polynomial the family publishes for this model. */
static int resolve_calib(const struct stepcache_shot_in *in, const struct shot_cache *pol,
                         const char *sampler, int steps, struct stepcache_calib *cal,
                         struct df_err *err)
{
    int rc = stepcache_calib_resolve(in->configs_dir, in->model, pol, sampler, steps, cal, err);
    const char *src = NULL;
    double c[STEPCACHE_POLY_TERMS];
    if (rc != DF_E_NOTFOUND || pol->policy != CACHE_POLICY_TEACACHE ||
        pol->mode != CACHE_MODE_E || !family_teacache_poly(in->model_handle, c, &src))
        return rc;
    df_err_clear(err);
    memset(cal, 0, sizeof *cal);
    snprintf(cal->model, sizeof cal->model, "%s", in->model ? in->model : "");
    snprintf(cal->source, sizeof cal->source, "%s", src ? src : "model family");
    cal->has_poly[CACHE_MODE_E] = 1;
    memcpy(cal->poly[CACHE_MODE_E], c, sizeof c);
    return 0;
}

int stepcache_plan_shot(const struct stepcache_shot_in *in, struct stepcache_mask *out,
                        struct df_err *err)
{
    memset(out, 0, sizeof *out);
    const struct sampler_config *sc = sampler_get_config(in->smp);
    struct family_info fi;
    family_info(in->model_handle, &fi);
    const char *sampler = sampler_kind_name(sc->kind);
    const int steps = sc->steps;
    struct stepcache_calib cal;
    struct shot_cache pol;
    if (in->warning && in->warning_cap)
        in->warning[0] = '\0';
    int frc = family_policy(&fi, in->policy, &pol, err);
    if (frc == 0)
        frc = resolve_calib(in, &pol, sampler, steps, &cal, err);
    if (frc < 0) {
        df_err_prefix(err, "step cache (%s)", cache_policy_name(in->policy->policy));
        return frc;
    }
    if (in->warning && in->policy->policy == CACHE_POLICY_PROMPTTEA && cal.steps > 0 &&
        cal.shift > 0 && fabs(cal.shift - sc->shift) > 1e-9)
        snprintf(in->warning, in->warning_cap,
                 "prompttea: %s was calibrated at flow shift %g, the shot uses %g: the per-step "
                 "tables may skip the wrong steps; calibrate this setup",
                 cal.path, cal.shift, sc->shift);
    double tau = 0;
    char src[160];
    float *ts = malloc((size_t)steps * sizeof *ts);
    int rc = ts ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory");
    if (rc == 0)
        rc = stepcache_tau(&pol, &cal, in->text, in->n_tokens, in->text_dim, &tau, src,
                           sizeof src, err);
    for (int i = 0; rc == 0 && i < steps; i++)
        ts[i] = sampler_timestep(in->smp, i);
    if (rc == 0) {
        struct stepcache_plan_in p = {.policy = &pol,
                                      .calib = &cal,
                                      .sampler = sampler,
                                      .steps = steps,
                                      .timesteps = ts,
                                      .guided = in->guided,
                                      .tau = tau,
                                      .tau_source = src,
                                      .time_embed = stepcache_family_time_embed,
                                      .user = in->model_handle,
                                      .dim = fi.time_embed_dim,
                                      .e0_dim = fi.time_mod_dim};
        rc = stepcache_plan(&p, out, err);
    }
    free(ts);
    stepcache_calib_clear(&cal);
    if (rc < 0)
        df_err_prefix(err, "step cache (%s)", cache_policy_name(in->policy->policy));
    return rc;
}
