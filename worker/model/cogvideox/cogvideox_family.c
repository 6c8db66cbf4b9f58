/*
 * cogvideox_family.c -- CogVideoX (CogVideoXTransformer3DModel: 2B, 5B, 1.5)
 * as a model family (family_impl.h), the registry's second line.
 *
 * The sequence the ranks split is the JOINT one, [text (L); video (S)]:
 * text_in_sequence is set, family_tokens counts L + S, and a token range may
 * hold text rows, video tokens or both (cogvideox_model.h).  Latents are
 * frame-major [F, C, H, W].  No time_embed slot: CogVideoX's adaptive norms
 * take a time_embed_dim vector and twelve modulations per block, not Wan's
 * (e, e0), so the step caches do not plan for it yet.
 */
#include "cogvideox_model.h"
#include "family_impl.h"

#include <string.h>

static struct cogvideox_shape shape_of(const struct family_shape *s)
{
    return (struct cogvideox_shape){.frames = s->frames, .height = s->height, .width = s->width,
                                    .text_len = s->text_len, .tok_begin = s->tok_begin,
                                    .tok_count = s->tok_count};
}

static int load(kern_backend_t be, const char *dir, void **model, struct df_err *err)
{
    struct cogvideox_model *m = NULL;
    DF_TRY(cogvideox_model_load(be, dir, &m, err));
    *model = m;
    return 0;
}

static void free_model(void *model)
{
    cogvideox_model_free(model);
}

static void info(const void *model, struct family_info *out)
{
    const struct cogvideox_config *c = cogvideox_model_config(model);
    out->layout = FAMILY_LAYOUT_TCHW;
    out->in_channels = c->in_channels;
    out->out_channels = c->out_channels;
    out->dim = c->dim;
    out->num_heads = c->num_heads;
    out->head_dim = c->head_dim;
    out->text_dim = c->text_dim;
    out->patch[0] = c->patch_t ? c->patch_t : 1;
    out->patch[1] = out->patch[2] = c->patch;
    out->text_in_sequence = 1; /* joint attention over [text; video] */
    out->text_rows_whole = 1;  /* CogVideoXPipeline._get_t5_prompt_embeds */
}

static int64_t tokens(const void *model, const struct family_shape *s, struct df_err *err)
{
    struct cogvideox_shape sh = shape_of(s);
    return cogvideox_model_seq_len(cogvideox_model_config(model), &sh, err);
}

static double flops(const void *model, const struct family_shape *s)
{
    struct cogvideox_shape sh = shape_of(s);
    return cogvideox_model_flops(cogvideox_model_config(model), &sh);
}

static int reserve(void *model, const struct family_shape *max, struct df_err *err)
{
    struct cogvideox_shape sh = shape_of(max);
    return cogvideox_model_reserve(model, &sh, err);
}

static void set_attn_hook(void *model, const struct family_attn_hook *hook)
{
    struct cogvideox_attn_hook h = {hook ? hook->attend : NULL, hook ? hook->ctx : NULL};
    cogvideox_model_set_attn_hook(model, hook ? &h : NULL);
}

static int embed(void *model, const struct family_shape *s, const float *latent, float t,
                 const float *text, struct df_err *err)
{
    struct cogvideox_shape sh = shape_of(s);
    return cogvideox_model_embed(model, &sh, latent, t, s->ofs, text, err);
}

static int blocks(void *model, struct df_err *err)
{
    return cogvideox_model_blocks(model, err);
}

static int head(void *model, float *out, struct df_err *err)
{
    return cogvideox_model_head(model, out, err);
}

static float *hidden(void *model, int64_t *rows)
{
    return cogvideox_model_hidden(model, rows);
}

const struct family_ops cogvideox_family_ops = {
    .name = "cogvideox",
    .class_name = "CogVideoXTransformer3DModel",
    .load = load,
    .free = free_model,
    .info = info,
    .tokens = tokens,
    .flops = flops,
    .reserve = reserve,
    .set_attn_hook = set_attn_hook,
    .embed = embed,
    .blocks = blocks,
    .head = head,
    .hidden = hidden,
    .time_embed = NULL,
};
