/* model_folder.c -- a diffusers model folder's parts and whether they fit (model_folder.h). */
#include "model_folder.h"

#include "textfile.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FOLDER_JSON_MAX ((size_t)1 << 20)

/* The scheduler classes ditfarm's samplers implement (sampler names as the
 * manifest spells them; the CogVideoX ones have no flow shift). */
static const struct {
    const char *class_name, *sampler, *shift_key;
} k_sched[] = {{"UniPCMultistepScheduler", "unipc", "flow_shift"},
               {"FlowMatchEulerDiscreteScheduler", "euler", "shift"},
               {"CogVideoXDDIMScheduler", "cogvideox_ddim", NULL},
               {"CogVideoXDPMScheduler", "cogvideox_dpm", NULL}};

static int exists(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return access(p, R_OK) == 0;
}

/* The JSON object in dir/rel, or NULL (*rc 0) when the file is absent. */
static cJSON *read_json(const char *dir, const char *rel, int *rc, struct df_err *err)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *text = NULL;
    size_t len = 0;
    struct df_err e = {0};
    *rc = textfile_read(p, FOLDER_JSON_MAX, &text, &len, &e);
    if (*rc == DF_E_NOTFOUND) {
        *rc = 0;
        return NULL;
    }
    if (*rc < 0) {
        if (err)
            *err = e;
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        *rc = df_err_set(err, DF_E_PARSE, "%s: not a JSON object", p);
        return NULL;
    }
    return j;
}

static int get_pos_int(const char *dir, const char *rel, const cJSON *o, const char *key,
                       int *out, struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        return 0;
    DF_FAIL_IF(!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
                   v->valuedouble < 1 || v->valuedouble > (1 << 20),
               err, DF_E_RANGE, "%s/%s: key '%s' must be an integer in [1, %d]", dir, rel, key,
               1 << 20);
    *out = (int)v->valuedouble;
    return 0;
}

static void get_str(const cJSON *o, const char *key, char *dst, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v))
        snprintf(dst, cap, "%s", v->valuestring);
}

static int read_sched(const char *dir, struct model_folder_sched *s, struct df_err *err)
{
    static const char rel[] = "scheduler/scheduler_config.json";
    int rc;
    cJSON *j = read_json(dir, rel, &rc, err);
    if (!j)
        return rc;
    get_str(j, "_class_name", s->class_name, sizeof s->class_name);
    get_str(j, "solver_type", s->solver_type, sizeof s->solver_type);
    get_str(j, "timestep_spacing", s->timestep_spacing, sizeof s->timestep_spacing);
    get_str(j, "final_sigmas_type", s->final_sigmas_type, sizeof s->final_sigmas_type);
    const cJSON *lof = cJSON_GetObjectItemCaseSensitive(j, "lower_order_final");
    s->lower_order_final = cJSON_IsBool(lof) ? cJSON_IsTrue(lof) : -1;
    rc = get_pos_int(dir, rel, j, "solver_order", &s->solver_order, err);
    for (size_t i = 0; rc == 0 && i < sizeof k_sched / sizeof k_sched[0]; i++) {
        if (strcmp(s->class_name, k_sched[i].class_name))
            continue;
        s->sampler = k_sched[i].sampler;
        const cJSON *v =
            k_sched[i].shift_key ? cJSON_GetObjectItemCaseSensitive(j, k_sched[i].shift_key) : NULL;
        if (v && !cJSON_IsNull(v)) {
            if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || v->valuedouble > 100)
                rc = df_err_set(err, DF_E_RANGE, "%s/%s: key '%s' must be a number in (0, 100]",
                                dir, rel, k_sched[i].shift_key);
            s->has_flow_shift = 1;
            s->flow_shift = v->valuedouble;
        }
    }
    cJSON_Delete(j);
    return rc;
}

int model_folder_read(const char *dir, struct model_folder *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    out->has_index = exists(dir, "model_index.json");
    out->has_tokenizer =
        exists(dir, "tokenizer/tokenizer.json") || exists(dir, "tokenizer/spiece.model");
    int rc;
    cJSON *j = read_json(dir, "text_encoder/config.json", &rc, err);
    DF_TRY(rc);
    if (j) {
        out->has_text_encoder = 1;
        out->text_d_model = 512; /* transformers' T5Config / UMT5Config default */
        rc = get_pos_int(dir, "text_encoder/config.json", j, "d_model", &out->text_d_model, err);
        cJSON_Delete(j);
        DF_TRY(rc);
    }
    j = read_json(dir, "vae/config.json", &rc, err);
    DF_TRY(rc);
    if (j) {
        const char *key = cJSON_GetObjectItemCaseSensitive(j, "z_dim") ? "z_dim" : "latent_channels";
        rc = get_pos_int(dir, "vae/config.json", j, key, &out->vae_z_dim, err);
        cJSON_Delete(j);
        DF_TRY(rc);
    }
    return read_sched(dir, &out->sched, err);
}

int model_folder_check_fit(const char *dir, const struct model_folder *f,
                           const struct model_geom *g, struct df_err *err)
{
    DF_FAIL_IF(g->in_channels != g->out_channels, err, DF_E_INVAL,
               "%s/transformer/config.json: in_channels %d != out_channels %d: not a "
               "text-to-video model (image-conditioned models are not supported)",
               dir, g->in_channels, g->out_channels);
    DF_FAIL_IF(f->vae_z_dim && f->vae_z_dim != g->out_channels, err, DF_E_INVAL,
               "%s: vae/config.json latent channels %d != transformer/config.json out_channels "
               "%d: the VAE cannot decode this transformer's latents",
               dir, f->vae_z_dim, g->out_channels);
    DF_FAIL_IF(f->has_text_encoder && f->text_d_model != g->text_dim, err, DF_E_INVAL,
               "%s: text_encoder/config.json d_model %d != transformer text_dim %d: the encoder "
               "does not fit this transformer",
               dir, f->text_d_model, g->text_dim);
    return 0;
}

int model_folder_is_demo(const char *model)
{
    return model && strcmp(model, "tiny") == 0;
}
