/*
 * wan_family.c -- Wan2.1 (WanTransformer3DModel) as a model family
 * (family_impl.h): the registry's first line.  Each slot forwards to
 * wan_model.h; the shapes and the attention hook have the same fields.
 */
#include "family_impl.h"
#include "wan_model.h"

#include <string.h>

static struct wan_shape wan_shape_of(const struct family_shape *s)
{
    return (struct wan_shape){.frames = s->frames, .height = s->height, .width = s->width,
                              .text_len = s->text_len, .tok_begin = s->tok_begin,
                              .tok_count = s->tok_count};
}

static int load(kern_backend_t be, const char *dir, void **model, struct df_err *err)
{
    struct wan_model *m = NULL;
    DF_TRY(wan_model_load(be, dir, &m, err));
    *model = m;
    return 0;
}

static void free_model(void *model)
{
    wan_model_free(model);
}

static void info(const void *model, struct family_info *out)
{
    const struct wan_config *c = wan_model_config(model);
    out->layout = FAMILY_LAYOUT_CTHW;
    out->in_channels = c->in_channels;
    out->out_channels = c->out_channels;
    out->dim = c->dim;
    out->num_heads = c->num_heads;
    out->head_dim = c->head_dim;
    out->text_dim = c->text_dim;
    memcpy(out->patch, c->patch, sizeof(out->patch));
    out->text_in_sequence = 0; /* cross-attention: the text is not in the sequence */
    out->time_embed_dim = c->dim;      /* e */
    out->time_mod_dim = 6 * c->dim;    /* e0 */
}

static int64_t tokens(const void *model, const struct family_shape *s, struct df_err *err)
{
    return wan_config_tokens(wan_model_config(model), s->frames, s->height, s->width, err);
}

static double flops(const void *model, const struct family_shape *s)
{
    struct wan_shape sh = wan_shape_of(s);
    return wan_model_flops(wan_model_config(model), &sh);
}

static double flops_blocks(const void *model, const struct family_shape *s)
{
    struct wan_shape sh = wan_shape_of(s);
    struct wan_config none = *wan_model_config(model);
    none.num_layers = 0; /* embed and head only */
    return wan_model_flops(wan_model_config(model), &sh) - wan_model_flops(&none, &sh);
}

static int reserve(void *model, const struct family_shape *max, struct df_err *err)
{
    struct wan_shape sh = wan_shape_of(max);
    return wan_model_reserve(model, &sh, err);
}

static void set_attn_hook(void *model, const struct family_attn_hook *hook)
{
    struct wan_attn_hook h = {hook ? hook->attend : NULL, hook ? hook->ctx : NULL};
    wan_model_set_attn_hook(model, hook ? &h : NULL);
}

static int embed(void *model, const struct family_shape *s, const float *latent, float t,
                 const float *text, struct df_err *err)
{
    struct wan_shape sh = wan_shape_of(s);
    return wan_model_embed(model, &sh, latent, t, text, err);
}

static int blocks(void *model, struct df_err *err)
{
    return wan_model_blocks(model, err);
}

static int head(void *model, float *out, struct df_err *err)
{
    return wan_model_head(model, out, err);
}

static float *hidden(void *model, int64_t *rows)
{
    return wan_model_hidden(model, rows);
}

static int time_embed(void *model, float t, float *e, float *e0, struct df_err *err)
{
    const int d = wan_model_config(model)->dim;
    DF_TRY(wan_model_time_embed(model, t, err));
    memcpy(e, wan_model_temb(model), (size_t)d * sizeof(float));
    memcpy(e0, wan_model_timestep_proj(model), (size_t)6 * d * sizeof(float));
    return 0;
}

const struct family_ops wan_family_ops = {
    .name = "wan2.1",
    .class_name = "WanTransformer3DModel",
    .load = load,
    .free = free_model,
    .info = info,
    .tokens = tokens,
    .flops = flops,
    .flops_blocks = flops_blocks,
    .reserve = reserve,
    .set_attn_hook = set_attn_hook,
    .embed = embed,
    .blocks = blocks,
    .head = head,
    .hidden = hidden,
    .time_embed = time_embed,
    .teacache_poly = NULL, /* configs/models/<model>.stepcache.json */
};
