/*
 * cogvideox_family.c -- CogVideoX (CogVideoXTransformer3DModel: 2B, 5B, 1.5)
 * as a model family (family_impl.h), the registry's second line.
 *
 * The sequence the ranks split is the JOINT one, [text (L); video (S)]:
 * text_in_sequence is set, family_tokens counts L + S, and a token range may
 * hold text rows, video tokens or both (cogvideox_model.h).  Latents are
 * frame-major [F, C, H, W].
 *
 * Step caching (docs/stepcache.md): TeaCache4CogVideoX compares `emb`, the
 * time embedding plus the ofs embedding -- the one vector every
 * CogVideoXLayerNormZero and norm_out is modulated by -- so the family's e is
 * emb [time_embed_dim] and it has no e0.  emb depends on the timestep only
 * (ofs is a constant of the pipeline), so the skip mask can be planned up
 * front like Wan's.  The hidden state is the joint [text; video] rows, so a
 * cached residual covers both streams, as the reference caches both.
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
    out->time_embed_dim = c->time_embed_dim; /* emb */
    out->time_mod_dim = 0;                   /* no single modulation vector */
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

static double flops_blocks(const void *model, const struct family_shape *s)
{
    struct cogvideox_shape sh = shape_of(s);
    struct cogvideox_config none = *cogvideox_model_config(model);
    none.num_layers = 0; /* embed and head only */
    return cogvideox_model_flops(cogvideox_model_config(model), &sh) -
           cogvideox_model_flops(&none, &sh);
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

/* The ofs CogVideoX 1.5's pipelines pass (render.c feeds the same to embed). */
#define COGVIDEOX_PIPELINE_OFS 2.0f

static int time_embed(void *model, float t, float *e, float *e0, struct df_err *err)
{
    (void)e0; /* time_mod_dim 0 */
    return cogvideox_model_time_embed(model, t, COGVIDEOX_PIPELINE_OFS, e, err);
}

/* TeaCache4CogVideoX1.5 (ali-vilab/TeaCache) picks its polynomial by the
 * config's use_rotary_positional_embeddings: sin-cos = CogVideoX-2B, RoPE =
 * CogVideoX-5B and 1.5-5B.  Numbers: numpy poly1d order, as published. */
static int teacache_poly(const void *model, double c[5], const char **source)
{
    static const double sincos[5] = {-3.10658903e+01, 2.54732368e+01, -5.92380459e+00,
                                     1.75769064e+00, -3.61568434e-03};
    static const double rope[5] = {-1.53880483e+03, 8.43202495e+02, -1.34363087e+02,
                                   7.97131516e+00, -5.23162339e-02};
    const int is_rope = cogvideox_model_config(model)->pos == COGVIDEOX_POS_ROPE;
    memcpy(c, is_rope ? rope : sincos, sizeof sincos);
    *source = is_rope ? "TeaCache4CogVideoX1.5 polynomial for CogVideoX-5B/1.5 (RoPE models)"
                      : "TeaCache4CogVideoX1.5 polynomial for CogVideoX-2B (sin-cos models)";
    return 1;
}

const struct family_ops cogvideox_family_ops = {
    .name = "cogvideox",
    .class_name = "CogVideoXTransformer3DModel",
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
    .teacache_poly = teacache_poly,
};
