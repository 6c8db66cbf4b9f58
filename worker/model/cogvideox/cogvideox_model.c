/*
 * cogvideox_model.c -- the CogVideoX DiT forward, read top to bottom.
 *
 * ref: diffusers/models/transformers/cogvideox_transformer_3d.py (v0.42)
 *   CogVideoXTransformer3DModel.forward, CogVideoXBlock.forward;
 *   attention_processor.py CogVideoXAttnProcessor2_0 (joint [text; video]
 *   attention, RoPE on the video part of q and k only);
 *   normalization.py CogVideoXLayerNormZero (shift, scale, gate, enc_shift,
 *   enc_scale, enc_gate), AdaLayerNorm(chunk_dim=1) (shift, scale);
 *   embeddings.py CogVideoXPatchEmbed, TimestepEmbedding.
 *
 * Shapes: n = joint tokens of this call's range = nt text + nv video rows
 * (text rows first), d = dim = H*D, te = time_embed_dim, P = pt*p*p,
 * L = text tokens, S = video tokens.  Everything is fp32.  Time goes to the
 * four d×d projections and the FFN (2·n·d·4d twice) and attention.
 */
#include "cogvideox_model.h"

#include "cogvideox_pos.h"
#include "model_common.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Buffers, allocated by cogvideox_model_reserve().  "b:" backend, "h:" host. */
struct cogvideox_state {
    size_t cap_latent;  /* floats of the latent in/out */
    int64_t cap_tokens; /* n */
    int cap_text;       /* L */
    float *latent;      /* b: [C_in, F, H, W] (channel-major for kern_patchify) */
    float *h_latent;    /* h: the same, transposed from [F, C, H, W] */
    float *text_in;     /* b: [min(n, L), text_dim] */
    float *tsin;        /* b: [d] timestep sinusoid (Timesteps(inner_dim)) */
    float *osin;        /* b: [te] ofs sinusoid */
    float *t_hidden;    /* b: [te] */
    float *emb;         /* b: [te] */
    float *o_emb;       /* b: [te] */
    float *emb_act;     /* b: [te] silu(emb) */
    float *mods;        /* b: [layers, 12, d] norm1 then norm2 chunks */
    float *head_mod;    /* b: [2, d] shift, scale of norm_out */
    float *cols;        /* b: [nv, C_in*P] */
    float *pos;         /* b: [nv, d] sin-cos table (2B) */
    float *x;           /* b: [n, d] residual stream, text rows first */
    float *xn;          /* b: [n, d] */
    float *q, *k, *v;   /* b: [n, H, D] */
    float *o;           /* b: [n, H, D] */
    float *y;           /* b: [n, d] */
    float *ffh;         /* b: [n, 4d] */
    float *tok;         /* b: [nv, P*C_out] */
    float *rope_cos;    /* b: [nv, D/2] */
    float *rope_sin;    /* b: [nv, D/2] */
    float *h_tab;       /* h: [nv, max(d, D)] staging for the tables */
    float *h_tab2;      /* h: [nv, D/2] */
    float *h_sin;       /* h: [max(d, te)] */
    float *h_emb;       /* h: [te] */
    float *h_tok;       /* h: [nv, P*C_out] */
};

struct cogvideox_model {
    kern_backend_t be;
    struct cogvideox_config cfg;
    struct cogvideox_weights *w;
    struct cogvideox_state st;
    struct cogvideox_attn_hook hook;
    int hook_is_default;
    struct cogvideox_shape cur; /* last embed, tok_count resolved */
    int grid[3];                /* patch grid of the last embed */
    int64_t nt, nv;             /* text / video rows of the last embed */
    int64_t v_begin;            /* first video token of the range */
    int embedded;
};

/* ---------------------------------------------------------------------------
 * Create / free
 * ------------------------------------------------------------------------- */

void cogvideox_model_set_attn_hook(struct cogvideox_model *m, const struct cogvideox_attn_hook *hook)
{
    m->hook_is_default = hook == NULL;
    m->hook = hook ? *hook : (struct cogvideox_attn_hook){model_attend_local, NULL};
}

int cogvideox_model_create(kern_backend_t be, const struct cogvideox_config *c,
                           const struct cogvideox_tensor_source *src,
                           struct cogvideox_model **out, struct df_err *err)
{
    *out = NULL;
    struct cogvideox_model *m = calloc(1, sizeof *m);
    if (!m)
        return df_err_set(err, DF_E_NOMEM, "out of memory for the model");
    m->be = be;
    m->cfg = *c;
    cogvideox_model_set_attn_hook(m, NULL);
    int rc = cogvideox_weights_load(be, c, src, &m->w, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int cogvideox_model_load(kern_backend_t be, const char *transformer_dir,
                         struct cogvideox_model **out, struct df_err *err)
{
    *out = NULL;
    char path[4096];
    DF_FAIL_IF((size_t)snprintf(path, sizeof path, "%s/config.json", transformer_dir) >=
                   sizeof path,
               err, DF_E_INVAL, "%s: path too long", transformer_dir);
    struct cogvideox_config c;
    DF_TRY(cogvideox_config_load(path, &c, err));
    struct safetensors *st;
    DF_TRY(safetensors_open_model(transformer_dir, "diffusion_pytorch_model", &st, err));
    int rc = cogvideox_config_check_weights(&c, st, err);
    if (rc == 0) {
        struct cogvideox_tensor_source src = {cogvideox_weights_read_safetensors, st};
        rc = cogvideox_model_create(be, &c, &src, out, err);
    }
    safetensors_close(st); /* the backend holds its own copies */
    return rc;
}

static void state_free(kern_backend_t be, struct cogvideox_state *s)
{
    float *dev[] = {s->latent, s->text_in, s->tsin, s->osin,     s->t_hidden, s->emb,
                    s->o_emb,  s->emb_act, s->mods, s->head_mod, s->cols,     s->pos,
                    s->x,      s->xn,      s->q,    s->k,        s->v,        s->o,
                    s->y,      s->ffh,     s->tok,  s->rope_cos, s->rope_sin};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        kern_release(be, dev[i]);
    float *host[] = {s->h_latent, s->h_tab, s->h_tab2, s->h_sin, s->h_emb, s->h_tok};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
    memset(s, 0, sizeof *s);
}

void cogvideox_model_free(struct cogvideox_model *m)
{
    if (!m)
        return;
    state_free(m->be, &m->st);
    cogvideox_weights_free(m->be, m->w);
    free(m);
}

const struct cogvideox_config *cogvideox_model_config(const struct cogvideox_model *m)
{
    return &m->cfg;
}

long long cogvideox_model_seq_len(const struct cogvideox_config *c,
                                  const struct cogvideox_shape *shape, struct df_err *err)
{
    int grid[3];
    long long S = cogvideox_config_grid(c, shape->frames, shape->height, shape->width, grid, err);
    if (S < 0)
        return S;
    DF_FAIL_IF(shape->text_len <= 0 || shape->text_len > (1 << 16), err, DF_E_INVAL,
               "text_len %d must be in [1, %d]", shape->text_len, 1 << 16);
    /* CogVideoXPatchEmbed adds a [max_text_seq_length + S] table to the joint
     * sequence: other text lengths do not broadcast in diffusers. */
    DF_FAIL_IF(c->pos == COGVIDEOX_POS_SINCOS && shape->text_len != c->max_text_len, err,
               DF_E_INVAL,
               "text_len %d: this model's sin-cos positions need exactly max_text_seq_length "
               "= %d text tokens (pad the prompt embeddings)",
               shape->text_len, c->max_text_len);
    return S + shape->text_len;
}

/* Resolve tok_count 0 to "all" and check the range.  Returns L + S or < 0. */
static long long check_shape(const struct cogvideox_config *c, const struct cogvideox_shape *in,
                             struct cogvideox_shape *out, struct df_err *err)
{
    long long N = cogvideox_model_seq_len(c, in, err);
    if (N < 0)
        return N;
    *out = *in;
    DF_TRY(model_token_range(N, &out->tok_begin, &out->tok_count, INT32_MAX / 64,
                             "joint sequence", err));
    return N;
}

int cogvideox_model_reserve(struct cogvideox_model *m, const struct cogvideox_shape *max,
                            struct df_err *err)
{
    const struct cogvideox_config *c = &m->cfg;
    struct cogvideox_shape sh;
    long long N = check_shape(c, max, &sh, err);
    if (N < 0)
        return (int)N;
    state_free(m->be, &m->st);
    m->embedded = 0;
    struct cogvideox_state *s = &m->st;
    const size_t d = (size_t)c->dim, n = (size_t)sh.tok_count, te = (size_t)c->time_embed_dim;
    const size_t L = (size_t)sh.text_len, nt = n < L ? n : L;
    const size_t P = (size_t)(c->patch_t ? c->patch_t : 1) * c->patch * c->patch;
    const size_t half = (size_t)c->head_dim / 2, layers = (size_t)c->num_layers;
    const size_t ch = (size_t)(c->in_channels > c->out_channels ? c->in_channels : c->out_channels);
    const size_t lat = (size_t)sh.frames * sh.height * sh.width * ch;
    const size_t tab = d > half * 2 ? d : half * 2, sinw = d > te ? d : te;
    const struct model_buf dev[] = {
        {&s->latent, lat},          {&s->text_in, (nt ? nt : 1) * c->text_dim},
        {&s->tsin, d},              {&s->osin, te},
        {&s->t_hidden, te},         {&s->emb, te},
        {&s->o_emb, te},            {&s->emb_act, te},
        {&s->mods, layers * 12 * d}, {&s->head_mod, 2 * d},
        {&s->cols, n * c->in_channels * P}, {&s->pos, n * d},
        {&s->x, n * d},             {&s->xn, n * d},
        {&s->q, n * d},             {&s->k, n * d},
        {&s->v, n * d},             {&s->o, n * d},
        {&s->y, n * d},             {&s->ffh, n * c->ffn_dim},
        {&s->tok, n * P * c->out_channels}, {&s->rope_cos, n * half},
        {&s->rope_sin, n * half},
    };
    const struct model_buf host[] = {{&s->h_latent, lat}, {&s->h_tab, n * tab},
                                     {&s->h_tab2, n * half}, {&s->h_sin, sinw},
                                     {&s->h_emb, te},        {&s->h_tok, n * P * c->out_channels}};
    int rc = model_bufs_alloc(m->be, dev, sizeof dev / sizeof dev[0], host,
                              sizeof host / sizeof host[0], err);
    if (rc < 0) {
        df_err_prefix(err, "cogvideox_model_reserve(%zu tokens, text %zu)", n, L);
        state_free(m->be, s);
        return rc;
    }
    s->cap_latent = lat;
    s->cap_tokens = (int64_t)n;
    s->cap_text = (int)L;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Embeddings
 * ------------------------------------------------------------------------- */

/* Timesteps -> TimestepEmbedding (Linear, SiLU, Linear) -> emb [te]; plus
 * the ofs embedding where the model has one.  Then each block's two
 * CogVideoXLayerNormZero projections and norm_out's, from silu(emb). */
static int embed_time(struct cogvideox_model *m, float timestep, float ofs, struct df_err *err)
{
    const struct cogvideox_config *c = &m->cfg;
    const struct cogvideox_weights *w = m->w;
    struct cogvideox_state *s = &m->st;
    kern_backend_t be = m->be;
    const int d = c->dim, te = c->time_embed_dim;
    cogvideox_pos_timestep(timestep, d, c->flip_sin_to_cos, c->freq_shift, s->h_sin);
    DF_TRY(kern_upload(be, s->tsin, s->h_sin, (size_t)d, err));                       /* [d] */
    DF_TRY(kern_linear(be, s->tsin, w->time_1.w, w->time_1.b, s->t_hidden, 1, d, te, err));
    DF_TRY(kern_silu(be, s->t_hidden, s->t_hidden, (size_t)te, err));                 /* [te] */
    DF_TRY(kern_linear(be, s->t_hidden, w->time_2.w, w->time_2.b, s->emb, 1, te, te, err));
    if (c->ofs_embed_dim) {
        cogvideox_pos_timestep(ofs, te, c->flip_sin_to_cos, c->freq_shift, s->h_sin);
        DF_TRY(kern_upload(be, s->osin, s->h_sin, (size_t)te, err));                  /* [te] */
        DF_TRY(kern_linear(be, s->osin, w->ofs_1.w, w->ofs_1.b, s->t_hidden, 1, te, te, err));
        DF_TRY(kern_silu(be, s->t_hidden, s->t_hidden, (size_t)te, err));
        DF_TRY(kern_linear(be, s->t_hidden, w->ofs_2.w, w->ofs_2.b, s->o_emb, 1, te, te, err));
        DF_TRY(kern_add(be, s->emb, s->o_emb, (size_t)te, err));                      /* emb += ofs */
    }
    DF_TRY(kern_download(be, s->h_emb, s->emb, (size_t)te, err));
    DF_TRY(kern_silu(be, s->emb, s->emb_act, (size_t)te, err));                       /* [te] */
    for (int l = 0; l < c->num_layers; l++) {
        const struct cogvideox_block_weights *b = &w->blocks[l];
        float *mod = s->mods + (size_t)l * 12 * d;
        DF_TRY(kern_linear(be, s->emb_act, b->norm1_linear.w, b->norm1_linear.b, mod, 1, te,
                           6 * d, err));                                              /* [6d] */
        DF_TRY(kern_linear(be, s->emb_act, b->norm2_linear.w, b->norm2_linear.b, mod + 6 * d, 1,
                           te, 6 * d, err));                                          /* [6d] */
    }
    return kern_linear(be, s->emb_act, w->norm_out_linear.w, w->norm_out_linear.b, s->head_mod, 1,
                       te, 2 * d, err);                                               /* [2d] */
}

/* The range's video tokens: patch embedding (+ the 2B sin-cos table) into
 * x rows [nt, nt + nv), and the RoPE tables of 5B / 1.5. */
static int embed_video(struct cogvideox_model *m, const float *hidden, struct df_err *err)
{
    const struct cogvideox_config *c = &m->cfg;
    struct cogvideox_state *s = &m->st;
    kern_backend_t be = m->be;
    const struct cogvideox_shape *sh = &m->cur;
    const int d = c->dim, C = c->in_channels, F = sh->frames, Hh = sh->height, W = sh->width;
    const int pt = c->patch_t ? c->patch_t : 1, p = c->patch, P = pt * p * p;
    const int nv = (int)m->nv;
    /* [F, C, H, W] -> [C, F, H, W]: kern_patchify reads a channel-major latent. */
    const size_t plane = (size_t)Hh * W;
    for (int f = 0; f < F; f++)
        for (int ci = 0; ci < C; ci++)
            memcpy(s->h_latent + ((size_t)ci * F + f) * plane,
                   hidden + ((size_t)f * C + ci) * plane, plane * sizeof(float));
    DF_TRY(kern_upload(be, s->latent, s->h_latent, (size_t)C * F * plane, err));
    DF_TRY(kern_patchify(be, s->latent, s->cols, C, F, Hh, W, pt, p, p, m->v_begin, nv,
                         err));                                                  /* [nv, C*P] */
    float *xv = s->x + (size_t)m->nt * d;
    DF_TRY(kern_linear(be, s->cols, m->w->patch_proj.w, m->w->patch_proj.b, xv, nv, C * P, d,
                       err));                                                    /* [nv, d] */
    if (c->pos == COGVIDEOX_POS_SINCOS) {
        cogvideox_pos_sincos(c, m->grid, m->v_begin, nv, s->h_tab);
        DF_TRY(kern_upload(be, s->pos, s->h_tab, (size_t)nv * d, err));
        DF_TRY(kern_add(be, xv, s->pos, (size_t)nv * d, err));                   /* x += pos */
        return 0;
    }
    const size_t nr = (size_t)nv * (c->head_dim / 2);
    DF_TRY(cogvideox_pos_rope(c, m->grid, m->v_begin, nv, s->h_tab, s->h_tab2, err));
    DF_TRY(kern_upload(be, s->rope_cos, s->h_tab, nr, err));                     /* [nv, D/2] */
    return kern_upload(be, s->rope_sin, s->h_tab2, nr, err);                     /* [nv, D/2] */
}

int cogvideox_model_embed(struct cogvideox_model *m, const struct cogvideox_shape *shape,
                          const float *hidden, float timestep, float ofs, const float *text,
                          struct df_err *err)
{
    const struct cogvideox_config *c = &m->cfg;
    struct cogvideox_state *s = &m->st;
    struct cogvideox_shape sh;
    long long N = check_shape(c, shape, &sh, err);
    if (N < 0)
        return (int)N;
    const int L = sh.text_len;
    const size_t lat = (size_t)c->in_channels * sh.frames * sh.height * sh.width;
    DF_FAIL_IF(!s->x || sh.tok_count > s->cap_tokens || L > s->cap_text || lat > s->cap_latent,
               err, DF_E_RANGE,
               "forward of %lld tokens, text %d, latent %zu floats exceeds "
               "cogvideox_model_reserve() (%lld tokens, text %d, latent %zu)",
               (long long)sh.tok_count, L, lat, (long long)s->cap_tokens, s->cap_text,
               s->cap_latent);
    DF_FAIL_IF(m->hook_is_default && sh.tok_count != N, err, DF_E_INVAL,
               "token range [%lld, %lld) of %lld needs an attention hook that sees the other "
               "ranges' keys (the default attends locally)",
               (long long)sh.tok_begin, (long long)(sh.tok_begin + sh.tok_count), N);
    m->embedded = 0;
    m->cur = sh;
    if (cogvideox_config_grid(c, sh.frames, sh.height, sh.width, m->grid, err) < 0)
        return DF_E_INVAL;
    const int64_t b = sh.tok_begin, e = sh.tok_begin + sh.tok_count;
    m->nt = b < L ? (e < L ? e : L) - b : 0;
    m->nv = sh.tok_count - m->nt;
    m->v_begin = b > L ? b - L : 0;

    DF_TRY(embed_time(m, timestep, ofs, err));
    if (m->nt > 0) { /* text rows [b, b + nt) -> text_proj -> x rows [0, nt) */
        DF_TRY(kern_upload(m->be, s->text_in, text + (size_t)b * c->text_dim,
                           (size_t)m->nt * c->text_dim, err));
        DF_TRY(kern_linear(m->be, s->text_in, m->w->text_proj.w, m->w->text_proj.b, s->x,
                           (int)m->nt, c->text_dim, c->dim, err));              /* [nt, d] */
    }
    if (m->nv > 0)
        DF_TRY(embed_video(m, hidden, err));
    m->embedded = 1;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Blocks
 * ------------------------------------------------------------------------- */

/* LayerNorm of every row, then each stream's (1 + scale), shift: text rows
 * take the enc_* chunks (mod + 3d), video rows the others. */
static int norm_zero(struct cogvideox_model *m, const struct cogvideox_norm *nrm, const float *mod,
                     struct df_err *err)
{
    struct cogvideox_state *s = &m->st;
    const int d = m->cfg.dim, nt = (int)m->nt, nv = (int)m->nv;
    DF_TRY(kern_layernorm(m->be, s->x, s->xn, nt + nv, d, m->cfg.norm_eps, nrm->w, nrm->b, err));
    if (nt)
        DF_TRY(kern_modulate(m->be, s->xn, s->xn, nt, d, mod + 4 * d, mod + 3 * d, err));
    if (nv)
        DF_TRY(kern_modulate(m->be, s->xn + (size_t)nt * d, s->xn + (size_t)nt * d, nv, d,
                             mod + d, mod, err));
    return 0;
}

/* x += gate · y per stream: enc_gate (mod + 5d) on text rows, gate (mod + 2d)
 * on video rows. */
static int gated_residual(struct cogvideox_model *m, const float *mod, struct df_err *err)
{
    struct cogvideox_state *s = &m->st;
    const int d = m->cfg.dim, nt = (int)m->nt, nv = (int)m->nv;
    if (nt)
        DF_TRY(kern_gated_add(m->be, s->x, s->y, mod + 5 * d, nt, d, err));
    if (nv)
        DF_TRY(kern_gated_add(m->be, s->x + (size_t)nt * d, s->y + (size_t)nt * d, mod + 2 * d, nv,
                              d, err));
    return 0;
}

/* One CogVideoXBlock on x [n, d] (in place). */
static int block_forward(struct cogvideox_model *m, int l, struct df_err *err)
{
    const struct cogvideox_config *c = &m->cfg;
    const struct cogvideox_block_weights *b = &m->w->blocks[l];
    struct cogvideox_state *s = &m->st;
    kern_backend_t be = m->be;
    const int d = c->dim, H = c->num_heads, D = c->head_dim, n = (int)(m->nt + m->nv);
    const size_t vo = (size_t)m->nt * d; /* offset of the video rows */
    const float *mod1 = s->mods + (size_t)l * 12 * d, *mod2 = mod1 + 6 * d;

    /* 1. Joint attention over [text; video]. */
    DF_TRY(norm_zero(m, &b->norm1, mod1, err));                                 /* xn [n, d] */
    DF_TRY(kern_linear(be, s->xn, b->to_q.w, b->to_q.b, s->q, n, d, d, err));   /* [n, H, D] */
    DF_TRY(kern_linear(be, s->xn, b->to_k.w, b->to_k.b, s->k, n, d, d, err));
    DF_TRY(kern_linear(be, s->xn, b->to_v.w, b->to_v.b, s->v, n, d, d, err));
    DF_TRY(kern_layernorm(be, s->q, s->q, n * H, D, 1e-6f, b->norm_q.w, b->norm_q.b, err));
    DF_TRY(kern_layernorm(be, s->k, s->k, n * H, D, 1e-6f, b->norm_k.w, b->norm_k.b, err));
    if (c->pos == COGVIDEOX_POS_ROPE && m->nv) {                               /* video rows only */
        DF_TRY(kern_rope(be, s->q + vo, (int)m->nv, H, D, s->rope_cos, s->rope_sin, err));
        DF_TRY(kern_rope(be, s->k + vo, (int)m->nv, H, D, s->rope_cos, s->rope_sin, err));
    }
    DF_TRY(m->hook.attend(m->hook.ctx, be, l, s->q, s->k, s->v, s->o, n, H, D, err));
    DF_TRY(kern_linear(be, s->o, b->to_out.w, b->to_out.b, s->y, n, d, d, err)); /* [n, d] */
    DF_TRY(gated_residual(m, mod1, err));

    /* 2. Feed-forward on the joint rows, GELU(tanh). */
    DF_TRY(norm_zero(m, &b->norm2, mod2, err));                                 /* xn [n, d] */
    DF_TRY(kern_linear(be, s->xn, b->ff_in.w, b->ff_in.b, s->ffh, n, d, c->ffn_dim, err));
    DF_TRY(kern_gelu_tanh(be, s->ffh, s->ffh, (size_t)n * c->ffn_dim, err));   /* [n, 4d] */
    DF_TRY(kern_linear(be, s->ffh, b->ff_out.w, b->ff_out.b, s->y, n, c->ffn_dim, d, err));
    return gated_residual(m, mod2, err);
}

int cogvideox_model_blocks(struct cogvideox_model *m, struct df_err *err)
{
    DF_FAIL_IF(!m->embedded, err, DF_E_INVAL, "cogvideox_model_blocks() before embed");
    for (int l = 0; l < m->cfg.num_layers; l++) {
        int rc = block_forward(m, l, err);
        if (rc < 0) {
            df_err_prefix(err, "block %d", l);
            return rc;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Head
 * ------------------------------------------------------------------------- */

/* proj_out row of video token v = (f·th + y)·tw + x holds column
 * ((c·pt + kt)·p + kh)·p + kw (diffusers' reshape to (F/pt, th, tw, C, pt, p,
 * p) and permute), written to out[f·pt + kt, c, y·p + kh, x·p + kw]. */
static void unpatchify(const struct cogvideox_model *m, const float *tok, float *out)
{
    const struct cogvideox_config *c = &m->cfg;
    const int C = c->out_channels, p = c->patch, pt = c->patch_t ? c->patch_t : 1;
    const int Hh = m->cur.height, W = m->cur.width, th = m->grid[1], tw = m->grid[2];
    const size_t P = (size_t)pt * p * p;
    for (int64_t j = 0; j < m->nv; j++) {
        const int64_t v = m->v_begin + j;
        const int f = (int)(v / ((int64_t)th * tw)), y = (int)((v / tw) % th), x = (int)(v % tw);
        const float *row = tok + (size_t)j * P * C;
        for (int ch = 0; ch < C; ch++)
            for (int kt = 0; kt < pt; kt++)
                for (int kh = 0; kh < p; kh++) {
                    const float *src = row + ((size_t)(ch * pt + kt) * p + kh) * p;
                    float *dst = out + (((size_t)(f * pt + kt) * C + ch) * Hh + (size_t)(y * p + kh)) * W +
                                 (size_t)x * p;
                    memcpy(dst, src, (size_t)p * sizeof(float));
                }
    }
}

int cogvideox_model_head(struct cogvideox_model *m, float *out, struct df_err *err)
{
    DF_FAIL_IF(!m->embedded, err, DF_E_INVAL, "cogvideox_model_head() before embed");
    const struct cogvideox_config *c = &m->cfg;
    struct cogvideox_state *s = &m->st;
    kern_backend_t be = m->be;
    const int d = c->dim, nv = (int)m->nv;
    const int P = (c->patch_t ? c->patch_t : 1) * c->patch * c->patch, C = c->out_channels;
    if (nv == 0)
        return 0; /* a range of text only writes nothing */
    const float *xv = s->x + (size_t)m->nt * d;
    /* norm_final, then norm_out's LayerNorm · (1 + scale) + shift; text rows
     * are dropped (diffusers normalises them too, per token, and discards them). */
    DF_TRY(kern_layernorm(be, xv, s->xn, nv, d, c->norm_eps, m->w->norm_final.w,
                          m->w->norm_final.b, err));                             /* [nv, d] */
    DF_TRY(kern_layernorm(be, s->xn, s->xn, nv, d, c->norm_eps, m->w->norm_out.w,
                          m->w->norm_out.b, err));
    DF_TRY(kern_modulate(be, s->xn, s->xn, nv, d, s->head_mod + d, s->head_mod, err));
    DF_TRY(kern_linear(be, s->xn, m->w->proj_out.w, m->w->proj_out.b, s->tok, nv, d, P * C,
                       err));                                                    /* [nv, P*C] */
    DF_TRY(kern_download(be, s->h_tok, s->tok, (size_t)nv * P * C, err));
    unpatchify(m, s->h_tok, out);
    return 0;
}

int cogvideox_model_forward(struct cogvideox_model *m, const struct cogvideox_shape *shape,
                            const float *hidden, float timestep, float ofs, const float *text,
                            float *out, struct df_err *err)
{
    DF_TRY(cogvideox_model_embed(m, shape, hidden, timestep, ofs, text, err));
    DF_TRY(cogvideox_model_blocks(m, err));
    return cogvideox_model_head(m, out, err);
}

/* ---------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------- */

const float *cogvideox_model_emb(const struct cogvideox_model *m)
{
    return m->st.h_emb;
}

int cogvideox_model_time_embed(struct cogvideox_model *m, float timestep, float ofs, float *emb,
                               struct df_err *err)
{
    DF_FAIL_IF(!m->st.emb, err, DF_E_INVAL, "cogvideox_model_time_embed() before reserve");
    m->embedded = 0; /* the modulations now belong to this timestep: embed again */
    DF_TRY(embed_time(m, timestep, ofs, err));
    memcpy(emb, m->st.h_emb, (size_t)m->cfg.time_embed_dim * sizeof(float));
    return 0;
}

float *cogvideox_model_hidden(struct cogvideox_model *m, int64_t *rows)
{
    if (rows)
        *rows = m->embedded ? m->cur.tok_count : 0;
    return m->st.x;
}

double cogvideox_model_flops(const struct cogvideox_config *c, const struct cogvideox_shape *shape)
{
    const int pt = c->patch_t ? c->patch_t : 1;
    const double d = c->dim, f = c->ffn_dim, L = shape->text_len;
    const double S = (double)(shape->frames / pt) * (shape->height / c->patch) *
                     (shape->width / c->patch);
    const double N = L + S, n = shape->tok_count ? (double)shape->tok_count : N;
    const double P = (double)pt * c->patch * c->patch;
    const double block = 2 * n * d * d * 4 + 2 * n * d * f * 2 + 4 * n * N * d;
    const double embed = 2 * S * d * c->in_channels * P + 2 * L * d * c->text_dim;
    const double head = 2 * S * d * c->out_channels * P;
    return c->num_layers * block + embed * n / N + head * n / N;
}
