/*
 * calibrate.c -- `ditfarm-worker calibrate`'s engine (calibrate.h): uncached
 * guided runs on a few prompts, per-step records, and the three fits.
 */
#include "calibrate.h"

#include "cfg.h"
#include "df_version.h"
#include "noise.h"
#include "text_embed.h"
#include "wan_model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_prompts[] = {
    "a cat sleeping on a windowsill",
    "a red sun rising over a calm sea",
    "a crowded night market in the rain, neon signs reflected in puddles, people with "
    "umbrellas walking past food stalls, steam rising, slow dolly shot",
    "two astronauts repairing a satellite above the earth while a storm swirls below, "
    "sunlight glinting on their visors, cinematic wide shot",
    "a blue forest in the wind, slow camera pan",
    "close-up of hands kneading dough on a wooden table, flour dust in the light",
    "a lighthouse",
    "a marching band crossing a bridge at sunset, confetti, drone shot circling overhead",
};
#define N_BUILTIN ((int)(sizeof k_prompts / sizeof k_prompts[0]))

int calibrate_builtin_count(void)
{
    return N_BUILTIN;
}

const char *calibrate_builtin_prompt(int i)
{
    return i >= 0 && i < N_BUILTIN ? k_prompts[i] : NULL;
}

void calibrate_opts_init(struct calibrate_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sampler = SAMPLER_KIND_EULER;
    o->steps = 50;
    o->shift = 3.0;
    o->n_prompts = 4;
    o->latent[0] = 3, o->latent[1] = 8, o->latent[2] = 8;
    o->guidance = 5.0;
    o->backend = "cpu";
}

/* Everything one calibration holds; freed by ctx_free. */
struct ctx {
    const struct calibrate_opts *o;
    kern_backend_t be;           /* owned, when the model is loaded here */
    kern_backend_t be_use;       /* the model's backend */
    struct wan_model *m, *own_m; /* the model; own_m when loaded here */
    struct wan_shape sh;
    int P, N, dim, text_len, text_dim;
    size_t latent_n, hid_n;
    float *text[2], *latent, *out[2], *vel, *x_in, *x_out, *r_prev[2], *v_prev[2];
    /* records, [P][N] (rel_r: [P][2][N]) */
    double *rel_e, *rel_e0, *rel_r, *q;
};

static void ctx_free(struct ctx *c)
{
    void *p[] = {c->text[0], c->text[1], c->latent,    c->out[0],    c->out[1],    c->vel,
                 c->x_in,    c->x_out,   c->r_prev[0], c->r_prev[1], c->v_prev[0], c->v_prev[1],
                 c->rel_e,   c->rel_e0,  c->rel_r,     c->q};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        free(p[i]);
    wan_model_free(c->own_m);
    kern_backend_free(c->be);
}

static double rel_l1(const float *cur, const float *prev, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += fabs((double)cur[i] - (double)prev[i]);
        den += fabs((double)prev[i]);
    }
    return den > 0 ? num / den : 0.0;
}

static int ctx_setup(struct ctx *c, struct df_err *err)
{
    const struct calibrate_opts *o = c->o;
    if (!c->m) {
        DF_TRY(kern_backend_create(o->backend ? o->backend : "cpu", o->threads, &c->be, err));
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/transformer", o->model_dir);
        DF_TRY(wan_model_load(c->be, dir, &c->own_m, err));
        c->m = c->own_m;
    }
    const struct wan_config *w = wan_model_config(c->m);
    c->dim = w->dim;
    c->text_dim = w->text_dim;
    c->text_len = 16;
    c->sh = (struct wan_shape){.frames = o->latent[0],
                               .height = o->latent[1],
                               .width = o->latent[2],
                               .text_len = c->text_len};
    long long S = wan_config_tokens(w, o->latent[0], o->latent[1], o->latent[2], err);
    DF_TRY((int)(S < 0 ? S : 0));
    DF_TRY(wan_model_reserve(c->m, &c->sh, err));
    c->P = o->prompts ? o->n_prompts : (o->n_prompts < N_BUILTIN ? o->n_prompts : N_BUILTIN);
    c->N = o->steps;
    c->latent_n = (size_t)w->in_channels * o->latent[0] * o->latent[1] * o->latent[2];
    c->hid_n = (size_t)S * c->dim;
    const size_t tn = (size_t)c->text_len * c->text_dim, rec = (size_t)c->P * c->N;
    struct {
        void **p;
        size_t bytes;
    } a[] = {{(void **)&c->text[0], tn * 4},
             {(void **)&c->text[1], tn * 4},
             {(void **)&c->latent, c->latent_n * 4},
             {(void **)&c->out[0], c->latent_n * 4},
             {(void **)&c->out[1], c->latent_n * 4},
             {(void **)&c->vel, c->latent_n * 4},
             {(void **)&c->x_in, c->hid_n * 4},
             {(void **)&c->x_out, c->hid_n * 4},
             {(void **)&c->r_prev[0], c->hid_n * 4},
             {(void **)&c->r_prev[1], c->hid_n * 4},
             {(void **)&c->v_prev[0], (size_t)7 * c->dim * 4},
             {(void **)&c->v_prev[1], (size_t)7 * c->dim * 4},
             {(void **)&c->rel_e, rec * 8},
             {(void **)&c->rel_e0, rec * 8},
             {(void **)&c->rel_r, 2 * rec * 8},
             {(void **)&c->q, rec * 8}};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        *a[i].p = calloc(1, a[i].bytes ? a[i].bytes : 1);
        DF_FAIL_IF(!*a[i].p, err, DF_E_NOMEM, "calibrate: out of memory");
    }
    return 0;
}

/* One branch at step i of prompt p: uncached forward, recording R's change. */
static int branch_pass(struct ctx *c, int p, int i, int b, float t, struct df_err *err)
{
    DF_TRY(wan_model_embed(c->m, &c->sh, c->latent, t, c->text[b], err));
    if (b == 0) { /* e and e0 are the same for both branches */
        float *cur = c->v_prev[i & 1], *prev = c->v_prev[!(i & 1)];
        memcpy(cur, wan_model_temb(c->m), (size_t)c->dim * 4);
        memcpy(cur + c->dim, wan_model_timestep_proj(c->m), (size_t)6 * c->dim * 4);
        c->rel_e[p * c->N + i] = i ? rel_l1(cur, prev, (size_t)c->dim) : 0.0;
        c->rel_e0[p * c->N + i] = i ? rel_l1(cur + c->dim, prev + c->dim, (size_t)6 * c->dim) : 0.0;
    }
    int64_t rows = 0;
    float *x = wan_model_hidden(c->m, &rows);
    DF_TRY(kern_download(c->be_use, c->x_in, x, c->hid_n, err));
    DF_TRY(wan_model_blocks(c->m, err));
    DF_TRY(kern_download(c->be_use, c->x_out, x, c->hid_n, err));
    for (size_t k = 0; k < c->hid_n; k++)
        c->x_out[k] -= c->x_in[k]; /* R this step */
    c->rel_r[((size_t)p * 2 + b) * c->N + i] = i ? rel_l1(c->x_out, c->r_prev[b], c->hid_n) : 0.0;
    memcpy(c->r_prev[b], c->x_out, c->hid_n * 4);
    return wan_model_head(c->m, c->out[b], err);
}

static int run_prompt(struct ctx *c, int p, struct df_err *err)
{
    const struct calibrate_opts *o = c->o;
    const char *prompt = o->prompts ? o->prompts[p] : k_prompts[p];
    int n;
    text_embed_derive(prompt, c->text_len, c->text_dim, c->text[0], &n);
    text_embed_derive("", c->text_len, c->text_dim, c->text[1], &n);
    noise_fill(o->seed + (uint64_t)p, 0, c->latent_n, c->latent);
    struct sampler_config sc;
    sampler_config_init(&sc, o->sampler);
    sc.steps = o->steps;
    sc.shift = o->shift;
    sampler_t smp = NULL;
    DF_TRY(sampler_create(&sc, 0, c->latent_n, c->latent_n, &smp, err));
    int rc = 0;
    for (int i = 0; i < c->N && rc == 0; i++) {
        const float t = sampler_timestep(smp, i);
        for (int b = 0; b < 2 && rc == 0; b++)
            rc = branch_pass(c, p, i, b, t, err);
        if (rc < 0)
            break;
        c->q[p * c->N + i] = rel_l1(c->out[1], c->out[0], c->latent_n);
        cfg_combine(c->out[0], c->out[1], (float)o->guidance, c->latent_n, c->vel);
        rc = sampler_step(smp, i, c->vel, c->latent, c->latent_n, err);
    }
    sampler_free(smp);
    if (rc < 0)
        df_err_prefix(err, "calibration prompt %d", p);
    return rc;
}

/* ---- fits ------------------------------------------------------------------- */

static double rms_poly(const double *cf, const double *x, const double *y, int m)
{
    double s = 0;
    for (int i = 0; i < m; i++) {
        double d = stepcache_poly_eval(cf, x[i]) - y[i];
        s += d * d;
    }
    return m ? sqrt(s / m) : 0.0;
}

static cJSON *per_step_mean(const struct ctx *c, const double *rec, size_t stride, size_t off)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < c->N; i++) {
        double s = 0;
        for (int p = 0; p < c->P; p++)
            s += rec[p * stride + off + i];
        cJSON_AddItemToArray(a, cJSON_CreateNumber(s / c->P));
    }
    return a;
}

static int fit_all(struct ctx *c, struct stepcache_calib *out, cJSON *prov, struct df_err *err)
{
    const int m = c->P * 2 * (c->N - 1);
    double *xe = malloc((size_t)m * 8), *xe0 = malloc((size_t)m * 8), *y = malloc((size_t)m * 8);
    int *st = malloc((size_t)m * sizeof(int));
    int rc = 0;
    if (!xe || !xe0 || !y || !st) {
        rc = df_err_set(err, DF_E_NOMEM, "calibrate: out of memory");
        goto done;
    }
    int k = 0;
    for (int p = 0; p < c->P; p++)
        for (int b = 0; b < 2; b++)
            for (int i = 1; i < c->N; i++, k++) {
                xe[k] = c->rel_e[p * c->N + i];
                xe0[k] = c->rel_e0[p * c->N + i];
                y[k] = c->rel_r[((size_t)p * 2 + b) * c->N + i];
                st[k] = i;
            }
    rc = stepcache_fit_poly(xe, y, m, out->poly[CACHE_MODE_E], err);
    if (rc == 0)
        rc = stepcache_fit_poly(xe0, y, m, out->poly[CACHE_MODE_E0], err);
    if (rc == 0)
        rc = stepcache_fit_steps(xe0, st, y, m, &out->fit_b, out->fit_w, err);
    if (rc < 0)
        goto done;
    out->has_poly[CACHE_MODE_E] = out->has_poly[CACHE_MODE_E0] = out->has_fit = 1;
    double s = 0;
    for (int i = 0; i < m; i++) {
        double d = stepcache_fit_eval(out->fit_b, out->fit_w, xe0[i], st[i]) - y[i];
        s += d * d;
    }
    cJSON *r = cJSON_AddObjectToObject(prov, "rms_error");
    cJSON_AddNumberToObject(r, "teacache_e", rms_poly(out->poly[CACHE_MODE_E], xe, y, m));
    cJSON_AddNumberToObject(r, "teacache_e0", rms_poly(out->poly[CACHE_MODE_E0], xe0, y, m));
    cJSON_AddNumberToObject(r, "prompttea_fit", sqrt(s / m));
    cJSON_AddNumberToObject(prov, "points", m);
done:
    free(xe);
    free(xe0);
    free(y);
    free(st);
    return rc;
}

static cJSON *provenance_json(const struct ctx *c)
{
    const struct calibrate_opts *o = c->o;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "tool", "ditfarm-worker calibrate " DITFARM_VERSION);
    cJSON_AddStringToObject(j, "model_dir", o->model_dir ? o->model_dir : "(in memory)");
    cJSON_AddNumberToObject(j, "guidance", o->guidance);
    cJSON *lat = cJSON_AddArrayToObject(j, "latent");
    for (int i = 0; i < 3; i++)
        cJSON_AddItemToArray(lat, cJSON_CreateNumber(o->latent[i]));
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON *pr = cJSON_AddArrayToObject(j, "prompts");
    for (int p = 0; p < c->P; p++)
        cJSON_AddItemToArray(pr, cJSON_CreateString(o->prompts ? o->prompts[p] : k_prompts[p]));
    cJSON_AddStringToObject(j, "text", "text_embed_derive (no text encoder)");
    cJSON_AddStringToObject(j, "target",
                            "rel-L1 of the block-stack residual between consecutive steps, "
                            "both branches");
    cJSON_AddStringToObject(j, "cfg_table",
                            "mean over prompts of mean|v_uncond - v_cond| / mean|v_cond|");
    cJSON *ps = cJSON_AddObjectToObject(j, "per_step_mean");
    cJSON_AddItemToObject(ps, "rel_e", per_step_mean(c, c->rel_e, (size_t)c->N, 0));
    cJSON_AddItemToObject(ps, "rel_e0", per_step_mean(c, c->rel_e0, (size_t)c->N, 0));
    cJSON_AddItemToObject(ps, "rel_residual_cond", per_step_mean(c, c->rel_r, 2 * (size_t)c->N, 0));
    cJSON_AddItemToObject(ps, "rel_residual_uncond",
                          per_step_mean(c, c->rel_r, 2 * (size_t)c->N, (size_t)c->N));
    return j;
}

static int run(const struct calibrate_opts *o, kern_backend_t be, struct wan_model *m,
               struct stepcache_calib *out, struct cJSON **provenance, struct df_err *err);

int calibrate_run(const struct calibrate_opts *o, struct stepcache_calib *out,
                  struct cJSON **provenance, struct df_err *err)
{
    return run(o, NULL, NULL, out, provenance, err);
}

int calibrate_run_model(const struct calibrate_opts *o, kern_backend_t be, struct wan_model *m,
                        struct stepcache_calib *out, struct cJSON **provenance, struct df_err *err)
{
    return run(o, be, m, out, provenance, err);
}

static int run(const struct calibrate_opts *o, kern_backend_t be, struct wan_model *m,
               struct stepcache_calib *out, struct cJSON **provenance, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    *provenance = NULL;
    DF_FAIL_IF(!o->model_dir && !m, err, DF_E_INVAL, "calibrate: no model folder");
    DF_FAIL_IF(o->steps < 3 || o->steps > STEPCACHE_MAX_STEPS, err, DF_E_INVAL,
               "calibrate: %d steps (3..%d)", o->steps, STEPCACHE_MAX_STEPS);
    DF_FAIL_IF(o->n_prompts < 1, err, DF_E_INVAL, "calibrate: no prompts");
    DF_FAIL_IF(!(o->guidance > 1.0), err, DF_E_INVAL,
               "calibrate: guidance %g: the CFG table needs both branches (> 1)", o->guidance);
    struct ctx c = {.o = o, .m = m};
    int rc = ctx_setup(&c, err);
    c.be_use = be ? be : c.be;
    for (int p = 0; rc == 0 && p < c.P; p++)
        rc = run_prompt(&c, p, err);
    cJSON *prov = NULL;
    if (rc == 0) {
        prov = provenance_json(&c);
        rc = prov ? fit_all(&c, out, prov, err) : df_err_set(err, DF_E_NOMEM, "out of memory");
    }
    if (rc == 0) {
        const char *dir = o->model_dir ? o->model_dir : "model";
        const char *slash = strrchr(dir, '/');
        const char *name = o->model_name ? o->model_name : slash && slash[1] ? slash + 1 : dir;
        snprintf(out->model, sizeof out->model, "%s", name);
        snprintf(out->source, sizeof out->source,
                 "ditfarm-worker calibrate: %d prompts, %s %d steps shift %g, guidance %g", c.P,
                 sampler_kind_name(o->sampler), o->steps, o->shift, o->guidance);
        snprintf(out->sampler, sizeof out->sampler, "%s", sampler_kind_name(o->sampler));
        out->steps = o->steps;
        out->shift = o->shift;
        out->cfg_table = malloc((size_t)c.N * sizeof(double));
        if (!out->cfg_table)
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        for (int i = 0; rc == 0 && i < c.N; i++) {
            double s = 0;
            for (int p = 0; p < c.P; p++)
                s += c.q[p * c.N + i];
            out->cfg_table[i] = s / c.P;
        }
    }
    ctx_free(&c);
    if (rc < 0) {
        cJSON_Delete(prov);
        stepcache_calib_clear(out);
        return rc;
    }
    *provenance = prov;
    return 0;
}
