/*
 * t5_encoder.c -- the T5 / umT5 encoder forward on the op table (t5_encoder.h).
 *
 * One forward per batch of whole prompts, their real tokens stacked as rows
 * [R, d_model]: the linears run on all rows at once (one weight conversion
 * serves the batch), attention runs per prompt on its own rows.  Per block,
 * as transformers' T5Block:
 *   x = rmsnorm(h)·g_attn;  q, k, v = x·Wqᵀ, x·Wkᵀ, x·Wvᵀ          [R, inner]
 *   a = softmax(q·kᵀ + bias(j − i))·v   per prompt and head, no 1/√d_kv
 *   h += a·Woᵀ
 *   x = rmsnorm(h)·g_ff;  h += (act(x·Wi0ᵀ) ⊙ x·Wi1ᵀ)·Woᵀ            (gated)
 * then the final rmsnorm.  The bias of a block is its bucket table (umT5) or
 * block 0's (T5 v1.1) laid out per distance for kern_attention_relbias().
 */
#include "t5_encoder.h"

#include "safetensors.h"
#include "t5_weights.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T5_ENCODER_MAGIC 0x7435656eu /* "t5en" */
#define RESIDENT_MAX_DEFAULT ((size_t)256 << 20)
#define BATCH_ROWS_DEFAULT 4096
#define T5_SLOTS 4 /* matrix shapes: [inner, d], [d, inner], [d_ff, d], [d, d_ff] */

struct t5_lin {
    const struct safetensors_tensor *t; /* [out, in] in the mapping */
    struct kern_weight *w;              /* kept backend weight, or NULL: streamed */
};

struct t5_block {
    struct t5_lin q, k, v, o, wi0, wi1, wo; /* wi1.t NULL when not gated */
    float *ln_attn, *ln_ff;                 /* backend [d_model] */
    float *bias;                            /* host [num_buckets, num_heads], NULL: none */
};

struct t5_encoder {
    uint32_t magic;         /* T5_ENCODER_MAGIC while alive */
    kern_backend_t be;      /* not owned */
    struct t5_config cfg;
    struct safetensors *st; /* the mapped weights */
    struct t5_tensors tens; /* their descriptors */
    struct t5_block *blocks;
    float *final_ln;        /* backend [d_model] */
    int batch_rows;         /* most rows per forward batch */
    int n_threads;          /* conversion threads */
    float *scratch;         /* host fp32 of the largest matrix, NULL when all kept */
    /* Streaming BF16 on a backend with kern_weight_load_bf16: one backend
     * weight per matrix shape, rewritten for each matrix of that shape. */
    struct kern_weight *slot[T5_SLOTS];
    int slot_rows[T5_SLOTS], slot_cols[T5_SLOTS]; /* their shapes */
    int no_bf16_load;       /* 1 once the backend said it has no such slot */
};

/* One batch's buffers, sized for `rows` tokens and `prompts` prompts. */
struct t5_acts {
    float *h, *x, *q, *k, *v, *a;  /* backend [rows, d_model] / [rows, inner] */
    float *f0, *f1, *f2;           /* backend [rows, d_ff] */
    float *rb;                     /* backend [prompts, H, 2·max_len − 1] */
    float *host;                   /* host [rows, d_model]: embeddings in, states out */
    float *host_rb;                /* host twin of rb */
    int *bucket;                   /* host [2·max_len − 1]: bucket of distance idx − (max_len−1) */
};

const struct t5_config *t5_encoder_config(t5_encoder_t enc)
{
    return enc ? &enc->cfg : NULL;
}

/* ---------------------------------------------------------------------------
 * Open / free
 * ------------------------------------------------------------------------- */

static int upload_vec(t5_encoder_t e, const struct safetensors_tensor *t, float **out,
                      struct df_err *err)
{
    size_t n = (size_t)t->numel;
    float *host = malloc(n * sizeof *host);
    DF_FAIL_IF(!host, err, DF_E_NOMEM, "t5: out of memory");
    int rc = safetensors_to_f32(t, host, n, err);
    if (rc == 0 && !(*out = kern_alloc(e->be, n, err)))
        rc = err ? err->code : DF_E_NOMEM;
    if (rc == 0)
        rc = kern_upload(e->be, *out, host, n, err);
    free(host);
    return rc;
}

static int keep_weight(t5_encoder_t e, struct t5_lin *l, float *scratch, struct df_err *err)
{
    if (!l->t)
        return 0;
    DF_TRY(t5_tensor_to_f32(l->t, scratch, e->n_threads, err));
    return kern_weight_create(e->be, scratch, (int)l->t->shape[0], (int)l->t->shape[1], &l->w,
                              err);
}

static int setup_block(t5_encoder_t e, int n, int keep, float *scratch, struct df_err *err)
{
    const struct t5_block_tensors *bt = &e->tens.blocks[n];
    struct t5_block *b = &e->blocks[n];
    b->q.t = bt->q, b->k.t = bt->k, b->v.t = bt->v, b->o.t = bt->o;
    b->wi0.t = bt->wi0, b->wi1.t = bt->wi1, b->wo.t = bt->wo;
    DF_TRY(upload_vec(e, bt->ln_attn, &b->ln_attn, err));
    DF_TRY(upload_vec(e, bt->ln_ff, &b->ln_ff, err));
    if (bt->rel_bias) {
        size_t nb = (size_t)bt->rel_bias->numel;
        b->bias = malloc(nb * sizeof *b->bias);
        DF_FAIL_IF(!b->bias, err, DF_E_NOMEM, "t5: out of memory");
        DF_TRY(safetensors_to_f32(bt->rel_bias, b->bias, nb, err));
    }
    if (!keep)
        return 0;
    struct t5_lin *lins[] = {&b->q, &b->k, &b->v, &b->o, &b->wi0, &b->wi1, &b->wo};
    for (size_t i = 0; i < sizeof lins / sizeof lins[0]; i++)
        DF_TRY(keep_weight(e, lins[i], scratch, err));
    return 0;
}

static int setup(t5_encoder_t e, const char *dir, const struct t5_encoder_opts *o,
                 struct df_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    DF_TRY(t5_config_load(path, &e->cfg, err));
    DF_TRY(safetensors_open_model(dir, "model", &e->st, err));
    DF_TRY(t5_tensors_find(e->st, &e->cfg, &e->tens, err));
    const struct t5_config *c = &e->cfg;
    e->blocks = calloc((size_t)c->num_layers, sizeof *e->blocks);
    DF_FAIL_IF(!e->blocks, err, DF_E_NOMEM, "t5: out of memory");
    DF_TRY(upload_vec(e, e->tens.final_ln, &e->final_ln, err));

    size_t largest = (size_t)c->d_ff * c->d_model;
    if ((size_t)c->inner_dim * c->d_model > largest)
        largest = (size_t)c->inner_dim * c->d_model;
    size_t per_block = (size_t)c->d_model * (4 * (size_t)c->inner_dim + (2 + c->gated) * (size_t)c->d_ff);
    size_t total = per_block * c->num_layers * sizeof(float);
    size_t cap = o && o->resident_max_bytes ? o->resident_max_bytes : RESIDENT_MAX_DEFAULT;
    /* Backends other than "cpu" store weights compactly on the device. */
    int keep = total <= cap || kern_backend_desc(e->be)->mem != BACKEND_MEM_HOST;
    e->scratch = malloc(largest * sizeof(float));
    DF_FAIL_IF(!e->scratch, err, DF_E_NOMEM, "t5: conversion buffer of %zu floats: out of memory",
               largest);
    for (int n = 0; n < c->num_layers; n++) {
        int rc = setup_block(e, n, keep, e->scratch, err);
        if (rc < 0) {
            df_err_prefix(err, "%s: block %d", dir, n);
            return rc;
        }
    }
    if (keep) {
        free(e->scratch);
        e->scratch = NULL;
    }
    return 0;
}

int t5_encoder_open(const char *dir, kern_backend_t be, const struct t5_encoder_opts *opts,
                    t5_encoder_t *out, struct df_err *err)
{
    *out = NULL;
    t5_encoder_t e = calloc(1, sizeof *e);
    DF_FAIL_IF(!e, err, DF_E_NOMEM, "t5: out of memory");
    e->magic = T5_ENCODER_MAGIC;
    e->be = be;
    e->batch_rows = opts && opts->batch_rows > 0 ? opts->batch_rows : BATCH_ROWS_DEFAULT;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    e->n_threads = cores > 0 ? (int)cores : 1;
    int rc = setup(e, dir, opts, err);
    if (rc < 0) {
        t5_encoder_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void t5_encoder_free(t5_encoder_t e)
{
    if (!e || e->magic != T5_ENCODER_MAGIC)
        return;
    for (int n = 0; e->blocks && n < e->cfg.num_layers; n++) {
        struct t5_block *b = &e->blocks[n];
        struct t5_lin *lins[] = {&b->q, &b->k, &b->v, &b->o, &b->wi0, &b->wi1, &b->wo};
        for (size_t i = 0; i < sizeof lins / sizeof lins[0]; i++)
            kern_weight_free(e->be, lins[i]->w);
        kern_release(e->be, b->ln_attn);
        kern_release(e->be, b->ln_ff);
        free(b->bias);
    }
    free(e->blocks);
    for (int i = 0; i < T5_SLOTS; i++)
        kern_weight_free(e->be, e->slot[i]);
    kern_release(e->be, e->final_ln);
    free(e->scratch);
    t5_tensors_fini(&e->tens);
    safetensors_close(e->st);
    e->magic = 0;
    free(e);
}

/* ---------------------------------------------------------------------------
 * Forward
 * ------------------------------------------------------------------------- */

/* The backend weight a streamed BF16 matrix is loaded into: the slot of its
 * shape (made from the first such matrix), NULL to take the general path. */
static int stream_slot(t5_encoder_t e, const struct safetensors_tensor *t, struct kern_weight **out,
                       struct df_err *err)
{
    *out = NULL;
    if (e->no_bf16_load || t->dtype != SAFETENSORS_DTYPE_BF16 || ((uintptr_t)t->data & 1))
        return 0;
    int rows = (int)t->shape[0], cols = (int)t->shape[1], i = 0;
    while (i < T5_SLOTS && e->slot[i] && !(e->slot_rows[i] == rows && e->slot_cols[i] == cols))
        i++;
    if (i == T5_SLOTS)
        return 0;
    if (!e->slot[i]) { /* first matrix of this shape: the general conversion makes it */
        DF_TRY(t5_tensor_to_f32(t, e->scratch, e->n_threads, err));
        DF_TRY(kern_weight_create(e->be, e->scratch, rows, cols, &e->slot[i], err));
        e->slot_rows[i] = rows, e->slot_cols[i] = cols;
        *out = e->slot[i];
        return 0;
    }
    struct df_err lerr = {0};
    int rc = kern_weight_load_bf16(e->be, e->slot[i], t->data, &lerr);
    if (rc == DF_E_UNSUPPORTED) {
        e->no_bf16_load = 1;
        return 0;
    }
    if (rc < 0)
        return df_err_set(err, rc, "%s: tensor '%s': %s", t->path, t->name, lerr.msg);
    *out = e->slot[i];
    return 0;
}

/* y[M, out] = x[M, in] · Wᵀ; a streamed W is loaded into its shape's slot
 * (BF16) or converted and made a backend weight just for this call. */
static int lin(t5_encoder_t e, const struct t5_lin *l, const float *x, float *y, int M,
               struct df_err *err)
{
    int rows = (int)l->t->shape[0], cols = (int)l->t->shape[1];
    struct kern_weight *w = l->w, *tmp = NULL;
    if (!w)
        DF_TRY(stream_slot(e, l->t, &w, err));
    if (!w) {
        DF_TRY(t5_tensor_to_f32(l->t, e->scratch, e->n_threads, err));
        DF_TRY(kern_weight_create(e->be, e->scratch, rows, cols, &tmp, err));
        w = tmp;
    }
    int rc = kern_linear(e->be, x, w, NULL, y, M, cols, rows, err);
    kern_weight_free(e->be, tmp);
    return rc;
}

/* Self-attention sub-layer of block n over the batch's prompts. */
static int attn_layer(t5_encoder_t e, struct t5_acts *A, int n, const int *lens, int np,
                      int max_len, int R, struct df_err *err)
{
    const struct t5_config *c = &e->cfg;
    const struct t5_block *b = &e->blocks[n];
    const float *table = c->bias_per_layer ? b->bias : e->blocks[0].bias;
    const int H = c->num_heads, span = 2 * max_len - 1;
    DF_TRY(kern_rmsnorm(e->be, A->h, A->x, R, c->d_model, c->eps, b->ln_attn, err));
    DF_TRY(lin(e, &b->q, A->x, A->q, R, err));
    DF_TRY(lin(e, &b->k, A->x, A->k, R, err));
    DF_TRY(lin(e, &b->v, A->x, A->v, R, err));
    /* Per prompt of length L: its table by distance j − i in [−(L−1), L−1]. */
    for (int p = 0; p < np; p++) {
        int L = lens[p], w = 2 * L - 1;
        float *rb = A->host_rb + (size_t)p * H * span;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < w; i++)
                rb[(size_t)h * w + i] = table[(size_t)A->bucket[i - (L - 1) + max_len - 1] * H + h];
    }
    DF_TRY(kern_upload(e->be, A->rb, A->host_rb, (size_t)np * H * span, err));
    size_t off = 0;
    for (int p = 0; p < np; p++) {
        size_t o = off * c->inner_dim;
        if (lens[p] > 0)
            DF_TRY(kern_attention_relbias(e->be, A->q + o, A->k + o, A->v + o, A->a + o, lens[p],
                                          lens[p], H, c->d_kv, 1.0f, A->rb + (size_t)p * H * span,
                                          err));
        off += (size_t)lens[p];
    }
    DF_TRY(lin(e, &b->o, A->a, A->x, R, err));
    return kern_add(e->be, A->h, A->x, (size_t)R * c->d_model, err);
}

/* Feed-forward sub-layer of block n. */
static int ff_layer(t5_encoder_t e, struct t5_acts *A, int n, int R, struct df_err *err)
{
    const struct t5_config *c = &e->cfg;
    const struct t5_block *b = &e->blocks[n];
    size_t nf = (size_t)R * c->d_ff;
    DF_TRY(kern_rmsnorm(e->be, A->h, A->x, R, c->d_model, c->eps, b->ln_ff, err));
    DF_TRY(lin(e, &b->wi0, A->x, A->f0, R, err));
    DF_TRY(c->act == T5_ACT_SILU ? kern_silu(e->be, A->f0, A->f0, nf, err)
                                 : kern_gelu_tanh(e->be, A->f0, A->f0, nf, err));
    const float *ff = A->f0;
    if (c->gated) {
        /* f2 = f0 ⊙ f1: a gated add over one row of nf columns. */
        DF_TRY(lin(e, &b->wi1, A->x, A->f1, R, err));
        DF_TRY(kern_zero(e->be, A->f2, nf, err));
        DF_TRY(kern_gated_add(e->be, A->f2, A->f1, A->f0, 1, (int)nf, err));
        ff = A->f2;
    }
    DF_TRY(lin(e, &b->wo, ff, A->x, R, err));
    return kern_add(e->be, A->h, A->x, (size_t)R * c->d_model, err);
}

/* Embedding rows of the batch's real tokens into A->host, checked ids. */
static int embed(t5_encoder_t e, struct t5_acts *A, const int64_t *ids, const int *lens, int p0,
                 int np, int max_len, struct df_err *err)
{
    const struct t5_config *c = &e->cfg;
    const struct safetensors_tensor *t = e->tens.embed;
    size_t esz = safetensors_dtype_size(t->dtype), row = 0;
    for (int p = 0; p < np; p++)
        for (int i = 0; i < lens[p]; i++, row++) {
            int64_t id = ids[(size_t)p * max_len + i];
            DF_FAIL_IF(id < 0 || id >= c->vocab_size, err, DF_E_INVAL,
                       "t5: prompt %d, token index %d: id %lld outside the vocabulary [0, %d)",
                       p0 + p + 1, i, (long long)id, c->vocab_size);
            struct safetensors_tensor r = *t;
            r.ndim = 1;
            r.shape[0] = r.numel = c->d_model;
            r.data = (const char *)t->data + (size_t)id * c->d_model * esz;
            r.nbytes = (size_t)c->d_model * esz;
            DF_TRY(safetensors_to_f32(&r, A->host + row * c->d_model, (size_t)c->d_model, err));
        }
    return kern_upload(e->be, A->h, A->host, row * c->d_model, err);
}

static int run_batch(t5_encoder_t e, struct t5_acts *A, const int64_t *ids, const int *lens,
                     int p0, int np, int max_len, float *out, struct df_err *err)
{
    const struct t5_config *c = &e->cfg;
    int R = 0;
    for (int p = 0; p < np; p++)
        R += lens[p];
    if (R == 0)
        return 0;
    DF_TRY(embed(e, A, ids, lens, p0, np, max_len, err));
    for (int n = 0; n < c->num_layers; n++) {
        int rc = attn_layer(e, A, n, lens, np, max_len, R, err);
        if (rc == 0)
            rc = ff_layer(e, A, n, R, err);
        if (rc < 0) {
            df_err_prefix(err, "t5 block %d", n);
            return rc;
        }
    }
    DF_TRY(kern_rmsnorm(e->be, A->h, A->x, R, c->d_model, c->eps, e->final_ln, err));
    DF_TRY(kern_download(e->be, A->host, A->x, (size_t)R * c->d_model, err));
    size_t row = 0, d = (size_t)c->d_model;
    for (int p = 0; p < np; p++) {
        memcpy(out + (size_t)p * max_len * d, A->host + row * d, (size_t)lens[p] * d * sizeof *out);
        row += (size_t)lens[p];
    }
    return 0;
}

static void acts_free(t5_encoder_t e, struct t5_acts *A)
{
    float *dev[] = {A->h, A->x, A->q, A->k, A->v, A->a, A->f0, A->f1, A->f2, A->rb};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        kern_release(e->be, dev[i]);
    free(A->host);
    free(A->host_rb);
    free(A->bucket);
    memset(A, 0, sizeof *A);
}

static int acts_alloc(t5_encoder_t e, struct t5_acts *A, int rows, int prompts, int max_len,
                      struct df_err *err)
{
    const struct t5_config *c = &e->cfg;
    const size_t R = (size_t)rows, span = 2 * (size_t)max_len - 1;
    const struct {
        float **p;
        size_t n;
    } dev[] = {{&A->h, R * c->d_model},     {&A->x, R * c->d_model},
               {&A->q, R * c->inner_dim},   {&A->k, R * c->inner_dim},
               {&A->v, R * c->inner_dim},   {&A->a, R * c->inner_dim},
               {&A->f0, R * c->d_ff},       {&A->f1, R * c->d_ff},
               {&A->f2, R * c->d_ff},       {&A->rb, (size_t)prompts * c->num_heads * span}};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (!(*dev[i].p = kern_alloc(e->be, dev[i].n, err)))
            return err ? err->code : DF_E_NOMEM;
    A->host = malloc(R * c->d_model * sizeof *A->host);
    A->host_rb = malloc((size_t)prompts * c->num_heads * span * sizeof *A->host_rb);
    A->bucket = malloc(span * sizeof *A->bucket);
    DF_FAIL_IF(!A->host || !A->host_rb || !A->bucket, err, DF_E_NOMEM, "t5: out of memory");
    for (size_t i = 0; i < span; i++)
        A->bucket[i] = t5_relative_bucket((int)i - (max_len - 1), c->num_buckets, c->max_distance);
    return 0;
}

int t5_encoder_encode(t5_encoder_t e, const int64_t *ids, const int *lens, int n, int max_len,
                      float *out, struct df_err *err)
{
    DF_FAIL_IF(!e || e->magic != T5_ENCODER_MAGIC, err, DF_E_INVAL, "t5: invalid encoder handle");
    DF_FAIL_IF(n < 0 || max_len < 1 || (n > 0 && (!ids || !lens || !out)), err, DF_E_INVAL,
               "t5: bad arguments (n = %d, max_len = %d)", n, max_len);
    const struct t5_config *c = &e->cfg;
    DF_FAIL_IF((long long)max_len * c->d_ff > INT_MAX, err, DF_E_RANGE,
               "t5: max_len %d too long for d_ff %d", max_len, c->d_ff);
    for (int p = 0; p < n; p++)
        DF_FAIL_IF(lens[p] < 0 || lens[p] > max_len, err, DF_E_INVAL,
                   "t5: prompt %d has %d tokens, outside [0, max_len = %d]", p + 1, lens[p],
                   max_len);
    memset(out, 0, (size_t)n * max_len * c->d_model * sizeof *out);
    /* Batches of whole prompts, at most batch_rows tokens (one prompt at least). */
    int cap = e->batch_rows < max_len ? max_len : e->batch_rows;
    if ((long long)cap * c->d_ff > INT_MAX)
        cap = INT_MAX / c->d_ff;
    int rows = 0, most = 0, p0 = 0;
    for (int p = 0, r = 0, k = 0; p < n; p++) { /* size the buffers for the largest batch */
        if (r + lens[p] > cap)
            r = 0, k = 0;
        r += lens[p], k++;
        rows = r > rows ? r : rows, most = k > most ? k : most;
    }
    if (rows == 0)
        return 0;
    struct t5_acts A = {0};
    int rc = acts_alloc(e, &A, rows, most, max_len, err);
    while (rc == 0 && p0 < n) {
        int np = 0, r = 0;
        while (p0 + np < n && (np == 0 || r + lens[p0 + np] <= cap))
            r += lens[p0 + np++];
        rc = run_batch(e, &A, ids + (size_t)p0 * max_len, lens + p0, p0, np, max_len,
                       out + (size_t)p0 * max_len * c->d_model, err);
        p0 += np;
    }
    acts_free(e, &A);
    return rc;
}
