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
    if (in->warning && in->warning_cap)
        in->warning[0] = '\0';
    DF_TRY(
        stepcache_calib_resolve(in->configs_dir, in->model, in->policy, sampler, steps, &cal, err));
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
        rc = stepcache_tau(in->policy, &cal, in->text, in->n_tokens, in->text_dim, &tau, src,
                           sizeof src, err);
    for (int i = 0; rc == 0 && i < steps; i++)
        ts[i] = sampler_timestep(in->smp, i);
    if (rc == 0) {
        struct stepcache_plan_in p = {.policy = in->policy,
                                      .calib = &cal,
                                      .sampler = sampler,
                                      .steps = steps,
                                      .timesteps = ts,
                                      .guided = in->guided,
                                      .tau = tau,
                                      .tau_source = src,
                                      .time_embed = stepcache_family_time_embed,
                                      .user = in->model_handle,
                                      .dim = fi.dim};
        rc = stepcache_plan(&p, out, err);
    }
    free(ts);
    stepcache_calib_clear(&cal);
    if (rc < 0)
        df_err_prefix(err, "step cache (%s)", cache_policy_name(in->policy->policy));
    return rc;
}
