/*
 * wan_weights.c -- diffusers key names and shapes of the Wan2.1 DiT, and the
 * loader that turns them into backend weights.
 *
 * ref: diffusers/models/transformers/transformer_wan.py (v0.42)
 *   WanTransformer3DModel.__init__: patch_embedding (Conv3d), condition_embedder,
 *     blocks[i], norm_out (no params), proj_out, scale_shift_table [1, 2, dim]
 *   WanTimeTextImageEmbedding: time_embedder.linear_1/linear_2 (TimestepEmbedding),
 *     time_proj (Linear dim -> 6*dim), text_embedder.linear_1/linear_2
 *     (PixArtAlphaTextProjection)
 *   WanTransformerBlock: attn1/attn2 (WanAttention: to_q, to_k, to_v, to_out.0,
 *     norm_q, norm_k), norm2 (FP32LayerNorm, affine, only if cross_attn_norm),
 *     ffn.net.0.proj / ffn.net.2 (FeedForward, gelu-approximate),
 *     scale_shift_table [1, 6, dim]
 * Every tensor is visited by walk() in one fixed order; loading, listing and
 * the demo-model generator all go through it, so a name is spelled once.
 */
#include "wan_weights.h"

#include "model_common.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum slot_kind {
    SLOT_KIND_LINEAR_W, /* matrix -> kern_weight [rows, cols] */
    SLOT_KIND_LINEAR_B, /* bias of a wan_linear -> backend vector */
    SLOT_KIND_DEVICE,   /* other vector -> backend buffer (float **) */
    SLOT_KIND_HOST,     /* -> malloc'd host array (float **) */
    SLOT_KIND_COUNT
};

struct item {
    char name[128];
    int ndim;
    int64_t shape[5];
    enum slot_kind kind;
    struct wan_linear *lin; /* LINEAR_W / LINEAR_B */
    float **vec;            /* DEVICE / HOST */
};

typedef int (*visit_fn)(const struct item *it, void *ctx);

struct walker {
    visit_fn visit;
    void *ctx;
};

static int emit(struct walker *wk, enum slot_kind kind, struct wan_linear *lin, float **vec,
                int ndim, const int64_t *shape, const char *fmt, int a)
{
    struct item it = {.ndim = ndim, .kind = kind, .lin = lin, .vec = vec};
    snprintf(it.name, sizeof it.name, fmt, a);
    memcpy(it.shape, shape, (size_t)ndim * sizeof *shape);
    return wk->visit(&it, wk->ctx);
}

/* `<prefix>.weight` [out, in] and `<prefix>.bias` [out]. */
static int linear(struct walker *wk, struct wan_linear *lin, int out, int in, const char *prefix,
                  int block)
{
    char fmt[128];
    int64_t ws[2] = {out, in}, bs[1] = {out};
    if (lin)
        lin->out = out, lin->in = in;
    snprintf(fmt, sizeof fmt, "%s.weight", prefix);
    DF_TRY(emit(wk, SLOT_KIND_LINEAR_W, lin, NULL, 2, ws, fmt, block));
    snprintf(fmt, sizeof fmt, "%s.bias", prefix);
    return emit(wk, SLOT_KIND_LINEAR_B, lin, NULL, 1, bs, fmt, block);
}

#define FIELD(w, f) ((w) ? &(w)->f : NULL)

static int walk_block(struct walker *wk, const struct wan_config *c, struct wan_block_weights *b,
                      int i)
{
    const int d = c->dim;
    const int64_t vd[1] = {d}, sst[3] = {1, 6, d};
    DF_TRY(emit(wk, SLOT_KIND_HOST, NULL, FIELD(b, scale_shift_table), 3, sst,
                "blocks.%d.scale_shift_table", i));
    DF_TRY(linear(wk, FIELD(b, attn1_to_q), d, d, "blocks.%d.attn1.to_q", i));
    DF_TRY(linear(wk, FIELD(b, attn1_to_k), d, d, "blocks.%d.attn1.to_k", i));
    DF_TRY(linear(wk, FIELD(b, attn1_to_v), d, d, "blocks.%d.attn1.to_v", i));
    DF_TRY(linear(wk, FIELD(b, attn1_to_out), d, d, "blocks.%d.attn1.to_out.0", i));
    DF_TRY(emit(wk, SLOT_KIND_DEVICE, NULL, FIELD(b, attn1_norm_q), 1, vd,
                "blocks.%d.attn1.norm_q.weight", i));
    DF_TRY(emit(wk, SLOT_KIND_DEVICE, NULL, FIELD(b, attn1_norm_k), 1, vd,
                "blocks.%d.attn1.norm_k.weight", i));
    if (c->cross_attn_norm) {
        DF_TRY(emit(wk, SLOT_KIND_DEVICE, NULL, FIELD(b, norm2_weight), 1, vd,
                    "blocks.%d.norm2.weight", i));
        DF_TRY(emit(wk, SLOT_KIND_DEVICE, NULL, FIELD(b, norm2_bias), 1, vd,
                    "blocks.%d.norm2.bias", i));
    }
    DF_TRY(linear(wk, FIELD(b, attn2_to_q), d, d, "blocks.%d.attn2.to_q", i));
    DF_TRY(linear(wk, FIELD(b, attn2_to_k), d, d, "blocks.%d.attn2.to_k", i));
    DF_TRY(linear(wk, FIELD(b, attn2_to_v), d, d, "blocks.%d.attn2.to_v", i));
    DF_TRY(linear(wk, FIELD(b, attn2_to_out), d, d, "blocks.%d.attn2.to_out.0", i));
    DF_TRY(emit(wk, SLOT_KIND_DEVICE, NULL, FIELD(b, attn2_norm_q), 1, vd,
                "blocks.%d.attn2.norm_q.weight", i));
    DF_TRY(emit(wk, SLOT_KIND_DEVICE, NULL, FIELD(b, attn2_norm_k), 1, vd,
                "blocks.%d.attn2.norm_k.weight", i));
    DF_TRY(linear(wk, FIELD(b, ffn_in), c->ffn_dim, d, "blocks.%d.ffn.net.0.proj", i));
    return linear(wk, FIELD(b, ffn_out), d, c->ffn_dim, "blocks.%d.ffn.net.2", i);
}

static int walk(const struct wan_config *c, struct wan_weights *w, visit_fn visit, void *ctx)
{
    struct walker wk = {visit, ctx};
    const int d = c->dim, pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    const int64_t conv[5] = {d, c->in_channels, pt, ph, pw}, vd[1] = {d}, sst[3] = {1, 2, d};
    /* The Conv3d weight [dim, C, pt, ph, pw] is a linear over the patch's
     * C*pt*ph*pw values in (c, kt, kh, kw) order: kern_patchify's columns. */
    if (w)
        w->patch_embedding.out = d, w->patch_embedding.in = c->in_channels * pt * ph * pw;
    DF_TRY(emit(&wk, SLOT_KIND_LINEAR_W, FIELD(w, patch_embedding), NULL, 5, conv,
                "patch_embedding.weight", 0));
    DF_TRY(emit(&wk, SLOT_KIND_LINEAR_B, FIELD(w, patch_embedding), NULL, 1, vd,
                "patch_embedding.bias", 0));
    DF_TRY(linear(&wk, FIELD(w, time_linear_1), d, c->freq_dim,
                  "condition_embedder.time_embedder.linear_1", 0));
    DF_TRY(linear(&wk, FIELD(w, time_linear_2), d, d, "condition_embedder.time_embedder.linear_2",
                  0));
    DF_TRY(linear(&wk, FIELD(w, time_proj), 6 * d, d, "condition_embedder.time_proj", 0));
    DF_TRY(linear(&wk, FIELD(w, text_linear_1), d, c->text_dim,
                  "condition_embedder.text_embedder.linear_1", 0));
    DF_TRY(linear(&wk, FIELD(w, text_linear_2), d, d, "condition_embedder.text_embedder.linear_2",
                  0));
    for (int i = 0; i < c->num_layers; i++)
        DF_TRY(walk_block(&wk, c, w ? &w->blocks[i] : NULL, i));
    DF_TRY(emit(&wk, SLOT_KIND_HOST, NULL, FIELD(w, scale_shift_table), 3, sst,
                "scale_shift_table", 0));
    return linear(&wk, FIELD(w, proj_out), c->out_channels * pt * ph * pw, d, "proj_out", 0);
}

/* ---------------------------------------------------------------------------
 * Listing
 * ------------------------------------------------------------------------- */

struct list_ctx {
    int (*fn)(const char *name, int ndim, const int64_t *shape, void *ctx);
    void *ctx;
};

static int list_visit(const struct item *it, void *ctx)
{
    const struct list_ctx *lc = ctx;
    return lc->fn(it->name, it->ndim, it->shape, lc->ctx);
}

int wan_weights_foreach(const struct wan_config *c,
                        int (*fn)(const char *name, int ndim, const int64_t *shape, void *ctx),
                        void *ctx)
{
    struct list_ctx lc = {fn, ctx};
    return walk(c, NULL, list_visit, &lc);
}

/* ---------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------- */

int wan_weights_read_safetensors(void *ctx, const char *name, int ndim, const int64_t *shape,
                                 float *dst, struct df_err *err)
{
    return safetensors_read_f32(ctx, name, ndim, shape, dst, err);
}

struct load_ctx {
    kern_backend_t be;
    const struct wan_tensor_source *src;
    struct model_scratch scratch; /* host buffer for the largest tensor */
    struct df_err *err;
};

static int load_visit(const struct item *it, void *ctx)
{
    struct load_ctx *lc = ctx;
    size_t n;
    DF_TRY(model_scratch_read(&lc->scratch, lc->src->read, lc->src->ctx, it->name, it->ndim,
                              it->shape, &n, lc->err));
    const float *data = lc->scratch.p;
    switch (it->kind) {
    case SLOT_KIND_LINEAR_W:
        return kern_weight_create(lc->be, data, it->lin->out, it->lin->in, &it->lin->w, lc->err);
    case SLOT_KIND_LINEAR_B:
        return model_vec_upload(lc->be, &it->lin->b, data, n, lc->err);
    case SLOT_KIND_DEVICE:
        return model_vec_upload(lc->be, it->vec, data, n, lc->err);
    case SLOT_KIND_HOST:
        *it->vec = malloc(n * sizeof(float));
        if (!*it->vec)
            return df_err_set(lc->err, DF_E_NOMEM, "out of memory for '%s'", it->name);
        memcpy(*it->vec, data, n * sizeof(float));
        return 0;
    default:
        return df_err_set(lc->err, DF_E_INTERNAL, "bad slot kind for '%s'", it->name);
    }
}

int wan_weights_load(kern_backend_t be, const struct wan_config *c,
                     const struct wan_tensor_source *src, struct wan_weights **out,
                     struct df_err *err)
{
    *out = NULL;
    struct wan_weights *w = calloc(1, sizeof *w);
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
        wan_weights_free(be, w);
        return rc;
    }
    *out = w;
    return 0;
}

static void free_linear(kern_backend_t be, struct wan_linear *l)
{
    kern_weight_free(be, l->w);
    kern_release(be, l->b);
}

void wan_weights_free(kern_backend_t be, struct wan_weights *w)
{
    if (!w)
        return;
    free_linear(be, &w->patch_embedding);
    free_linear(be, &w->time_linear_1);
    free_linear(be, &w->time_linear_2);
    free_linear(be, &w->time_proj);
    free_linear(be, &w->text_linear_1);
    free_linear(be, &w->text_linear_2);
    for (int i = 0; w->blocks && i < w->num_layers; i++) {
        struct wan_block_weights *b = &w->blocks[i];
        free(b->scale_shift_table);
        struct wan_linear *lins[] = {&b->attn1_to_q, &b->attn1_to_k, &b->attn1_to_v,
                                     &b->attn1_to_out, &b->attn2_to_q, &b->attn2_to_k,
                                     &b->attn2_to_v, &b->attn2_to_out, &b->ffn_in, &b->ffn_out};
        for (size_t j = 0; j < sizeof lins / sizeof lins[0]; j++)
            free_linear(be, lins[j]);
        float *vecs[] = {b->attn1_norm_q, b->attn1_norm_k, b->norm2_weight, b->norm2_bias,
                         b->attn2_norm_q, b->attn2_norm_k};
        for (size_t j = 0; j < sizeof vecs / sizeof vecs[0]; j++)
            kern_release(be, vecs[j]);
    }
    free(w->blocks);
    free(w->scale_shift_table);
    free_linear(be, &w->proj_out);
    free(w);
}
