/*
 * cogvideox_config.c -- diffusers config.json -> struct cogvideox_config.
 *
 * ref: diffusers/models/transformers/cogvideox_transformer_3d.py (v0.42)
 *      CogVideoXTransformer3DModel.__init__ (defaults, the ValueError for
 *      learned embeddings without RoPE), CogVideoXBlock (FeedForward 4*dim);
 *      diffusers/models/embeddings.py CogVideoXPatchEmbed, get_3d_sincos_pos_embed,
 *      get_3d_rotary_pos_embed (the divisibility each table needs).
 */
#include "cogvideox_config.h"

#include "safetensors.h"
#include "config_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_bool(const char *path, const cJSON *root, const char *key, int def, int *out,
                    struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    DF_FAIL_IF(v && !cJSON_IsBool(v), err, DF_E_PARSE, "%s: key '%s' must be true or false",
               path, key);
    *out = v ? cJSON_IsTrue(v) : def;
    return 0;
}

static int get_num(const char *path, const cJSON *root, const char *key, double def, double *out,
                   struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    DF_FAIL_IF(v && !cJSON_IsNumber(v), err, DF_E_PARSE, "%s: key '%s' must be a number", path,
               key);
    *out = v ? v->valuedouble : def;
    return 0;
}

/* A string key that must be one of the names this code implements. */
static int check_str(const char *path, const cJSON *root, const char *key,
                     const char *const *allowed, int n_allowed, struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v)
        return 0;
    DF_FAIL_IF(!cJSON_IsString(v), err, DF_E_PARSE, "%s: key '%s' must be a string", path, key);
    for (int i = 0; i < n_allowed; i++)
        if (strcmp(v->valuestring, allowed[i]) == 0)
            return 0;
    return df_err_set(err, DF_E_UNSUPPORTED, "%s: %s '%s' is not supported (only '%s')", path,
                      key, v->valuestring, allowed[0]);
}

static int parse_keys(const struct config_json *cj, struct cogvideox_config *c,
                      struct df_err *err)
{
    const char *path = cj->path;
    const cJSON *root = cj->root;
    DF_FAIL_IF(!cJSON_IsObject(root), err, DF_E_PARSE, "%s: not a JSON object", path);
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "_class_name");
    DF_FAIL_IF(cls && (!cJSON_IsString(cls) ||
                       strcmp(cls->valuestring, "CogVideoXTransformer3DModel")),
               err, DF_E_UNSUPPORTED,
               "%s: _class_name is %s, expected CogVideoXTransformer3DModel", path,
               cJSON_IsString(cls) ? cls->valuestring : "not a string");
    /* Defaults: CogVideoXTransformer3DModel.__init__. */
    DF_TRY(config_json_int_null(cj, "num_layers", 30, 0, 0, &c->num_layers, err));
    DF_TRY(config_json_int_null(cj, "num_attention_heads", 30, 0, 0, &c->num_heads, err));
    DF_TRY(config_json_int_null(cj, "attention_head_dim", 64, 0, 0, &c->head_dim, err));
    DF_TRY(config_json_int_null(cj, "in_channels", 16, 0, 0, &c->in_channels, err));
    DF_TRY(config_json_int_null(cj, "out_channels", 16, 1, 0, &c->out_channels, err));
    DF_TRY(config_json_int_null(cj, "time_embed_dim", 512, 0, 0, &c->time_embed_dim, err));
    DF_TRY(config_json_int_null(cj, "ofs_embed_dim", 0, 1, 0, &c->ofs_embed_dim, err));
    DF_TRY(config_json_int_null(cj, "text_embed_dim", 4096, 0, 0, &c->text_dim, err));
    DF_TRY(config_json_int_null(cj, "patch_size", 2, 0, 0, &c->patch, err));
    DF_TRY(config_json_int_null(cj, "patch_size_t", 0, 1, 0, &c->patch_t, err));
    DF_TRY(config_json_int_null(cj, "freq_shift", 0, 0, 0, &c->freq_shift, err));
    DF_TRY(config_json_int_null(cj, "sample_width", 90, 0, 0, &c->sample_width, err));
    DF_TRY(config_json_int_null(cj, "sample_height", 60, 0, 0, &c->sample_height, err));
    DF_TRY(config_json_int_null(cj, "sample_frames", 49, 0, 0, &c->sample_frames, err));
    DF_TRY(config_json_int_null(cj, "temporal_compression_ratio", 4, 0, 0, &c->temporal_compression,
                   err));
    DF_TRY(config_json_int_null(cj, "max_text_seq_length", 226, 0, 0, &c->max_text_len, err));
    DF_TRY(get_bool(path, root, "flip_sin_to_cos", 1, &c->flip_sin_to_cos, err));
    DF_TRY(get_bool(path, root, "attention_bias", 1, &c->attention_bias, err));
    DF_TRY(get_bool(path, root, "patch_bias", 1, &c->patch_bias, err));
    DF_TRY(get_bool(path, root, "norm_elementwise_affine", 1, &c->norm_affine, err));
    int rope, learned;
    DF_TRY(get_bool(path, root, "use_rotary_positional_embeddings", 0, &rope, err));
    DF_TRY(get_bool(path, root, "use_learned_positional_embeddings", 0, &learned, err));
    double eps;
    DF_TRY(get_num(path, root, "norm_eps", 1e-5, &eps, err));
    c->norm_eps = (float)eps;
    DF_TRY(get_num(path, root, "spatial_interpolation_scale", 1.875, &c->spatial_interp, err));
    DF_TRY(get_num(path, root, "temporal_interpolation_scale", 1.0, &c->temporal_interp, err));
    static const char *const gelu[] = {"gelu-approximate"}, *const silu[] = {"silu", "swish"};
    DF_TRY(check_str(path, root, "activation_fn", gelu, 1, err));
    DF_TRY(check_str(path, root, "timestep_activation_fn", silu, 2, err));
    DF_FAIL_IF(learned, err, DF_E_UNSUPPORTED,
               "%s: use_learned_positional_embeddings (CogVideoX-5B-I2V) is not supported", path);
    DF_FAIL_IF(c->patch_t && !rope, err, DF_E_UNSUPPORTED,
               "%s: patch_size_t with sin-cos positions (no published model) is not supported",
               path);
    c->pos = rope ? COGVIDEOX_POS_ROPE : COGVIDEOX_POS_SINCOS;
    if (c->out_channels == 0) /* null: diffusers' proj_out would fail; take in_channels */
        c->out_channels = c->in_channels;
    return 0;
}

static int check_ranges(const char *path, struct cogvideox_config *c, struct df_err *err)
{
    struct {
        const char *key;
        int v;
    } pos[] = {{"num_layers", c->num_layers},         {"num_attention_heads", c->num_heads},
               {"attention_head_dim", c->head_dim},   {"in_channels", c->in_channels},
               {"out_channels", c->out_channels},     {"time_embed_dim", c->time_embed_dim},
               {"text_embed_dim", c->text_dim},       {"patch_size", c->patch},
               {"sample_width", c->sample_width},     {"sample_height", c->sample_height},
               {"sample_frames", c->sample_frames},   {"max_text_seq_length", c->max_text_len},
               {"temporal_compression_ratio", c->temporal_compression}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        DF_FAIL_IF(pos[i].v <= 0 || pos[i].v > (1 << 20), err, DF_E_RANGE,
                   "%s: key '%s' = %d must be in [1, %d]", path, pos[i].key, pos[i].v, 1 << 20);
    DF_FAIL_IF(c->patch_t < 0 || c->patch_t > 64 || c->patch > 64, err, DF_E_RANGE,
               "%s: patch_size %d / patch_size_t %d out of range", path, c->patch, c->patch_t);
    DF_FAIL_IF(c->ofs_embed_dim && c->ofs_embed_dim != c->time_embed_dim, err, DF_E_RANGE,
               "%s: ofs_embed_dim %d must equal time_embed_dim %d (the embeddings are summed)",
               path, c->ofs_embed_dim, c->time_embed_dim);
    DF_FAIL_IF(c->freq_shift < 0 || c->freq_shift > 1 << 16, err, DF_E_RANGE,
               "%s: freq_shift %d out of range", path, c->freq_shift);
    DF_FAIL_IF((long long)c->num_heads * c->head_dim > (1 << 20), err, DF_E_RANGE,
               "%s: num_attention_heads * attention_head_dim too large", path);
    c->dim = c->num_heads * c->head_dim;
    c->ffn_dim = 4 * c->dim;
    DF_FAIL_IF(c->dim / 2 <= c->freq_shift, err, DF_E_RANGE,
               "%s: freq_shift %d leaves no frequencies for a %d-wide timestep embedding", path,
               c->freq_shift, c->dim);
    /* RoPE splits head_dim into D/4 (t) + 3D/8 (h) + 3D/8 (w), each even;
     * sin-cos splits dim into D/4 (t) + 3D/4 (h, w halves), each half even. */
    DF_FAIL_IF(c->pos == COGVIDEOX_POS_ROPE && c->head_dim % 16, err, DF_E_RANGE,
               "%s: attention_head_dim %d must be a multiple of 16 for the 3D rotary embedding",
               path, c->head_dim);
    DF_FAIL_IF(c->pos == COGVIDEOX_POS_SINCOS && c->dim % 16, err, DF_E_RANGE,
               "%s: inner dim %d must be a multiple of 16 for the 3D sin-cos embedding", path,
               c->dim);
    DF_FAIL_IF(!(c->norm_eps > 0.0f), err, DF_E_RANGE, "%s: norm_eps must be > 0", path);
    DF_FAIL_IF(!(c->spatial_interp > 0) || !(c->temporal_interp > 0), err, DF_E_RANGE,
               "%s: interpolation scales must be > 0", path);
    return 0;
}

int cogvideox_config_load(const char *path, struct cogvideox_config *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    struct config_json cj;
    DF_TRY(config_json_open(path, &cj, err));
    int rc = parse_keys(&cj, out, err);
    if (rc == 0)
        rc = check_ranges(path, out, err);
    config_json_close(&cj);
    return rc;
}

static int check_dim(const struct safetensors *st, const char *name, int axis, int want,
                     const char *what, struct df_err *err)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    if (!t)
        return 0; /* the weight loader reports missing tensors with their shape */
    DF_FAIL_IF(axis >= t->ndim || t->shape[axis] != want, err, DF_E_INVAL,
               "%s: tensor '%s' has %s %lld but config.json says %d", t->path, name, what,
               axis < t->ndim ? (long long)t->shape[axis] : -1LL, want);
    return 0;
}

int cogvideox_config_check_weights(const struct cogvideox_config *c, const struct safetensors *st,
                                   struct df_err *err)
{
    int max_block = -1;
    const char *any = NULL;
    for (int i = 0; i < safetensors_count(st); i++) {
        const struct safetensors_tensor *t = safetensors_at(st, i);
        int b;
        if (sscanf(t->name, "transformer_blocks.%d.", &b) == 1 && b > max_block)
            max_block = b, any = t->path;
    }
    DF_FAIL_IF(max_block + 1 != c->num_layers, err, DF_E_INVAL,
               "%s: weights have %d transformer blocks but config.json num_layers is %d",
               any ? any : "weights", max_block + 1, c->num_layers);
    DF_TRY(check_dim(st, "patch_embed.proj.weight", 0, c->dim, "inner dim (heads*head_dim)", err));
    DF_TRY(check_dim(st, "patch_embed.text_proj.weight", 1, c->text_dim, "text_embed_dim", err));
    DF_TRY(check_dim(st, "time_embedding.linear_2.weight", 0, c->time_embed_dim,
                     "time_embed_dim", err));
    const int pt = c->patch_t ? c->patch_t : 1;
    DF_TRY(check_dim(st, "proj_out.weight", 0, c->out_channels * pt * c->patch * c->patch,
                     "out_channels*patch", err));
    return 0;
}

long long cogvideox_config_grid(const struct cogvideox_config *c, int frames, int height,
                                int width, int grid[3], struct df_err *err)
{
    const int sz[3] = {frames, height, width};
    const int p[3] = {c->patch_t ? c->patch_t : 1, c->patch, c->patch};
    static const char *const axis[3] = {"frames", "height", "width"};
    long long n = 1;
    for (int i = 0; i < 3; i++) {
        DF_FAIL_IF(sz[i] <= 0 || sz[i] % p[i] || sz[i] > (1 << 16), err, DF_E_INVAL,
                   "latent %s %d is not a positive multiple of the patch size %d", axis[i],
                   sz[i], p[i]);
        grid[i] = sz[i] / p[i];
        n *= grid[i];
    }
    /* 1.5's RoPE slices a table of the trained grid's size (grid_type "slice"). */
    if (c->pos == COGVIDEOX_POS_ROPE && c->patch_t) {
        DF_FAIL_IF(grid[1] > c->sample_height / c->patch || grid[2] > c->sample_width / c->patch,
                   err, DF_E_INVAL,
                   "latent %dx%d gives a %dx%d patch grid, larger than the model's %dx%d "
                   "(sample_height/width %d/%d)",
                   height, width, grid[1], grid[2], c->sample_height / c->patch,
                   c->sample_width / c->patch, c->sample_height, c->sample_width);
    }
    return n;
}
