/*
 * wan_model.c -- the Wan2.1 DiT forward, read top to bottom like the paper.
 *
 * ref: diffusers/models/transformers/transformer_wan.py (v0.42)
 *   WanTransformer3DModel.forward, WanTransformerBlock.forward,
 *   WanAttnProcessor.__call__, WanRotaryPosEmbed, WanTimeTextImageEmbedding;
 *   diffusers/models/embeddings.py get_timestep_embedding, get_1d_rotary_pos_embed.
 *
 * Shapes: s = tokens of this call's range, S = tokens of the whole sequence,
 * L = text tokens, d = dim = H*D, P = pt*ph*pw.  Everything is fp32.
 * Where the time goes: the four d×d projections and the FFN (2·s·d·ffn each)
 * and self-attention (4·s·S·d); the embeddings are noise.
 */
#include "wan_model.h"

#include "model_common.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Activation buffers, allocated by wan_model_reserve() and never in a
 * forward.  "b:" = backend buffer, "h:" = host. */
struct wan_state {
    /* capacities */
    size_t cap_latent; /* floats of the latent in/out */
    int64_t cap_tokens;
    int cap_text;
    /* inputs */
    float *latent;    /* b: [C_in, T, H, W] full latent */
    float *text_in;   /* b: [L, text_dim] */
    /* embeddings */
    float *tsin;      /* b: [freq_dim] sinusoidal timestep */
    float *t_hidden;  /* b: [d] */
    float *temb;      /* b: [d] */
    float *temb_act;  /* b: [d] silu(temb) */
    float *e0;        /* b: [6d] */
    float *mods;      /* b: [layers, 6, d] scale_shift_table + e0 per block */
    float *head_mod;  /* b: [2, d] shift, scale of the output norm */
    float *ctx;       /* b: [L, d] embedded text */
    float *ctx_h;     /* b: [L, d] text MLP hidden */
    float *k2, *v2;   /* b: [L, d] cross-attention keys/values */
    /* token activations */
    float *cols;      /* b: [s, C_in*P] patches */
    float *x;         /* b: [s, d] hidden state (residual stream) */
    float *xn;        /* b: [s, d] normed + modulated */
    float *q, *k, *v; /* b: [s, H, D] */
    float *o;         /* b: [s, H, D] attention output */
    float *y;         /* b: [s, d] projection output before the residual add */
    float *ffh;       /* b: [s, ffn] */
    float *tok;       /* b: [s, P*C_out] proj_out */
    float *rope_cos;  /* b: [s, D/2] */
    float *rope_sin;  /* b: [s, D/2] */
    /* host mirrors */
    float *h_rope_cos, *h_rope_sin; /* h: [s, D/2] */
    float *h_tsin;    /* h: [freq_dim] */
    float *h_temb;    /* h: [d] */
    float *h_e0;      /* h: [6d] */
    float *h_mods;    /* h: [layers, 6, d] */
    float *h_head;    /* h: [2, d] */
    float *h_tok;     /* h: [s, P*C_out] */
};

struct wan_model {
    kern_backend_t be;
    struct wan_config cfg;
    struct wan_weights *w;
    struct wan_state st;
    struct wan_attn_hook hook;
    int hook_is_default;
    struct wan_shape cur; /* shape of the last embed (tok_count resolved) */
    int64_t cur_seq;      /* S of the last embed */
    int embedded;         /* embed ran since the last reserve */
};

/* ---------------------------------------------------------------------------
 * Create / free
 * ------------------------------------------------------------------------- */

int wan_model_create(kern_backend_t be, const struct wan_config *c,
                     const struct wan_tensor_source *src, struct wan_model **out,
                     struct df_err *err)
{
    *out = NULL;
    struct wan_model *m = calloc(1, sizeof *m);
    if (!m)
        return df_err_set(err, DF_E_NOMEM, "out of memory for the model");
    m->be = be;
    m->cfg = *c;
    wan_model_set_attn_hook(m, NULL);
    int rc = wan_weights_load(be, c, src, &m->w, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int wan_model_load(kern_backend_t be, const char *transformer_dir, struct wan_model **out,
                   struct df_err *err)
{
    *out = NULL;
    char path[4096];
    DF_FAIL_IF((size_t)snprintf(path, sizeof path, "%s/config.json", transformer_dir) >=
                   sizeof path,
               err, DF_E_INVAL, "%s: path too long", transformer_dir);
    struct wan_config c;
    DF_TRY(wan_config_load(path, &c, err));
    struct safetensors *st;
    DF_TRY(safetensors_open_model(transformer_dir, "diffusion_pytorch_model", &st, err));
    int rc = wan_config_check_weights(&c, st, err);
    if (rc == 0) {
        struct wan_tensor_source src = {wan_weights_read_safetensors, st};
        rc = wan_model_create(be, &c, &src, out, err);
    }
    /* The backend holds its own copy of every tensor: drop the mapping. */
    safetensors_close(st);
    return rc;
}

static void state_free(kern_backend_t be, struct wan_state *s)
{
    float *dev[] = {s->latent, s->text_in, s->tsin,  s->t_hidden, s->temb,     s->temb_act,
                    s->e0,     s->mods,    s->head_mod, s->ctx,   s->ctx_h,    s->k2,
                    s->v2,     s->cols,    s->x,     s->xn,       s->q,        s->k,
                    s->v,      s->o,       s->y,     s->ffh,      s->tok,      s->rope_cos,
                    s->rope_sin};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        kern_release(be, dev[i]);
    float *host[] = {s->h_rope_cos, s->h_rope_sin, s->h_tsin, s->h_temb,
                     s->h_e0,       s->h_mods,     s->h_head, s->h_tok};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
    memset(s, 0, sizeof *s);
}

void wan_model_free(struct wan_model *m)
{
    if (!m)
        return;
    state_free(m->be, &m->st);
    wan_weights_free(m->be, m->w);
    free(m);
}

const struct wan_config *wan_model_config(const struct wan_model *m)
{
    return &m->cfg;
}

void wan_model_set_attn_hook(struct wan_model *m, const struct wan_attn_hook *hook)
{
    m->hook_is_default = hook == NULL;
    m->hook = hook ? *hook : (struct wan_attn_hook){model_attend_local, NULL};
}

/* Check the shape against the model; resolve tok_count 0 to "all".  Returns
 * the sequence length S (> 0) or a negative code. */
static long long check_shape(const struct wan_config *c, const struct wan_shape *in,
                             struct wan_shape *out, struct df_err *err)
{
    long long S = wan_config_tokens(c, in->frames, in->height, in->width, err);
    if (S < 0)
        return S;
    *out = *in;
    DF_TRY(model_token_range(S, &out->tok_begin, &out->tok_count, INT32_MAX / 8, "sequence", err));
    DF_FAIL_IF(in->text_len <= 0 || in->text_len > (1 << 20), err, DF_E_INVAL,
               "text_len %d must be in [1, %d]", in->text_len, 1 << 20);
    return S;
}

int wan_model_reserve(struct wan_model *m, const struct wan_shape *max, struct df_err *err)
{
    const struct wan_config *c = &m->cfg;
    struct wan_shape sh;
    long long S = check_shape(c, max, &sh, err);
    if (S < 0)
        return (int)S;
    state_free(m->be, &m->st);
    m->embedded = 0;
    struct wan_state *s = &m->st;
    const size_t d = (size_t)c->dim, n = (size_t)sh.tok_count, L = (size_t)sh.text_len;
    const size_t P = (size_t)c->patch[0] * c->patch[1] * c->patch[2];
    const size_t half = (size_t)c->head_dim / 2, layers = (size_t)c->num_layers;
    const size_t lat = (size_t)sh.frames * sh.height * sh.width *
                       (size_t)(c->in_channels > c->out_channels ? c->in_channels
                                                                 : c->out_channels);
    const struct model_buf dev[] = {
        {&s->latent, lat},        {&s->text_in, L * c->text_dim}, {&s->tsin, c->freq_dim},
        {&s->t_hidden, d},        {&s->temb, d},                  {&s->temb_act, d},
        {&s->e0, 6 * d},          {&s->mods, layers * 6 * d},     {&s->head_mod, 2 * d},
        {&s->ctx, L * d},         {&s->ctx_h, L * d},             {&s->k2, L * d},
        {&s->v2, L * d},          {&s->cols, n * c->in_channels * P},
        {&s->x, n * d},           {&s->xn, n * d},                {&s->q, n * d},
        {&s->k, n * d},           {&s->v, n * d},                 {&s->o, n * d},
        {&s->y, n * d},           {&s->ffh, n * c->ffn_dim},      {&s->tok, n * P * c->out_channels},
        {&s->rope_cos, n * half}, {&s->rope_sin, n * half},
    };
    const struct model_buf host[] = {
        {&s->h_rope_cos, n * half}, {&s->h_rope_sin, n * half}, {&s->h_tsin, c->freq_dim},
        {&s->h_temb, d},            {&s->h_e0, 6 * d},          {&s->h_mods, layers * 6 * d},
        {&s->h_head, 2 * d},        {&s->h_tok, n * P * c->out_channels}};
    int rc = model_bufs_alloc(m->be, dev, sizeof dev / sizeof dev[0], host,
                              sizeof host / sizeof host[0], err);
    if (rc < 0) {
        df_err_prefix(err, "wan_model_reserve(%lld tokens, text %d)", (long long)n, sh.text_len);
        state_free(m->be, s);
        return rc;
    }
    s->cap_latent = lat;
    s->cap_tokens = (int64_t)n;
    s->cap_text = sh.text_len;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Embeddings (host-side tables)
 * ------------------------------------------------------------------------- */

/* get_timestep_embedding(t, freq_dim, flip_sin_to_cos=True, shift=0):
 * [cos(t·f_i) | sin(t·f_i) | 0 if odd], f_i = exp(-ln(10000)·i/half).  The
 * float32 arithmetic follows torch's so large t rounds the same way. */
static void timestep_sinusoid(float t, int freq_dim, float *out)
{
    const int half = freq_dim / 2;
    const float neg_log_period = (float)-log(10000.0);
    for (int i = 0; i < half; i++) {
        float e = neg_log_period * (float)i / (float)half;
        float arg = t * expf(e);
        out[i] = cosf(arg);
        out[half + i] = sinf(arg);
    }
    if (freq_dim % 2)
        out[freq_dim - 1] = 0.0f;
}

/* WanRotaryPosEmbed: head_dim split into t/h/w parts (rope_dims); pair i of
 * part a with width n_a rotates by pos_a · theta^(-2i/n_a), theta = 10000,
 * computed in float64 like diffusers, for the GLOBAL (f, y, x) of each token. */
static void rope_tables(const struct wan_config *c, const struct wan_shape *sh, float *cos_out,
                        float *sin_out)
{
    const int Hp = sh->height / c->patch[1], Wp = sh->width / c->patch[2];
    const int half = c->head_dim / 2;
    int pair = 0;
    for (int a = 0; a < 3; a++) {
        const int n = c->rope_dims[a];
        for (int i = 0; i < n / 2; i++, pair++) {
            const double freq = 1.0 / pow(10000.0, (double)(2 * i) / (double)n);
            for (int64_t j = 0; j < sh->tok_count; j++) {
                const int64_t g = sh->tok_begin + j;
                const int64_t pos = a == 0 ? g / ((int64_t)Hp * Wp) : a == 1 ? (g / Wp) % Hp : g % Wp;
                const double ang = (double)pos * freq;
                cos_out[j * half + pair] = (float)cos(ang);
                sin_out[j * half + pair] = (float)sin(ang);
            }
        }
    }
}

/* ---------------------------------------------------------------------------
 * Forward
 * ------------------------------------------------------------------------- */

/* Timestep: sinusoid -> time_embedder (Linear, SiLU, Linear) -> temb;
 * time_proj(SiLU(temb)) -> e0, six [d] modulation vectors; both copied to
 * the host mirrors.  Shared by the forward and wan_model_time_embed() so a
 * step cache sees exactly the values the forward uses. */
static int time_embed(struct wan_model *m, float timestep, struct df_err *err)
{
    const struct wan_config *c = &m->cfg;
    const struct wan_weights *w = m->w;
    struct wan_state *s = &m->st;
    kern_backend_t be = m->be;
    const int d = c->dim;
    timestep_sinusoid(timestep, c->freq_dim, s->h_tsin);
    DF_TRY(kern_upload(be, s->tsin, s->h_tsin, (size_t)c->freq_dim, err));  /* [freq] */
    DF_TRY(kern_linear(be, s->tsin, w->time_linear_1.w, w->time_linear_1.b, s->t_hidden, 1,
                       c->freq_dim, d, err));                                  /* [d] */
    DF_TRY(kern_silu(be, s->t_hidden, s->t_hidden, (size_t)d, err));          /* [d] */
    DF_TRY(kern_linear(be, s->t_hidden, w->time_linear_2.w, w->time_linear_2.b, s->temb, 1, d, d,
                       err));                                                  /* temb [d] */
    DF_TRY(kern_silu(be, s->temb, s->temb_act, (size_t)d, err));              /* [d] */
    DF_TRY(kern_linear(be, s->temb_act, w->time_proj.w, w->time_proj.b, s->e0, 1, d, 6 * d,
                       err));                                                  /* e0 [6d] */
    DF_TRY(kern_download(be, s->h_temb, s->temb, (size_t)d, err));
    DF_TRY(kern_download(be, s->h_e0, s->e0, (size_t)6 * d, err));
    return 0;
}

int wan_model_embed(struct wan_model *m, const struct wan_shape *shape, const float *latent,
                    float timestep, const float *text, struct df_err *err)
{
    const struct wan_config *c = &m->cfg;
    const struct wan_weights *w = m->w;
    struct wan_state *s = &m->st;
    kern_backend_t be = m->be;
    struct wan_shape sh;
    long long S = check_shape(c, shape, &sh, err);
    if (S < 0)
        return (int)S;
    const int d = c->dim, L = sh.text_len, n = (int)sh.tok_count;
    const int P = c->patch[0] * c->patch[1] * c->patch[2];
    const size_t lat = (size_t)c->in_channels * sh.frames * sh.height * sh.width;
    DF_FAIL_IF(!s->x || sh.tok_count > s->cap_tokens || L > s->cap_text || lat > s->cap_latent,
               err, DF_E_RANGE,
               "forward of %d tokens, text %d, latent %zu floats exceeds wan_model_reserve() "
               "(%lld tokens, text %d, latent %zu)",
               n, L, lat, (long long)s->cap_tokens, s->cap_text, s->cap_latent);
    DF_FAIL_IF(m->hook_is_default && sh.tok_count != S, err, DF_E_INVAL,
               "token range [%lld, %lld) of %lld tokens needs an attention hook that sees the "
               "other ranges' keys (the default attends locally)",
               (long long)sh.tok_begin, (long long)(sh.tok_begin + sh.tok_count), S);
    m->cur = sh;
    m->cur_seq = S;

    /* 1. Timestep -> temb, e0 (time_embed above). */
    DF_TRY(time_embed(m, timestep, err));

    /* Per-block modulation = scale_shift_table [6, d] + e0, and the head's
     * (shift, scale) = scale_shift_table [2, d] + temb: small, on the host. */
    for (int l = 0; l < c->num_layers; l++) {
        const float *tab = w->blocks[l].scale_shift_table;
        float *mod = s->h_mods + (size_t)l * 6 * d;
        for (int i = 0; i < 6 * d; i++)
            mod[i] = tab[i] + s->h_e0[i];
    }
    DF_TRY(kern_upload(be, s->mods, s->h_mods, (size_t)c->num_layers * 6 * d, err));
    for (int i = 0; i < 2 * d; i++)
        s->h_head[i] = w->scale_shift_table[i] + s->h_temb[i % d];
    DF_TRY(kern_upload(be, s->head_mod, s->h_head, (size_t)2 * d, err));

    /* 2. Text: text_embedder = Linear, GELU(tanh), Linear. */
    DF_TRY(kern_upload(be, s->text_in, text, (size_t)L * c->text_dim, err)); /* [L, text_dim] */
    DF_TRY(kern_linear_gelu(be, s->text_in, w->text_linear_1.w, w->text_linear_1.b, s->ctx_h, L,
                            c->text_dim, d, err));                             /* [L, d] */
    DF_TRY(kern_linear(be, s->ctx_h, w->text_linear_2.w, w->text_linear_2.b, s->ctx, L, d, d,
                       err));                                                  /* ctx [L, d] */

    /* 3. Patches of this range -> Conv3d as a linear -> hidden state. */
    DF_TRY(kern_upload(be, s->latent, latent, lat, err));                      /* [C, T, H, W] */
    DF_TRY(kern_patchify(be, s->latent, s->cols, c->in_channels, sh.frames, sh.height, sh.width,
                         c->patch[0], c->patch[1], c->patch[2], sh.tok_begin, sh.tok_count,
                         err));                                                /* [s, C*P] */
    DF_TRY(kern_linear(be, s->cols, w->patch_embedding.w, w->patch_embedding.b, s->x, n,
                       c->in_channels * P, d, err));                           /* x [s, d] */

    /* 4. RoPE tables of the range's global positions. */
    rope_tables(c, &sh, s->h_rope_cos, s->h_rope_sin);
    const size_t nr = (size_t)n * (c->head_dim / 2);
    DF_TRY(kern_upload(be, s->rope_cos, s->h_rope_cos, nr, err));              /* [s, D/2] */
    DF_TRY(kern_upload(be, s->rope_sin, s->h_rope_sin, nr, err));              /* [s, D/2] */
    m->embedded = 1;
    return 0;
}

/* One WanTransformerBlock on x [s, d] (in place). */
static int block_forward(struct wan_model *m, int l, struct df_err *err)
{
    const struct wan_config *c = &m->cfg;
    const struct wan_block_weights *b = &m->w->blocks[l];
    struct wan_state *s = &m->st;
    kern_backend_t be = m->be;
    const int d = c->dim, H = c->num_heads, D = c->head_dim, L = m->cur.text_len;
    const int n = (int)m->cur.tok_count;
    const float eps = c->eps;
    const float *mod = s->mods + (size_t)l * 6 * d;
    const float *shift_msa = mod, *scale_msa = mod + d, *gate_msa = mod + 2 * d;
    const float *c_shift = mod + 3 * d, *c_scale = mod + 4 * d, *c_gate = mod + 5 * d;

    /* 1. Self-attention: xn = LN(x)·(1 + scale) + shift. */
    DF_TRY(kern_norm_modulate(be, s->x, s->xn, n, d, eps, scale_msa, shift_msa, err)); /* [s, d] */
    DF_TRY(kern_linear(be, s->xn, b->attn1_to_q.w, b->attn1_to_q.b, s->q, n, d, d, err));
    DF_TRY(kern_linear(be, s->xn, b->attn1_to_k.w, b->attn1_to_k.b, s->k, n, d, d, err));
    DF_TRY(kern_linear(be, s->xn, b->attn1_to_v.w, b->attn1_to_v.b, s->v, n, d, d, err));
    /* q/k RMSNorm over all heads, then RoPE (one fused pass where the backend has it) */
    DF_TRY(kern_qk_norm_rope(be, s->q, n, H, D, eps, b->attn1_norm_q, s->rope_cos, s->rope_sin,
                             err));                                                /* [s, H, D] */
    DF_TRY(kern_qk_norm_rope(be, s->k, n, H, D, eps, b->attn1_norm_k, s->rope_cos, s->rope_sin,
                             err));                                                /* [s, H, D] */
    DF_TRY(m->hook.attend(m->hook.ctx, be, l, s->q, s->k, s->v, s->o, n, H, D, err)); /* [s, H, D] */
    DF_TRY(kern_linear(be, s->o, b->attn1_to_out.w, b->attn1_to_out.b, s->y, n, d, d, err));
    DF_TRY(kern_gated_add(be, s->x, s->y, gate_msa, n, d, err));                   /* x += g·y */

    /* 2. Cross-attention to the text: norm2 (affine LN, or identity). */
    const float *xin = s->x;
    if (b->norm2_weight) {
        DF_TRY(kern_layernorm(be, s->x, s->xn, n, d, eps, b->norm2_weight, b->norm2_bias, err));
        xin = s->xn;                                                                /* [s, d] */
    }
    DF_TRY(kern_linear(be, xin, b->attn2_to_q.w, b->attn2_to_q.b, s->q, n, d, d, err));
    DF_TRY(kern_linear(be, s->ctx, b->attn2_to_k.w, b->attn2_to_k.b, s->k2, L, d, d, err));
    DF_TRY(kern_linear(be, s->ctx, b->attn2_to_v.w, b->attn2_to_v.b, s->v2, L, d, d, err));
    DF_TRY(kern_rmsnorm(be, s->q, s->q, n, d, eps, b->attn2_norm_q, err));         /* [s, d] */
    DF_TRY(kern_rmsnorm(be, s->k2, s->k2, L, d, eps, b->attn2_norm_k, err));       /* [L, d] */
    DF_TRY(kern_attention(be, s->q, s->k2, s->v2, s->o, NULL, n, L, H, D, L,
                          1.0f / sqrtf((float)D), err));                           /* [s, H, D] */
    DF_TRY(kern_linear(be, s->o, b->attn2_to_out.w, b->attn2_to_out.b, s->y, n, d, d, err));
    DF_TRY(kern_add(be, s->x, s->y, (size_t)n * d, err));                          /* x += y */

    /* 3. Feed-forward: xn = LN(x)·(1 + c_scale) + c_shift; GELU(tanh) MLP. */
    DF_TRY(kern_norm_modulate(be, s->x, s->xn, n, d, eps, c_scale, c_shift, err)); /* [s, d] */
    DF_TRY(kern_linear_gelu(be, s->xn, b->ffn_in.w, b->ffn_in.b, s->ffh, n, d, c->ffn_dim,
                            err));                                                 /* [s, ffn] */
    DF_TRY(kern_linear(be, s->ffh, b->ffn_out.w, b->ffn_out.b, s->y, n, c->ffn_dim, d, err));
    return kern_gated_add(be, s->x, s->y, c_gate, n, d, err);                      /* x += g·y */
}

int wan_model_blocks(struct wan_model *m, struct df_err *err)
{
    DF_FAIL_IF(!m->embedded, err, DF_E_INVAL, "wan_model_blocks() before wan_model_embed()");
    for (int l = 0; l < m->cfg.num_layers; l++) {
        int rc = block_forward(m, l, err);
        if (rc < 0) {
            df_err_prefix(err, "block %d", l);
            return rc;
        }
    }
    return 0;
}

int wan_model_head(struct wan_model *m, float *out, struct df_err *err)
{
    DF_FAIL_IF(!m->embedded, err, DF_E_INVAL, "wan_model_head() before wan_model_embed()");
    const struct wan_config *c = &m->cfg;
    struct wan_state *s = &m->st;
    const struct wan_shape *sh = &m->cur;
    kern_backend_t be = m->be;
    const int d = c->dim, n = (int)sh->tok_count, C = c->out_channels;
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2], P = pt * ph * pw;

    /* norm_out (no affine) · (1 + scale) + shift, then proj_out. */
    DF_TRY(kern_norm_modulate(be, s->x, s->xn, n, d, c->eps, s->head_mod + d, s->head_mod,
                              err));                                                   /* [s, d] */
    DF_TRY(kern_linear(be, s->xn, m->w->proj_out.w, m->w->proj_out.b, s->tok, n, d, P * C,
                       err));                                                          /* [s, P*C] */
    DF_TRY(kern_download(be, s->h_tok, s->tok, (size_t)n * P * C, err));

    /* Unpatchify on the host: token (f, y, x), column ((kt·ph + kh)·pw + kw)·C + c
     * -> out[c, f·pt + kt, y·ph + kh, x·pw + kw] (diffusers' reshape to
     * (f, h, w, pt, ph, pw, C) and permute).  Host-side so that a rank writes
     * only its own positions of the caller's buffer. */
    const int T = sh->frames, Hh = sh->height, W = sh->width;
    const int Hp = Hh / ph, Wp = W / pw;
    for (int j = 0; j < n; j++) {
        const int64_t g = sh->tok_begin + j;
        const int f = (int)(g / ((int64_t)Hp * Wp)), y = (int)((g / Wp) % Hp), x = (int)(g % Wp);
        const float *row = s->h_tok + (size_t)j * P * C;
        for (int kt = 0; kt < pt; kt++)
            for (int kh = 0; kh < ph; kh++)
                for (int kw = 0; kw < pw; kw++) {
                    const float *src = row + (size_t)((kt * ph + kh) * pw + kw) * C;
                    size_t base = (((size_t)(f * pt + kt) * Hh) + (size_t)(y * ph + kh)) * W +
                                  (size_t)(x * pw + kw);
                    for (int ch = 0; ch < C; ch++)
                        out[(size_t)ch * T * Hh * W + base] = src[ch];
                }
    }
    return 0;
}

int wan_model_forward(struct wan_model *m, const struct wan_shape *shape, const float *latent,
                      float timestep, const float *text, float *out, struct df_err *err)
{
    DF_TRY(wan_model_embed(m, shape, latent, timestep, text, err));
    DF_TRY(wan_model_blocks(m, err));
    return wan_model_head(m, out, err);
}

/* ---------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------- */

int wan_model_time_embed(struct wan_model *m, float timestep, struct df_err *err)
{
    DF_FAIL_IF(!m->st.temb, err, DF_E_INVAL, "wan_model_time_embed() before wan_model_reserve()");
    return time_embed(m, timestep, err);
}

const float *wan_model_temb(const struct wan_model *m)
{
    return m->st.h_temb;
}

const float *wan_model_timestep_proj(const struct wan_model *m)
{
    return m->st.h_e0;
}

float *wan_model_hidden(struct wan_model *m, int64_t *rows)
{
    if (rows)
        *rows = m->embedded ? m->cur.tok_count : 0;
    return m->st.x;
}

double wan_model_flops(const struct wan_config *c, const struct wan_shape *shape)
{
    const double d = c->dim, f = c->ffn_dim, L = shape->text_len;
    const double S = (double)(shape->frames / c->patch[0]) * (shape->height / c->patch[1]) *
                     (shape->width / c->patch[2]);
    const double s = shape->tok_count ? (double)shape->tok_count : S;
    const double P = (double)c->patch[0] * c->patch[1] * c->patch[2];
    double block = 2 * s * d * d * 4       /* self q, k, v, out */
                   + 2 * s * d * d * 2     /* cross q, out */
                   + 2 * L * d * d * 2     /* cross k, v */
                   + 2 * s * d * f * 2     /* FFN */
                   + 4 * s * S * d         /* self-attention: QKᵀ and PV */
                   + 4 * s * L * d;        /* cross-attention */
    double embed = 2 * s * d * c->in_channels * P + 2 * L * d * (c->text_dim + d);
    double head = 2 * s * d * c->out_channels * P;
    return c->num_layers * block + embed + head;
}
