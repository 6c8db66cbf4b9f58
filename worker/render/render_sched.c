/* render_sched.c -- scheduler_config.json -> sampler settings, logged (render_sched.h). */
#include "render_sched.h"

#include "render_int.h"

#include "model_folder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int render_sched_apply(struct render *r, struct sampler_config *sc, struct df_err *err)
{
    struct model_folder f;
    DF_TRY(model_folder_read(r->model_dir, &f, err));
    const struct model_folder_sched *m = &f.sched;
    if (!m->class_name[0])
        return 0;
    const char *file = "scheduler/scheduler_config.json";
    if (sc->kind == SAMPLER_KIND_UNIPC && m->sampler && !strcmp(m->sampler, "unipc")) {
        if (m->solver_order) {
            DF_FAIL_IF(m->solver_order > SAMPLER_MAX_ORDER, err, DF_E_RANGE,
                       "%s/%s: solver_order %d (this sampler goes up to %d)", r->model_dir, file,
                       m->solver_order, SAMPLER_MAX_ORDER);
            sc->solver_order = m->solver_order;
        }
        if (m->solver_type[0]) {
            int rc = sampler_solver_from_name(m->solver_type, &sc->solver, err);
            if (rc < 0) {
                df_err_prefix(err, "%s/%s: solver_type", r->model_dir, file);
                return rc;
            }
        }
        if (m->final_sigmas_type[0]) {
            int rc = sampler_final_sigma_from_name(m->final_sigmas_type, &sc->final_sigma, err);
            if (rc < 0) {
                df_err_prefix(err, "%s/%s: final_sigmas_type", r->model_dir, file);
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
