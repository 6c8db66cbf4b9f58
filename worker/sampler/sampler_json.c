/*
 * sampler_json.c -- scheduler_config.json -> struct sampler_config.
 *
 * ref: diffusers/schedulers (0.42.1) __init__ defaults of
 *      FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler,
 *      CogVideoXDDIMScheduler, CogVideoXDPMScheduler.
 */
#include "sampler_json.h"

#include "textfile.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct reader {
    const char *path;
    const cJSON *root;
    struct df_err *err;
};

static int num(const struct reader *r, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    DF_FAIL_IF(!cJSON_IsNumber(v), r->err, DF_E_PARSE, "%s: key '%s' must be a number", r->path,
               key);
    *out = v->valuedouble;
    return 0;
}

static int integer(const struct reader *r, const char *key, int *out)
{
    double d = *out;
    DF_TRY(num(r, key, &d));
    DF_FAIL_IF(d != floor(d) || fabs(d) > 1e9, r->err, DF_E_PARSE,
               "%s: key '%s' must be an integer", r->path, key);
    *out = (int)d;
    return 0;
}

static int boolean(const struct reader *r, const char *key, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    DF_FAIL_IF(!cJSON_IsBool(v), r->err, DF_E_PARSE, "%s: key '%s' must be true or false",
               r->path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A string key among names[0..n) -> its index; absent keeps *out. */
static int choice(const struct reader *r, const char *key, const char *const *names, int n,
                  int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    DF_FAIL_IF(!cJSON_IsString(v), r->err, DF_E_PARSE, "%s: key '%s' must be a string", r->path,
               key);
    for (int i = 0; i < n; i++)
        if (strcmp(v->valuestring, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return df_err_set(r->err, DF_E_UNSUPPORTED, "%s: %s '%s' is not supported", r->path, key,
                      v->valuestring);
}

static int parse_ddpm(const struct reader *r, struct sampler_config *c)
{
    struct sampler_ddpm_config *d = &c->ddpm;
    /* __init__ defaults of both CogVideoX schedulers (not the model repos'). */
    *d = (struct sampler_ddpm_config){.beta_start = 0.00085, .beta_end = 0.012,
                                      .beta_schedule = SAMPLER_BETA_SCHEDULE_SCALED_LINEAR,
                                      .snr_shift_scale = 3.0, .set_alpha_to_one = true,
                                      .spacing = SAMPLER_SPACING_LEADING,
                                      .prediction = SAMPLER_PREDICTION_EPSILON};
    static const char *const sched[] = {"linear", "scaled_linear"};
    static const char *const spacing[] = {"linspace", "leading", "trailing"};
    static const char *const pred[] = {"epsilon", "sample", "v_prediction"};
    int bs = (int)d->beta_schedule, sp = (int)d->spacing, pr = (int)d->prediction;
    DF_TRY(integer(r, "num_train_timesteps", &c->num_train_timesteps));
    DF_TRY(num(r, "beta_start", &d->beta_start));
    DF_TRY(num(r, "beta_end", &d->beta_end));
    DF_TRY(choice(r, "beta_schedule", sched, 2, &bs));
    DF_TRY(num(r, "snr_shift_scale", &d->snr_shift_scale));
    DF_TRY(boolean(r, "rescale_betas_zero_snr", &d->rescale_betas_zero_snr));
    DF_TRY(boolean(r, "set_alpha_to_one", &d->set_alpha_to_one));
    DF_TRY(integer(r, "steps_offset", &d->steps_offset));
    DF_TRY(choice(r, "timestep_spacing", spacing, 3, &sp));
    DF_TRY(choice(r, "prediction_type", pred, 3, &pr));
    d->beta_schedule = (enum sampler_beta_schedule)bs;
    d->spacing = (enum sampler_spacing)sp;
    d->prediction = (enum sampler_prediction)pr;
    const cJSON *tb = cJSON_GetObjectItemCaseSensitive(r->root, "trained_betas");
    DF_FAIL_IF(tb && !cJSON_IsNull(tb), r->err, DF_E_UNSUPPORTED,
               "%s: trained_betas is not supported", r->path);
    /* clip_sample is read by neither CogVideoX step; thresholding likewise. */
    return 0;
}

static int parse_unipc(const struct reader *r, struct sampler_config *c)
{
    bool flow = false;
    int pr = 0, solver = 1, final = 0;
    static const char *const preds[] = {"flow_prediction", "epsilon", "v_prediction", "sample"};
    static const char *const solvers[] = {"bh1", "bh2"};
    static const char *const finals[] = {"zero", "sigma_min"};
    DF_TRY(boolean(r, "use_flow_sigmas", &flow));
    pr = 1; /* diffusers' default prediction_type is epsilon */
    DF_TRY(choice(r, "prediction_type", preds, 4, &pr));
    DF_FAIL_IF(!flow || pr != 0, r->err, DF_E_UNSUPPORTED,
               "%s: only the flow variant of UniPC (use_flow_sigmas true, prediction_type "
               "flow_prediction) is supported",
               r->path);
    c->solver_order = 2;
    DF_TRY(integer(r, "solver_order", &c->solver_order));
    DF_TRY(choice(r, "solver_type", solvers, 2, &solver));
    DF_TRY(boolean(r, "lower_order_final", &c->lower_order_final));
    DF_TRY(choice(r, "final_sigmas_type", finals, 2, &final));
    c->solver = (enum sampler_solver)solver;
    c->final_sigma = (enum sampler_final_sigma)final;
    c->shift = 1.0;
    DF_TRY(num(r, "flow_shift", &c->shift));
    return integer(r, "num_train_timesteps", &c->num_train_timesteps);
}

static int parse(const struct reader *r, struct sampler_config *c)
{
    DF_FAIL_IF(!cJSON_IsObject(r->root), r->err, DF_E_PARSE, "%s: not a JSON object", r->path);
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(r->root, "_class_name");
    DF_FAIL_IF(!cJSON_IsString(cls), r->err, DF_E_PARSE, "%s: no string key '_class_name'",
               r->path);
    static const struct {
        const char *cls;
        enum sampler_kind kind;
    } kinds[] = {{"FlowMatchEulerDiscreteScheduler", SAMPLER_KIND_EULER},
                 {"UniPCMultistepScheduler", SAMPLER_KIND_UNIPC},
                 {"CogVideoXDDIMScheduler", SAMPLER_KIND_COGVIDEOX_DDIM},
                 {"CogVideoXDPMScheduler", SAMPLER_KIND_COGVIDEOX_DPM}};
    int k = -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(cls->valuestring, kinds[i].cls) == 0)
            k = (int)i;
    DF_FAIL_IF(k < 0, r->err, DF_E_UNSUPPORTED, "%s: scheduler '%s' is not supported", r->path,
               cls->valuestring);
    sampler_config_init(c, kinds[k].kind);
    switch (kinds[k].kind) {
    case SAMPLER_KIND_EULER:
        c->shift = 1.0;
        DF_TRY(num(r, "shift", &c->shift));
        return integer(r, "num_train_timesteps", &c->num_train_timesteps);
    case SAMPLER_KIND_UNIPC:
        return parse_unipc(r, c);
    default:
        return parse_ddpm(r, c);
    }
}

int sampler_config_load_json(const char *path, struct sampler_config *out, struct df_err *err)
{
    char *text;
    DF_TRY(textfile_read(path, (size_t)1 << 20, &text, NULL, err));
    cJSON *root = cJSON_Parse(text);
    free(text);
    int rc;
    if (!root) {
        rc = df_err_set(err, DF_E_PARSE, "%s: not valid JSON", path);
    } else {
        struct reader r = {path, root, err};
        rc = parse(&r, out);
    }
    cJSON_Delete(root);
    return rc;
}
