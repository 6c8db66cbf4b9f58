/*
 * family.c -- the model-family registry and the front end of family.h.
 *
 * THE REGISTRY: one line per family, keyed by transformer/config.json
 * `_class_name`.  A new family adds its folder (worker/model/<family>/ with a
 * <family>_family.c filling struct family_ops, family_impl.h), its `extern`
 * in family_impl.h, its line here and its library in df_family's link line
 * (worker/model/CMakeLists.txt).  Nothing else in the worker names a family.
 */
#include "family_impl.h"

#include "config_json.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct family_ops *const k_families[] = {
    &wan_family_ops,       /* WanTransformer3DModel: worker/model/wan/ */
    &cogvideox_family_ops, /* CogVideoXTransformer3DModel: worker/model/cogvideox/ */
};
#define N_FAMILIES ((int)(sizeof(k_families) / sizeof(k_families[0])))

static const char *const k_layout_names[] = {"cthw", "tchw"};
_Static_assert(sizeof(k_layout_names) / sizeof(k_layout_names[0]) == FAMILY_LAYOUT_COUNT,
               "every family_layout needs a name");

#define FAMILY_MAGIC 0x46414d49u /* "FAMI" */

struct family_model {
    uint32_t magic;
    const struct family_ops *ops;
    void *model; /* the family's own handle */
};

const char *family_layout_name(enum family_layout l)
{
    return (unsigned)l < FAMILY_LAYOUT_COUNT ? k_layout_names[l] : "?";
}

int family_count(void)
{
    return N_FAMILIES;
}

const char *family_name_at(int i)
{
    return i >= 0 && i < N_FAMILIES ? k_families[i]->name : NULL;
}

const char *family_class_at(int i)
{
    return i >= 0 && i < N_FAMILIES ? k_families[i]->class_name : NULL;
}

static const struct family_ops *by_class(const char *cls)
{
    for (int i = 0; cls && i < N_FAMILIES; i++)
        if (strcmp(k_families[i]->class_name, cls) == 0)
            return k_families[i];
    return NULL;
}

const char *family_for_class(const char *class_name)
{
    const struct family_ops *f = by_class(class_name);
    return f ? f->name : NULL;
}

static int wrap(const struct family_ops *ops, void *model, family_model_t **out,
                struct df_err *err)
{
    family_model_t *fm = calloc(1, sizeof(*fm));
    DF_FAIL_IF(!fm, err, DF_E_NOMEM, "out of memory");
    fm->magic = FAMILY_MAGIC;
    fm->ops = ops;
    fm->model = model;
    *out = fm;
    return 0;
}

int family_load(kern_backend_t be, const char *model_dir, family_model_t **out,
                struct df_err *err)
{
    *out = NULL;
    char dir[PATH_MAX], cls[128];
    DF_FAIL_IF((size_t)snprintf(dir, sizeof(dir), "%s/transformer", model_dir) >= sizeof(dir),
               err, DF_E_RANGE, "%s: path too long", model_dir);
    DF_TRY(config_json_class_of(dir, cls, sizeof(cls), err));
    const struct family_ops *ops = by_class(cls);
    if (!ops) {
        char known[256] = "";
        for (int i = 0; i < N_FAMILIES; i++)
            snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "",
                     k_families[i]->class_name);
        return df_err_set(err, DF_E_UNSUPPORTED,
                          "%s/config.json: _class_name '%s' is not a family the render runs "
                          "(known: %s)", dir, cls, known);
    }
    void *model = NULL;
    DF_TRY(ops->load(be, dir, &model, err));
    int rc = wrap(ops, model, out, err);
    if (rc < 0)
        ops->free(model);
    return rc;
}

int family_adopt(const char *name, void *model, family_model_t **out, struct df_err *err)
{
    for (int i = 0; i < N_FAMILIES; i++)
        if (strcmp(k_families[i]->name, name) == 0)
            return wrap(k_families[i], model, out, err);
    return df_err_set(err, DF_E_UNSUPPORTED, "no model family '%s'", name);
}

void family_free(family_model_t *fm)
{
    if (!fm)
        return;
    fm->ops->free(fm->model);
    fm->magic = 0;
    free(fm);
}

void family_info(const family_model_t *fm, struct family_info *out)
{
    memset(out, 0, sizeof(*out));
    fm->ops->info(fm->model, out);
    out->name = fm->ops->name;
    out->class_name = fm->ops->class_name;
    out->has_time_embed = fm->ops->time_embed != NULL;
}

void *family_handle(family_model_t *fm)
{
    return fm->model;
}

int64_t family_tokens(const family_model_t *fm, const struct family_shape *s, struct df_err *err)
{
    return fm->ops->tokens(fm->model, s, err);
}

double family_flops(const family_model_t *fm, const struct family_shape *s)
{
    return fm->ops->flops(fm->model, s);
}

double family_flops_blocks(const family_model_t *fm, const struct family_shape *s)
{
    return fm->ops->flops_blocks ? fm->ops->flops_blocks(fm->model, s) : family_flops(fm, s);
}

int family_reserve(family_model_t *fm, const struct family_shape *max, struct df_err *err)
{
    return fm->ops->reserve(fm->model, max, err);
}

void family_set_attn_hook(family_model_t *fm, const struct family_attn_hook *hook)
{
    if (fm->ops->set_attn_hook)
        fm->ops->set_attn_hook(fm->model, hook);
}

int family_embed(family_model_t *fm, const struct family_shape *s, const float *latent, float t,
                 const float *text, struct df_err *err)
{
    return fm->ops->embed(fm->model, s, latent, t, text, err);
}

int family_blocks(family_model_t *fm, struct df_err *err)
{
    return fm->ops->blocks(fm->model, err);
}

int family_head(family_model_t *fm, float *out, struct df_err *err)
{
    return fm->ops->head(fm->model, out, err);
}

int family_forward(family_model_t *fm, const struct family_shape *s, const float *latent,
                   float t, const float *text, float *out, struct df_err *err)
{
    DF_TRY(family_embed(fm, s, latent, t, text, err));
    DF_TRY(family_blocks(fm, err));
    return family_head(fm, out, err);
}

float *family_hidden(family_model_t *fm, int64_t *rows)
{
    return fm->ops->hidden(fm->model, rows);
}

int family_time_embed(family_model_t *fm, float t, float *e, float *e0, struct df_err *err)
{
    DF_FAIL_IF(!fm->ops->time_embed, err, DF_E_UNSUPPORTED,
               "model family %s has no time embedding for a step cache", fm->ops->name);
    return fm->ops->time_embed(fm->model, t, e, e0, err);
}

int family_teacache_poly(const family_model_t *fm, double c[5], const char **source)
{
    *source = NULL;
    return fm->ops->teacache_poly ? fm->ops->teacache_poly(fm->model, c, source) : 0;
}
