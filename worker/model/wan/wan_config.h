/*
 * wan_config.h -- the hyperparameters of a Wan2.1 DiT, read from a diffusers
 * `transformer/config.json` (WanTransformer3DModel) and cross-checked with the
 * weights.
 *
 * Keys missing from config.json take diffusers' defaults (the 14B model's),
 * exactly as `WanTransformer3DModel.from_pretrained` would; keys this
 * implementation cannot honour (image_dim / added_kv_proj_dim: the I2V image
 * branch) are refused with DF_E_UNSUPPORTED rather than silently ignored.
 *
 *     struct wan_config c;
 *     if (wan_config_load("models/wan/transformer/config.json", &c, &err) < 0) ...
 *     if (wan_config_check_weights(&c, st, &err) < 0) ...   // blocks.N count, shapes
 */
#ifndef DF_WAN_CONFIG_H
#define DF_WAN_CONFIG_H

#include "err.h"

struct safetensors;

/* Bounds far above any released model (Wan 14B: 40 layers, patch 1x2x2) that
 * keep every size formed from a hostile config.json inside 64 bits. */
#define WAN_MAX_LAYERS 4096
#define WAN_MAX_PATCH 64

struct wan_config {
    int num_layers;       /* transformer blocks */
    int num_heads;        /* attention heads */
    int head_dim;         /* attention_head_dim */
    int dim;              /* inner_dim = num_heads * head_dim */
    int ffn_dim;          /* FFN hidden width */
    int in_channels;      /* latent channels in */
    int out_channels;     /* latent channels out (null in config -> in_channels) */
    int text_dim;         /* text encoder width (umT5: 4096) */
    int freq_dim;         /* sinusoidal timestep width */
    int patch[3];         /* (t, h, w) */
    int cross_attn_norm;  /* 1: norm2 is an affine LayerNorm before attn2; 0: identity */
    int rope_max_seq_len; /* positions per axis the rotary table covers */
    int rope_dims[3];     /* head_dim split (t, h, w): h = w = 2*(head_dim/6), t = rest */
    float eps;            /* every norm's epsilon */
};

/* Parse `path` (a diffusers config.json).  Returns 0, DF_E_IO/DF_E_NOTFOUND
 * (file), DF_E_PARSE (not JSON, key of the wrong type: message names the
 * key), DF_E_RANGE (a size <= 0, head_dim odd or < 6, patch <= 0),
 * DF_E_UNSUPPORTED (_class_name other than WanTransformer3DModel, I2V keys). */
int wan_config_load(const char *path, struct wan_config *out, struct df_err *err);

/* Check the weights agree with the config: the number of `blocks.N.` groups
 * equals num_layers and the embedding shapes give the same dim, text_dim,
 * in/out channels and patch.  Returns 0 or DF_E_INVAL with a message naming
 * the tensor and both values. */
int wan_config_check_weights(const struct wan_config *c, const struct safetensors *st,
                             struct df_err *err);

/* Number of tokens of a latent [C, T, H, W]: (T/pt)(H/ph)(W/pw).  Returns the
 * count, or DF_E_INVAL (a size not a positive multiple of the patch, or a
 * grid axis beyond rope_max_seq_len) with the message saying which. */
long long wan_config_tokens(const struct wan_config *c, int t, int h, int w, struct df_err *err);

#endif /* DF_WAN_CONFIG_H */
