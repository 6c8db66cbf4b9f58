/* render_sched.c -- scheduler_config.json -> sampler settings, logged (render_sched.h). */
#include "render_sched.h"

#include "render_int.h"

#include "model_folder.h"
#include "sampler_json.h"

#include <math.h>
#include <stdio.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

/* The CogVideoX kinds take every scheduler setting (betas, SNR shift,
 * spacing, prediction) from the model's own scheduler_config.json when it
 * names one of the two CogVideoX schedulers (sampler_json.h). */
static int apply_ddpm(struct render *r, struct sampler_config *sc, struct df_err *err)
{
    char path[PATH_MAX + 40];
    snprintf(path, sizeof(path), "%s/scheduler/scheduler_config.json", r->md->dir);
    if (access(path, R_OK) != 0)
        return 0;
    struct sampler_config fc;
    DF_TRY(sampler_config_load_json(path, &fc, err));
    if (fc.kind != SAMPLER_KIND_COGVIDEOX_DDIM && fc.kind != SAMPLER_KIND_COGVIDEOX_DPM)
        return 0;
    sc->ddpm = fc.ddpm;
    sc->num_train_timesteps = fc.num_train_timesteps;
    if (render_is_root(r))
        DF_INFO(r->log, "shot %s: %s: %s, snr_shift_scale %g, %s spacing, running %s",
                r->shot->id, path, fc.kind == SAMPLER_KIND_COGVIDEOX_DPM
                                       ? "CogVideoXDPMScheduler" : "CogVideoXDDIMScheduler",
                fc.ddpm.snr_shift_scale,
                fc.ddpm.spacing == SAMPLER_SPACING_TRAILING ? "trailing" : "other",
                sampler_kind_name(sc->kind));
    return 0;
}

int render_sched_apply(struct render *r, struct sampler_config *sc, struct df_err *err)
{
    /* CogVideoX predicts v on the discrete DDPM schedule, Wan a flow velocity:
     * the other family's sampler would run without error and make noise. */
    const int ddpm = sc->kind == SAMPLER_KIND_COGVIDEOX_DDIM || sc->kind == SAMPLER_KIND_COGVIDEOX_DPM;
    DF_FAIL_IF(r->lat->dims.layout == 1 && !ddpm, err, DF_E_INVAL,
               "sampler %s is a flow-matching sampler; CogVideoX models need sampler: "
               "cogvideox_ddim (2B) or cogvideox_dpm (5B)",
               sampler_kind_name(sc->kind));
    DF_FAIL_IF(r->lat->dims.layout != 1 && ddpm, err, DF_E_INVAL,
               "sampler %s is for CogVideoX models; this model takes euler or unipc",
               sampler_kind_name(sc->kind));
    if (ddpm)
        return apply_ddpm(r, sc, err);
    struct model_folder f;
    DF_TRY(model_folder_read(r->md->dir, &f, err));
    const struct model_folder_sched *m = &f.sched;
    if (!m->class_name[0])
        return 0;
    const char *file = "scheduler/scheduler_config.json";
    if (sc->kind == SAMPLER_KIND_UNIPC && m->sampler && !strcmp(m->sampler, "unipc")) {
        if (m->solver_order) {
            DF_FAIL_IF(m->solver_order > SAMPLER_MAX_ORDER, err, DF_E_RANGE,
                       "%s/%s: solver_order %d (this sampler goes up to %d)", r->md->dir, file,
                       m->solver_order, SAMPLER_MAX_ORDER);
            sc->solver_order = m->solver_order;
        }
        if (m->solver_type[0]) {
            int rc = sampler_solver_from_name(m->solver_type, &sc->solver, err);
            if (rc < 0) {
                df_err_prefix(err, "%s/%s: solver_type", r->md->dir, file);
                return rc;
            }
        }
        if (m->final_sigmas_type[0]) {
            int rc = sampler_final_sigma_from_name(m->final_sigmas_type, &sc->final_sigma, err);
            if (rc < 0) {
                df_err_prefix(err, "%s/%s: final_sigmas_type", r->md->dir, file);
                return rc;
            }
        }
        if (m->lower_order_final >= 0)
            sc->lower_order_final = m->lower_order_final;
    }
    if (!render_is_root(r))
        return 0;
    const char *ran = sampler_kind_name(sc->kind);
    int same_kind = m->sampler && !strcmp(m->sampler, ran);
    int same_shift = !m->has_flow_shift || fabs(m->flow_shift - sc->shift) < 1e-9;
    DF_INFO(r->log,
            "shot %s: %s says %s (flow shift %s%.3g, solver order %d %s, spacing %s); running %s "
            "shift %.3g, order %d %s%s",
            r->shot->id, file, m->class_name, m->has_flow_shift ? "" : "unset ",
            m->has_flow_shift ? m->flow_shift : 0.0, m->solver_order,
            m->solver_type[0] ? m->solver_type : "-",
            m->timestep_spacing[0] ? m->timestep_spacing : "-", ran, sc->shift, sc->solver_order,
            sampler_solver_name(sc->solver),
            same_kind && same_shift ? " (the model's defaults)"
            : !m->sampler           ? " (no ditfarm sampler for that class: the manifest's)"
                                    : " (the manifest overrides the model)");
    return 0;
}
