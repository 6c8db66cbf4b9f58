/*
 * sampler.c -- the sampler front end: names, config validation, lifetime,
 * step ordering, the convenience loop and the serialized state.  The
 * arithmetic of each kind lives in sampler_euler.c and sampler_unipc.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_int.h"

/* ------------------------------------------------------------------------ */
/* Names                                                                      */
/* ------------------------------------------------------------------------ */

static const char *const SOLVER_NAMES[] = {"bh1", "bh2"};
static const char *const FINAL_SIGMA_NAMES[] = {"zero", "sigma_min"};
_Static_assert(sizeof SOLVER_NAMES / sizeof SOLVER_NAMES[0] == SAMPLER_SOLVER_COUNT,
               "solver names");
_Static_assert(sizeof FINAL_SIGMA_NAMES / sizeof FINAL_SIGMA_NAMES[0] == SAMPLER_FINAL_SIGMA_COUNT,
               "final sigma names");

static const struct sampler_ops *const KIND_OPS[] = {&sampler_euler_ops, &sampler_unipc_ops,
                                                     &sampler_cogvideox_ddim_ops,
                                                     &sampler_cogvideox_dpm_ops};
_Static_assert(sizeof KIND_OPS / sizeof KIND_OPS[0] == SAMPLER_KIND_COUNT, "kind ops");

const char *sampler_solver_name(enum sampler_solver s)
{
    return (unsigned)s < SAMPLER_SOLVER_COUNT ? SOLVER_NAMES[s] : "?";
}

const char *sampler_final_sigma_name(enum sampler_final_sigma f)
{
    return (unsigned)f < SAMPLER_FINAL_SIGMA_COUNT ? FINAL_SIGMA_NAMES[f] : "?";
}

static int from_name(const char *what, const char *const *names, int count, const char *name,
                     int *out, struct df_err *err)
{
    for (int i = 0; name && i < count; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    char choices[128] = "";
    for (int i = 0; i < count; i++) {
        strncat(choices, i ? ", " : "", sizeof choices - strlen(choices) - 1);
        strncat(choices, names[i], sizeof choices - strlen(choices) - 1);
    }
    return df_err_set(err, DF_E_INVAL, "unknown %s '%s' (expected one of: %s)", what,
                      name ? name : "(null)", choices);
}

int sampler_solver_from_name(const char *name, enum sampler_solver *out, struct df_err *err)
{
    int v = 0;
    DF_TRY(from_name("solver type", SOLVER_NAMES, SAMPLER_SOLVER_COUNT, name, &v, err));
    *out = (enum sampler_solver)v;
    return 0;
}

int sampler_final_sigma_from_name(const char *name, enum sampler_final_sigma *out,
                                  struct df_err *err)
{
    int v = 0;
    DF_TRY(
        from_name("final sigma type", FINAL_SIGMA_NAMES, SAMPLER_FINAL_SIGMA_COUNT, name, &v, err));
    *out = (enum sampler_final_sigma)v;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Config and lifetime                                                        */
/* ------------------------------------------------------------------------ */

void sampler_config_init(struct sampler_config *cfg, enum sampler_kind kind)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->steps = 50;
    cfg->shift = 3.0;
    cfg->num_train_timesteps = 1000;
    cfg->solver_order = 2;
    cfg->solver = SAMPLER_SOLVER_BH2;
    cfg->lower_order_final = true;
    cfg->final_sigma = SAMPLER_FINAL_SIGMA_ZERO;
    cfg->disable_corrector = 0;
    cfg->ddpm = (struct sampler_ddpm_config){
        .beta_start = 0.00085,
        .beta_end = 0.012,
        .beta_schedule = SAMPLER_BETA_SCHEDULE_SCALED_LINEAR,
        .snr_shift_scale = kind == SAMPLER_KIND_COGVIDEOX_DPM ? 1.0 : 3.0,
        .rescale_betas_zero_snr = true,
        .set_alpha_to_one = true,
        .steps_offset = 0,
        .spacing = SAMPLER_SPACING_TRAILING,
        .prediction = SAMPLER_PREDICTION_V,
    };
}

static int config_check(const struct sampler_config *c, struct df_err *err)
{
    DF_FAIL_IF((unsigned)c->kind >= SAMPLER_KIND_COUNT, err, DF_E_INVAL, "sampler: unknown kind %d",
               (int)c->kind);
    DF_FAIL_IF(c->steps < 1 || c->steps > SAMPLER_MAX_STEPS, err, DF_E_RANGE,
               "sampler: steps %d out of range 1..%d", c->steps, SAMPLER_MAX_STEPS);
    DF_FAIL_IF(!(c->shift > 0.0) || !isfinite(c->shift), err, DF_E_RANGE,
               "sampler: shift %g must be a positive number", c->shift);
    DF_FAIL_IF(c->num_train_timesteps < 2 || c->num_train_timesteps > 1000000, err, DF_E_RANGE,
               "sampler: num_train_timesteps %d out of range 2..1000000", c->num_train_timesteps);
    if (KIND_OPS[c->kind]->check)
        DF_TRY(KIND_OPS[c->kind]->check(c, err));
    if (c->kind != SAMPLER_KIND_UNIPC)
        return 0;
    DF_FAIL_IF(c->solver_order < 1 || c->solver_order > SAMPLER_MAX_ORDER, err, DF_E_RANGE,
               "sampler: unipc solver_order %d out of range 1..%d", c->solver_order,
               SAMPLER_MAX_ORDER);
    DF_FAIL_IF((unsigned)c->solver >= SAMPLER_SOLVER_COUNT, err, DF_E_INVAL,
               "sampler: unknown unipc solver type %d", (int)c->solver);
    DF_FAIL_IF((unsigned)c->final_sigma >= SAMPLER_FINAL_SIGMA_COUNT, err, DF_E_INVAL,
               "sampler: unknown final sigma type %d", (int)c->final_sigma);
    /* diffusers yields NaN here: the last order>1 predictor divides by h = inf. */
    DF_FAIL_IF(!c->lower_order_final && c->solver_order > 1 &&
                   c->final_sigma == SAMPLER_FINAL_SIGMA_ZERO && c->steps > 1,
               err, DF_E_INVAL,
               "sampler: unipc with final sigma 'zero' needs lower_order_final "
               "(order %d would divide by an infinite step)",
               c->solver_order);
    /* ... and here B(h) = h = -inf multiplies a zero correction: NaN again. */
    DF_FAIL_IF(c->solver == SAMPLER_SOLVER_BH1 && c->final_sigma == SAMPLER_FINAL_SIGMA_ZERO, err,
               DF_E_INVAL, "sampler: unipc solver 'bh1' needs final sigma 'sigma_min'");
    return 0;
}

int sampler_create(const struct sampler_config *cfg, size_t offset, size_t n, size_t total,
                   sampler_t *out, struct df_err *err)
{
    *out = NULL;
    DF_TRY(config_check(cfg, err));
    DF_FAIL_IF(offset > total || n > total - offset, err, DF_E_RANGE,
               "sampler: shard [%zu, %zu) outside the latent's %zu elements", offset, offset + n,
               total);

    const struct sampler_ops *ops = KIND_OPS[cfg->kind];
    const int slots = ops->history_slots(cfg);
    struct sampler *s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->magic = SAMPLER_MAGIC;
    s->cfg = *cfg;
    s->offset = offset, s->n = n, s->total = total;
    s->sigmas = calloc((size_t)cfg->steps + 1, sizeof *s->sigmas);
    s->timesteps = calloc((size_t)cfg->steps, sizeof *s->timesteps);
    if (!s->sigmas || !s->timesteps)
        goto nomem;
    if (slots > 0 && n > 0) {
        if (n > SIZE_MAX / sizeof(float) / (size_t)slots)
            goto nomem;
        s->arena = calloc((size_t)slots * n, sizeof(float));
        if (!s->arena)
            goto nomem;
        for (int k = 0; k < slots - 1; k++)
            s->out[k] = s->arena + (size_t)k * n;
        s->last_sample = s->arena + (size_t)(slots - 1) * n;
    }
    if (ops->noise_draws && n > 0) {
        for (int k = 0; k < 2; k++)
            if (!(s->noise[k] = calloc(n, sizeof(float))))
                goto nomem;
    }
    if (cfg->kind == SAMPLER_KIND_COGVIDEOX_DDIM || cfg->kind == SAMPLER_KIND_COGVIDEOX_DPM) {
        s->alphas_cumprod = calloc((size_t)cfg->num_train_timesteps, sizeof(double));
        if (!s->alphas_cumprod)
            goto nomem;
    }
    ops->schedule(s);
    *out = s;
    return 0;
nomem:
    sampler_free(s);
    return df_err_set(err, DF_E_NOMEM, "sampler: out of memory for %s history of %zu elements",
                      sampler_kind_name(cfg->kind), n);
}

void sampler_free(sampler_t s)
{
    if (!s)
        return;
    free(s->sigmas);
    free(s->timesteps);
    free(s->arena);
    free(s->alphas_cumprod);
    free(s->noise[0]);
    free(s->noise[1]);
    s->magic = 0;
    free(s);
}

/* ------------------------------------------------------------------------ */
/* Schedule and stepping                                                      */
/* ------------------------------------------------------------------------ */

double sampler_linspace(double start, double stop, int num, int i)
{
    if (num > 1 && i == num - 1)
        return stop;
    if (num <= 1)
        return 0.0 * (stop - start) + start;
    const double step = (stop - start) / (double)(num - 1);
    return (double)i * step + start;
}

const struct sampler_config *sampler_get_config(const struct sampler *s)
{
    return &s->cfg;
}

int sampler_next_step(const struct sampler *s)
{
    return s->next_step;
}

float sampler_timestep(const struct sampler *s, int i)
{
    return i >= 0 && i < s->cfg.steps ? s->timesteps[i] : NAN;
}

float sampler_sigma(const struct sampler *s, int i)
{
    return i >= 0 && i <= s->cfg.steps ? s->sigmas[i] : NAN;
}

int sampler_step(sampler_t s, int i, const float *velocity, float *latent, size_t n,
                 struct df_err *err)
{
    DF_FAIL_IF(s->magic != SAMPLER_MAGIC, err, DF_E_INTERNAL, "sampler: handle is not alive");
    DF_FAIL_IF(i != s->next_step, err, DF_E_INVAL,
               "sampler: step %d requested but the next step is %d of %d", i, s->next_step,
               s->cfg.steps);
    DF_FAIL_IF(i >= s->cfg.steps, err, DF_E_INVAL, "sampler: all %d steps already taken",
               s->cfg.steps);
    DF_FAIL_IF(n != s->n, err, DF_E_INVAL,
               "sampler: step %d got %zu elements but the shard at offset %zu has %zu", i, n,
               s->offset, s->n);
    const int draws = sampler_noise_draws(s, i);
    DF_FAIL_IF(draws > 0 && !s->noise_fn, err, DF_E_INVAL,
               "sampler: %s step %d draws noise but no noise source is set",
               sampler_kind_name(s->cfg.kind), i);
    for (int k = 0; k < draws && s->n > 0; k++) {
        int rc = s->noise_fn(s->noise_user, i, k, s->offset, s->n, s->noise[k], err);
        if (rc < 0) {
            df_err_prefix(err, "sampler step %d noise draw %d", i, k);
            return rc;
        }
    }
    KIND_OPS[s->cfg.kind]->step(s, i, velocity, latent);
    s->next_step++;
    return 0;
}

void sampler_set_noise(sampler_t s, sampler_noise_fn fn, void *user)
{
    s->noise_fn = fn;
    s->noise_user = fn ? user : NULL;
}

int sampler_noise_draws(const struct sampler *s, int i)
{
    const struct sampler_ops *ops = KIND_OPS[s->cfg.kind];
    return ops->noise_draws && i >= 0 && i < s->cfg.steps ? ops->noise_draws(s, i) : 0;
}

int sampler_run(sampler_t s, sampler_model_fn model, void *user, float *latent, struct df_err *err)
{
    float *velocity = malloc((s->n ? s->n : 1) * sizeof *velocity);
    int rc = 0;
    if (!velocity)
        return df_err_set(err, DF_E_NOMEM, "sampler: out of memory for %zu velocities", s->n);
    for (int i = s->next_step; i < s->cfg.steps && rc == 0; i++) {
        rc = model(user, latent, s->timesteps[i], velocity, err);
        if (rc < 0) {
            df_err_prefix(err, "sampler step %d/%d (t=%g)", i, s->cfg.steps,
                          (double)s->timesteps[i]);
            break;
        }
        rc = sampler_step(s, i, velocity, latent, s->n, err);
    }
    free(velocity);
    return rc;
}
