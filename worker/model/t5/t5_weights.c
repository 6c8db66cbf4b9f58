/* t5_weights.c -- find, check and convert a T5 encoder's tensors (t5_weights.h). */
#include "t5_weights.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dtype_ok(const struct safetensors_tensor *t, struct df_err *err)
{
    DF_FAIL_IF(t->dtype != SAFETENSORS_DTYPE_F32 && t->dtype != SAFETENSORS_DTYPE_F16 &&
                   t->dtype != SAFETENSORS_DTYPE_BF16,
               err, DF_E_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16 or BF16 expected)",
               t->path, t->name, safetensors_dtype_name(t->dtype));
    return 0;
}

static int get(const struct safetensors *st, const char *name, int64_t r, int64_t c,
               const struct safetensors_tensor **out, struct df_err *err)
{
    int64_t shape[2] = {r, c};
    DF_TRY(safetensors_get(st, name, c ? 2 : 1, shape, out, err));
    return dtype_ok(*out, err);
}

static int get_block(const struct safetensors *st, const struct t5_config *c, int n,
                     struct t5_block_tensors *b, struct df_err *err)
{
    char name[128];
    const int d = c->d_model, in = c->inner_dim, ff = c->d_ff;
#define NAME(fmt) (snprintf(name, sizeof name, "encoder.block.%d.layer." fmt ".weight", n), name)
    DF_TRY(get(st, NAME("0.layer_norm"), d, 0, &b->ln_attn, err));
    DF_TRY(get(st, NAME("0.SelfAttention.q"), in, d, &b->q, err));
    DF_TRY(get(st, NAME("0.SelfAttention.k"), in, d, &b->k, err));
    DF_TRY(get(st, NAME("0.SelfAttention.v"), in, d, &b->v, err));
    DF_TRY(get(st, NAME("0.SelfAttention.o"), d, in, &b->o, err));
    b->rel_bias = NULL;
    if (c->bias_per_layer || n == 0)
        DF_TRY(get(st, NAME("0.SelfAttention.relative_attention_bias"), c->num_buckets,
                   c->num_heads, &b->rel_bias, err));
    DF_TRY(get(st, NAME("1.layer_norm"), d, 0, &b->ln_ff, err));
    if (c->gated) {
        DF_TRY(get(st, NAME("1.DenseReluDense.wi_0"), ff, d, &b->wi0, err));
        DF_TRY(get(st, NAME("1.DenseReluDense.wi_1"), ff, d, &b->wi1, err));
    } else {
        DF_TRY(get(st, NAME("1.DenseReluDense.wi"), ff, d, &b->wi0, err));
        b->wi1 = NULL;
    }
    DF_TRY(get(st, NAME("1.DenseReluDense.wo"), d, ff, &b->wo, err));
#undef NAME
    return 0;
}

int t5_tensors_find(const struct safetensors *st, const struct t5_config *c,
                    struct t5_tensors *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    /* save_pretrained keeps one name of the tied pair; either may be it. */
    const char *embed = safetensors_find(st, "shared.weight") ? "shared.weight"
                                                              : "encoder.embed_tokens.weight";
    DF_TRY(get(st, embed, c->vocab_size, c->d_model, &out->embed, err));
    DF_TRY(get(st, "encoder.final_layer_norm.weight", c->d_model, 0, &out->final_ln, err));
    char extra[96];
    snprintf(extra, sizeof extra, "encoder.block.%d.layer.0.layer_norm.weight", c->num_layers);
    const struct safetensors_tensor *x = safetensors_find(st, extra);
    DF_FAIL_IF(x, err, DF_E_INVAL,
               "%s: weights have a block %d but config.json says num_layers = %d", x->path,
               c->num_layers, c->num_layers);
    out->blocks = calloc((size_t)c->num_layers, sizeof *out->blocks);
    DF_FAIL_IF(!out->blocks, err, DF_E_NOMEM, "t5 weights: out of memory");
    for (int n = 0; n < c->num_layers; n++) {
        int rc = get_block(st, c, n, &out->blocks[n], err);
        if (rc < 0) {
            t5_tensors_fini(out);
            return rc;
        }
    }
    return 0;
}

void t5_tensors_fini(struct t5_tensors *t)
{
    if (t) {
        free(t->blocks);
        t->blocks = NULL;
    }
}

struct convert_job {
    struct safetensors_tensor part; /* a slice of the tensor, as a tensor */
    float *dst;
    size_t base; /* index of the slice's first value in the tensor */
    struct df_err err;
    int rc;
};

/* BF16 is the common case (umT5-XXL ships in it) and the one on the hot
 * path of streaming: an inline loop the compiler vectorizes, with the
 * non-finite check safetensors_to_f32() makes folded in. */
static int bf16_to_f32(const struct safetensors_tensor *t, float *dst, size_t base,
                       struct df_err *err)
{
    const unsigned char *src = t->data;
    const size_t n = (size_t)t->numel;
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)src[2 * i] | (uint32_t)src[2 * i + 1] << 8;
        uint32_t bits = h << 16;
        memcpy(&dst[i], &bits, sizeof bits);
        bad |= (h & 0x7f80u) == 0x7f80u;
    }
    if (!bad)
        return 0;
    size_t i = 0;
    while (i < n && ((src[2 * i + 1] << 8 | src[2 * i]) & 0x7f80) != 0x7f80)
        i++;
    return df_err_set(err, DF_E_INVAL,
                      "%s: tensor '%s' holds non-finite values (NaN or Inf; first at index %zu): "
                      "the weights are corrupt",
                      t->path, t->name, base + i);
}

static void *convert_main(void *arg)
{
    struct convert_job *j = arg;
    j->rc = j->part.dtype == SAFETENSORS_DTYPE_BF16
                ? bf16_to_f32(&j->part, j->dst, j->base, &j->err)
                : safetensors_to_f32(&j->part, j->dst, (size_t)j->part.numel, &j->err);
    return NULL;
}

#define CONVERT_MAX_THREADS 64
#define CONVERT_GRAIN ((int64_t)1 << 20) /* elements a thread is worth */

int t5_tensor_to_f32(const struct safetensors_tensor *t, float *dst, int n_threads,
                     struct df_err *err)
{
    int64_t n = t->numel;
    int nth = n_threads < 1 ? 1 : n_threads > CONVERT_MAX_THREADS ? CONVERT_MAX_THREADS : n_threads;
    if (n / CONVERT_GRAIN < nth)
        nth = (int)(n / CONVERT_GRAIN) > 1 ? (int)(n / CONVERT_GRAIN) : 1;
    if (nth == 1)
        return t->dtype == SAFETENSORS_DTYPE_BF16 ? bf16_to_f32(t, dst, 0, err)
                                                  : safetensors_to_f32(t, dst, (size_t)n, err);
    struct convert_job jobs[CONVERT_MAX_THREADS];
    pthread_t tid[CONVERT_MAX_THREADS];
    int live[CONVERT_MAX_THREADS] = {0};
    size_t esz = safetensors_dtype_size(t->dtype);
    for (int i = 0; i < nth; i++) {
        int64_t b = n * i / nth, e = n * (i + 1) / nth;
        jobs[i].part = *t;
        jobs[i].part.ndim = 1;
        jobs[i].part.shape[0] = jobs[i].part.numel = e - b;
        jobs[i].part.data = (const char *)t->data + (size_t)b * esz;
        jobs[i].part.nbytes = (size_t)(e - b) * esz;
        jobs[i].dst = dst + b;
        jobs[i].base = (size_t)b;
        jobs[i].rc = 0;
        live[i] = i > 0 && pthread_create(&tid[i], NULL, convert_main, &jobs[i]) == 0;
        if (!live[i])
            convert_main(&jobs[i]); /* the caller's share, or no thread to be had */
    }
    for (int i = 1; i < nth; i++)
        if (live[i])
            pthread_join(tid[i], NULL);
    for (int i = 0; i < nth; i++)
        if (jobs[i].rc < 0) {
            if (err)
                *err = jobs[i].err;
            return jobs[i].rc;
        }
    return 0;
}
