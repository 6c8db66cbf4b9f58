/*
 * wan_config.c -- diffusers config.json -> struct wan_config.
 *
 * ref: diffusers/models/transformers/transformer_wan.py
 *      WanTransformer3DModel.__init__ (defaults) and WanRotaryPosEmbed.__init__
 *      (the head_dim split of the rotary embedding).
 */
#include "wan_config.h"
#include "ckd.h"
#include "config_json.h"

#include "safetensors.h"
#include "wan_weights.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const struct config_json *cj, struct wan_config *c, struct df_err *err)
{
    const char *path = cj->path;
    const cJSON *root = cj->root;
    DF_FAIL_IF(!cJSON_IsObject(root), err, DF_E_PARSE, "%s: not a JSON object", path);
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "_class_name");
    DF_FAIL_IF(cls && (!cJSON_IsString(cls) || strcmp(cls->valuestring, "WanTransformer3DModel")),
               err, DF_E_UNSUPPORTED, "%s: _class_name is %s, expected WanTransformer3DModel",
               path, cJSON_IsString(cls) ? cls->valuestring : "not a string");
    /* Defaults: WanTransformer3DModel.__init__. */
    DF_TRY(config_json_int_null(cj, "num_layers", 40, 0, 0, &c->num_layers, err));
    DF_TRY(config_json_int_null(cj, "num_attention_heads", 40, 0, 0, &c->num_heads, err));
    DF_TRY(config_json_int_null(cj, "attention_head_dim", 128, 0, 0, &c->head_dim, err));
    DF_TRY(config_json_int_null(cj, "ffn_dim", 13824, 0, 0, &c->ffn_dim, err));
    DF_TRY(config_json_int_null(cj, "in_channels", 16, 0, 0, &c->in_channels, err));
    DF_TRY(config_json_int_null(cj, "out_channels", 16, 1, 0, &c->out_channels, err));
    DF_TRY(config_json_int_null(cj, "text_dim", 4096, 0, 0, &c->text_dim, err));
    DF_TRY(config_json_int_null(cj, "freq_dim", 256, 0, 0, &c->freq_dim, err));
    DF_TRY(config_json_int_null(cj, "rope_max_seq_len", 1024, 0, 0, &c->rope_max_seq_len, err));
    if (c->out_channels == 0) /* `out_channels or in_channels` */
        c->out_channels = c->in_channels;

    c->patch[0] = 1, c->patch[1] = 2, c->patch[2] = 2;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "patch_size");
    if (p) {
        DF_FAIL_IF(!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 3, err, DF_E_PARSE,
                   "%s: key 'patch_size' must be [t, h, w]", path);
        for (int i = 0; i < 3; i++) {
            const cJSON *v = cJSON_GetArrayItem(p, i);
            DF_FAIL_IF(!cJSON_IsNumber(v) || ckd_double_to_int(v->valuedouble, 1, WAN_MAX_PATCH,
                                                               &c->patch[i]),
                       err, DF_E_RANGE, "%s: key 'patch_size'[%d] must be an integer in [1, %d]",
                       path, i, WAN_MAX_PATCH);
        }
    }
    const cJSON *can = cJSON_GetObjectItemCaseSensitive(root, "cross_attn_norm");
    DF_FAIL_IF(can && !cJSON_IsBool(can), err, DF_E_PARSE,
               "%s: key 'cross_attn_norm' must be true or false", path);
    c->cross_attn_norm = can ? cJSON_IsTrue(can) : 1;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "eps");
    DF_FAIL_IF(eps && !cJSON_IsNumber(eps), err, DF_E_PARSE, "%s: key 'eps' must be a number",
               path);
    c->eps = eps ? (float)eps->valuedouble : 1e-6f;
    /* qk_norm: this diffusers version builds norm_q/norm_k (RMSNorm over the
     * whole inner dim) whatever the value, so it is not consulted. */
    static const char *const i2v_keys[] = {"image_dim", "added_kv_proj_dim", "pos_embed_seq_len"};
    for (size_t i = 0; i < sizeof i2v_keys / sizeof i2v_keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, i2v_keys[i]);
        DF_FAIL_IF(v && !cJSON_IsNull(v), err, DF_E_UNSUPPORTED,
                   "%s: key '%s' is set: image-conditioned (I2V) Wan models are not supported",
                   path, i2v_keys[i]);
    }

    struct {
        const char *key;
        int v;
    } pos[] = {{"num_layers", c->num_layers},   {"num_attention_heads", c->num_heads},
               {"attention_head_dim", c->head_dim}, {"ffn_dim", c->ffn_dim},
               {"in_channels", c->in_channels}, {"out_channels", c->out_channels},
               {"text_dim", c->text_dim},       {"freq_dim", c->freq_dim},
               {"rope_max_seq_len", c->rope_max_seq_len}, {"patch_size[0]", c->patch[0]},
               {"patch_size[1]", c->patch[1]},  {"patch_size[2]", c->patch[2]}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        DF_FAIL_IF(pos[i].v <= 0 || pos[i].v > (1 << 20), err, DF_E_RANGE,
                   "%s: key '%s' = %d must be in [1, %d]", path, pos[i].key, pos[i].v, 1 << 20);
    DF_FAIL_IF(c->num_layers > WAN_MAX_LAYERS, err, DF_E_RANGE,
               "%s: key 'num_layers' = %d must be in [1, %d]", path, c->num_layers,
               WAN_MAX_LAYERS);
    DF_FAIL_IF(c->freq_dim < 2, err, DF_E_RANGE, "%s: key 'freq_dim' = %d must be >= 2", path,
               c->freq_dim);
    /* RoPE rotates pairs and splits head_dim into t/h/w parts of even size. */
    DF_FAIL_IF(c->head_dim % 2 || c->head_dim < 6, err, DF_E_RANGE,
               "%s: key 'attention_head_dim' = %d must be even and >= 6 (3D RoPE)", path,
               c->head_dim);
    DF_FAIL_IF(!(c->eps > 0.0f), err, DF_E_RANGE, "%s: key 'eps' must be > 0", path);
    DF_FAIL_IF((long long)c->num_heads * c->head_dim > (1 << 20), err, DF_E_RANGE,
               "%s: num_attention_heads * attention_head_dim too large", path);
    c->dim = c->num_heads * c->head_dim;
    /* The patch embedding and the head are [dim, C*pt*ph*pw] matrices: bound
     * their width so every size formed from it (weights, scratch, shapes
     * compared with the file) stays far inside 64 bits. */
    const int64_t io[2][4] = {{c->in_channels, c->patch[0], c->patch[1], c->patch[2]},
                              {c->out_channels, c->patch[0], c->patch[1], c->patch[2]}};
    for (int i = 0; i < 2; i++) {
        int64_t w;
        DF_FAIL_IF(ckd_prod_i64(&w, io[i], 4, 1 << 20), err, DF_E_RANGE,
                   "%s: %s x prod(patch_size) exceeds %d", path,
                   i ? "out_channels" : "in_channels", 1 << 20);
    }
    int64_t ffn;
    DF_FAIL_IF(ckd_mul_i64(&ffn, c->dim, c->ffn_dim) || ffn > ((int64_t)1 << 36), err, DF_E_RANGE,
               "%s: ffn_dim %d x inner dim %d is beyond any model (at most 2^36 weights)", path,
               c->ffn_dim, c->dim);
    c->rope_dims[1] = c->rope_dims[2] = 2 * (c->head_dim / 6);
    c->rope_dims[0] = c->head_dim - c->rope_dims[1] - c->rope_dims[2];
    return 0;
}

int wan_config_load(const char *path, struct wan_config *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    struct config_json cj;
    DF_TRY(config_json_open(path, &cj, err));
    int rc = parse(&cj, out, err);
    config_json_close(&cj);
    return rc;
}

static int check_dim(const struct safetensors *st, const char *name, int axis, int want,
                     const char *what, struct df_err *err)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    if (!t)
        return 0; /* wan_weights reports missing tensors with their expected shape */
    DF_FAIL_IF(axis >= t->ndim || t->shape[axis] != want, err, DF_E_INVAL,
               "%s: tensor '%s' has %s %lld but config.json says %d", t->path, name, what,
               axis < t->ndim ? (long long)t->shape[axis] : -1LL, want);
    return 0;
}

struct shape_check {
    const struct safetensors *st;
    struct df_err *err;
};

static int shape_visit(const char *name, int ndim, const int64_t *shape, void *ctx)
{
    const struct shape_check *sc = ctx;
    const struct safetensors_tensor *t;
    return safetensors_get(sc->st, name, ndim, shape, &t, sc->err);
}

/* The named dimensions first (their messages say which config key is
 * wrong), then every tensor the loader will read, with its exact shape: once
 * this passes, every allocation the loader makes is bounded by the file. */
static int check_dims_agree(const struct wan_config *c, const struct safetensors *st,
                            struct df_err *err);

/* N of a "blocks.N." name, -1 when the name is no block tensor, -2 when N
 * is beyond WAN_MAX_LAYERS (digits are read one by one: sscanf's %d is
 * undefined behaviour on a number that does not fit an int). */
static int64_t block_index(const char *name)
{
    static const char prefix[] = "blocks.";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return -1;
    const char *p = name + sizeof prefix - 1;
    int64_t n = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        n = n * 10 + (*p - '0');
        if (n >= WAN_MAX_LAYERS)
            return -2;
    }
    return digits > 0 && *p == '.' ? n : -1;
}

int wan_config_check_weights(const struct wan_config *c, const struct safetensors *st,
                             struct df_err *err)
{
    /* Highest blocks.N present: a checkpoint with more or fewer blocks than
     * num_layers is the wrong config for these weights. */
    int64_t max_block = -1;
    const char *any = NULL;
    for (int i = 0; i < safetensors_count(st); i++) {
        const struct safetensors_tensor *t = safetensors_at(st, i);
        int64_t b = block_index(t->name);
        DF_FAIL_IF(b == -2, err, DF_E_INVAL,
                   "%s: tensor '%.80s' has a block index beyond any model (at most %d)", t->path,
                   t->name, WAN_MAX_LAYERS - 1);
        if (b > max_block) {
            max_block = b;
            any = t->path;
        }
    }
    DF_FAIL_IF(max_block + 1 != c->num_layers, err, DF_E_INVAL,
               "%s: weights have %lld transformer blocks (blocks.0 .. blocks.%lld) but "
               "config.json num_layers is %d",
               any ? any : "weights", (long long)max_block + 1, (long long)max_block,
               c->num_layers);
    DF_TRY(check_dim(st, "patch_embedding.weight", 0, c->dim, "inner dim (num_heads*head_dim)",
                     err));
    return check_dims_agree(c, st, err);
}

static int check_dims_agree(const struct wan_config *c, const struct safetensors *st,
                            struct df_err *err)
{
    DF_TRY(check_dim(st, "patch_embedding.weight", 1, c->in_channels, "in_channels", err));
    for (int i = 0; i < 3; i++)
        DF_TRY(check_dim(st, "patch_embedding.weight", 2 + i, c->patch[i], "patch size", err));
    DF_TRY(check_dim(st, "condition_embedder.text_embedder.linear_1.weight", 1, c->text_dim,
                     "text_dim", err));
    DF_TRY(check_dim(st, "condition_embedder.time_embedder.linear_1.weight", 1, c->freq_dim,
                     "freq_dim", err));
    DF_TRY(check_dim(st, "blocks.0.ffn.net.0.proj.weight", 0, c->ffn_dim, "ffn_dim", err));
    DF_TRY(check_dim(st, "proj_out.weight", 0,
                     c->out_channels * c->patch[0] * c->patch[1] * c->patch[2],
                     "out_channels*prod(patch)", err));
    struct shape_check sc = {st, err};
    return wan_weights_foreach(c, shape_visit, &sc);
}
