/*
 * cogvideox_weights.c -- diffusers key names and shapes of the CogVideoX DiT,
 * and the loader that turns them into backend weights.
 *
 * ref: diffusers/models/transformers/cogvideox_transformer_3d.py (v0.42)
 *   CogVideoXTransformer3DModel.__init__: patch_embed (CogVideoXPatchEmbed:
 *     proj Conv2d [dim, C, p, p] or Linear [dim, C*pt*p*p], text_proj),
 *     time_embedding / ofs_embedding (TimestepEmbedding linear_1, linear_2),
 *     transformer_blocks[i], norm_final, norm_out (AdaLayerNorm: linear, norm),
 *     proj_out
 *   CogVideoXBlock: norm1 / norm2 (CogVideoXLayerNormZero: linear, norm),
 *     attn1 (Attention: to_q/k/v, norm_q/norm_k LayerNorm(head_dim), to_out.0),
 *     ff.net.0.proj / ff.net.2 (FeedForward, gelu-approximate)
 * Every tensor is visited by walk() in one order; loading and listing both go
 * through it, so a name is spelled once.
 */
#include "cogvideox_weights.h"

#include "model_common.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
    char name[256];
    int ndim;
    int64_t shape[4];
    struct kern_weight **w; /* matrix -> backend weight [rows, cols] */
    int rows, cols;
    float **vec;            /* vector -> backend buffer */
};

typedef int (*visit_fn)(const struct item *it, void *ctx);

struct walker {
    visit_fn visit;
    void *ctx;
    char prefix[64]; /* "transformer_blocks.3." or "" */
};

static int emit_vec(struct walker *wk, float **vec, int n, const char *name)
{
    struct item it = {.ndim = 1, .shape = {n}, .vec = vec};
    snprintf(it.name, sizeof it.name, "%s%s", wk->prefix, name);
    return wk->visit(&it, wk->ctx);
}

/* `<name>.weight` [out, in] (or `shape` when the file stores a conv) and,
 * when has_bias, `<name>.bias` [out]. */
static int linear(struct walker *wk, struct cogvideox_linear *lin, int out, int in, int has_bias,
                  const char *name, int ndim, const int64_t *shape)
{
    struct item it = {.ndim = ndim ? ndim : 2, .shape = {out, in}, .rows = out, .cols = in};
    if (ndim)
        memcpy(it.shape, shape, (size_t)ndim * sizeof *shape);
    if (lin) {
        lin->out = out, lin->in = in;
        it.w = &lin->w;
    }
    snprintf(it.name, sizeof it.name, "%s%s.weight", wk->prefix, name);
    DF_TRY(wk->visit(&it, wk->ctx));
    if (!has_bias)
        return 0;
    char bias[96];
    snprintf(bias, sizeof bias, "%s.bias", name);
    return emit_vec(wk, lin ? &lin->b : NULL, out, bias);
}

static int norm(struct walker *wk, struct cogvideox_norm *n, int dim, int affine, const char *name)
{
    if (!affine)
        return 0;
    char buf[96];
    snprintf(buf, sizeof buf, "%s.weight", name);
    DF_TRY(emit_vec(wk, n ? &n->w : NULL, dim, buf));
    snprintf(buf, sizeof buf, "%s.bias", name);
    return emit_vec(wk, n ? &n->b : NULL, dim, buf);
}

#define FIELD(w, f) ((w) ? &(w)->f : NULL)

static int walk_block(struct walker *wk, const struct cogvideox_config *c,
                      struct cogvideox_block_weights *b)
{
    const int d = c->dim, te = c->time_embed_dim, ab = c->attention_bias;
    DF_TRY(linear(wk, FIELD(b, norm1_linear), 6 * d, te, 1, "norm1.linear", 0, NULL));
    DF_TRY(norm(wk, FIELD(b, norm1), d, c->norm_affine, "norm1.norm"));
    DF_TRY(linear(wk, FIELD(b, to_q), d, d, ab, "attn1.to_q", 0, NULL));
    DF_TRY(linear(wk, FIELD(b, to_k), d, d, ab, "attn1.to_k", 0, NULL));
    DF_TRY(linear(wk, FIELD(b, to_v), d, d, ab, "attn1.to_v", 0, NULL));
    DF_TRY(norm(wk, FIELD(b, norm_q), c->head_dim, 1, "attn1.norm_q"));
    DF_TRY(norm(wk, FIELD(b, norm_k), c->head_dim, 1, "attn1.norm_k"));
    DF_TRY(linear(wk, FIELD(b, to_out), d, d, 1, "attn1.to_out.0", 0, NULL));
    DF_TRY(linear(wk, FIELD(b, norm2_linear), 6 * d, te, 1, "norm2.linear", 0, NULL));
    DF_TRY(norm(wk, FIELD(b, norm2), d, c->norm_affine, "norm2.norm"));
    DF_TRY(linear(wk, FIELD(b, ff_in), c->ffn_dim, d, 1, "ff.net.0.proj", 0, NULL));
    return linear(wk, FIELD(b, ff_out), d, c->ffn_dim, 1, "ff.net.2", 0, NULL);
}

static int walk(const struct cogvideox_config *c, struct cogvideox_weights *w, visit_fn visit,
                void *ctx)
{
    struct walker wk = {.visit = visit, .ctx = ctx};
    const int d = c->dim, te = c->time_embed_dim, p = c->patch;
    const int pt = c->patch_t ? c->patch_t : 1, C = c->in_channels;
    /* 1.0's Conv2d weight [dim, C, p, p] is a linear over (c, kh, kw): the
     * columns kern_patchify writes with pt = 1; 1.5's Linear takes (c, kt,
     * kh, kw) likewise. */
    const int64_t conv[4] = {d, C, p, p};
    /* patch_bias only reaches the Conv2d: 1.5's nn.Linear always has a bias. */
    DF_TRY(linear(&wk, FIELD(w, patch_proj), d, C * pt * p * p, c->patch_t || c->patch_bias,
                  "patch_embed.proj",
                  c->patch_t ? 0 : 4, conv));
    DF_TRY(linear(&wk, FIELD(w, text_proj), d, c->text_dim, 1, "patch_embed.text_proj", 0, NULL));
    DF_TRY(linear(&wk, FIELD(w, time_1), te, d, 1, "time_embedding.linear_1", 0, NULL));
    DF_TRY(linear(&wk, FIELD(w, time_2), te, te, 1, "time_embedding.linear_2", 0, NULL));
    if (c->ofs_embed_dim) {
        const int od = c->ofs_embed_dim;
        DF_TRY(linear(&wk, FIELD(w, ofs_1), od, od, 1, "ofs_embedding.linear_1", 0, NULL));
        DF_TRY(linear(&wk, FIELD(w, ofs_2), od, od, 1, "ofs_embedding.linear_2", 0, NULL));
    }
    for (int i = 0; i < c->num_layers; i++) {
        snprintf(wk.prefix, sizeof wk.prefix, "transformer_blocks.%d.", i);
        DF_TRY(walk_block(&wk, c, w ? &w->blocks[i] : NULL));
    }
    wk.prefix[0] = '\0';
    DF_TRY(norm(&wk, FIELD(w, norm_final), d, c->norm_affine, "norm_final"));
    DF_TRY(linear(&wk, FIELD(w, norm_out_linear), 2 * d, te, 1, "norm_out.linear", 0, NULL));
    DF_TRY(norm(&wk, FIELD(w, norm_out), d, c->norm_affine, "norm_out.norm"));
    return linear(&wk, FIELD(w, proj_out), pt * p * p * c->out_channels, d, 1, "proj_out", 0,
                  NULL);
}

struct list_ctx {
    int (*fn)(const char *name, int ndim, const int64_t *shape, void *ctx);
    void *ctx;
};

static int list_visit(const struct item *it, void *ctx)
{
    const struct list_ctx *lc = ctx;
    return lc->fn(it->name, it->ndim, it->shape, lc->ctx);
}

int cogvideox_weights_foreach(const struct cogvideox_config *c,
                              int (*fn)(const char *name, int ndim, const int64_t *shape,
                                        void *ctx),
                              void *ctx)
{
    struct list_ctx lc = {fn, ctx};
    return walk(c, NULL, list_visit, &lc);
}

int cogvideox_weights_read_safetensors(void *ctx, const char *name, int ndim,
                                       const int64_t *shape, float *dst, struct df_err *err)
{
    return safetensors_read_f32(ctx, name, ndim, shape, dst, err);
}

struct load_ctx {
    kern_backend_t be;
    const struct cogvideox_tensor_source *src;
    struct model_scratch scratch;
    struct df_err *err;
};

static int load_visit(const struct item *it, void *ctx)
{
    struct load_ctx *lc = ctx;
    size_t n;
    DF_TRY(model_scratch_read(&lc->scratch, lc->src->read, lc->src->ctx, it->name, it->ndim,
                              it->shape, &n, lc->err));
    if (it->w)
        return kern_weight_create(lc->be, lc->scratch.p, it->rows, it->cols, it->w, lc->err);
    return model_vec_upload(lc->be, it->vec, lc->scratch.p, n, lc->err);
}

int cogvideox_weights_load(kern_backend_t be, const struct cogvideox_config *c,
                           const struct cogvideox_tensor_source *src,
                           struct cogvideox_weights **out, struct df_err *err)
{
    *out = NULL;
    struct cogvideox_weights *w = calloc(1, sizeof *w);
    if (w)
        w->blocks = calloc((size_t)c->num_layers, sizeof *w->blocks);
    if (!w || !w->blocks) {
        free(w);
        return df_err_set(err, DF_E_NOMEM, "out of memory for the weight table");
    }
    w->num_layers = c->num_layers;
    struct load_ctx lc = {.be = be, .src = src, .err = err};
    int rc = walk(c, w, load_visit, &lc);
    free(lc.scratch.p);
    if (rc < 0) {
        cogvideox_weights_free(be, w);
        return rc;
    }
    *out = w;
    return 0;
}

static void free_linear(kern_backend_t be, struct cogvideox_linear *l)
{
    kern_weight_free(be, l->w);
    kern_release(be, l->b);
}

static void free_norm(kern_backend_t be, struct cogvideox_norm *n)
{
    kern_release(be, n->w);
    kern_release(be, n->b);
}

void cogvideox_weights_free(kern_backend_t be, struct cogvideox_weights *w)
{
    if (!w)
        return;
    struct cogvideox_linear *top[] = {&w->patch_proj, &w->text_proj, &w->time_1, &w->time_2,
                                      &w->ofs_1, &w->ofs_2, &w->norm_out_linear, &w->proj_out};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        free_linear(be, top[i]);
    free_norm(be, &w->norm_final);
    free_norm(be, &w->norm_out);
    for (int i = 0; w->blocks && i < w->num_layers; i++) {
        struct cogvideox_block_weights *b = &w->blocks[i];
        struct cogvideox_linear *lins[] = {&b->norm1_linear, &b->to_q, &b->to_k, &b->to_v,
                                           &b->to_out, &b->norm2_linear, &b->ff_in, &b->ff_out};
        for (size_t j = 0; j < sizeof lins / sizeof lins[0]; j++)
            free_linear(be, lins[j]);
        struct cogvideox_norm *norms[] = {&b->norm1, &b->norm_q, &b->norm_k, &b->norm2};
        for (size_t j = 0; j < sizeof norms / sizeof norms[0]; j++)
            free_norm(be, norms[j]);
    }
    free(w->blocks);
    free(w);
}
