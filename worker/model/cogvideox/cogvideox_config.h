/*
 * cogvideox_config.h -- the hyperparameters of a CogVideoX DiT, read from a
 * diffusers `transformer/config.json` (CogVideoXTransformer3DModel) and
 * cross-checked with the weights.
 *
 * One struct covers the three published shapes, every difference being a
 * config key (nothing is guessed from the model's name):
 *   CogVideoX-2B    3D sin-cos positions added to the video tokens
 *                   (use_rotary_positional_embeddings false), 2D patch conv
 *   CogVideoX-5B    3D RoPE on the video tokens' q/k, with the pipeline's grid
 *                   crop against sample_height/sample_width
 *   CogVideoX1.5-5B temporal patching (patch_size_t: the patch embedding is a
 *                   Linear over C*pt*p*p), RoPE grid_type "slice", no patch
 *                   bias, an `ofs` embedding where ofs_embed_dim is set
 * Keys missing from config.json take CogVideoXTransformer3DModel.__init__'s
 * defaults, as from_pretrained would.  Keys this implementation cannot honour
 * (learned positional embeddings of the I2V model, an activation other than
 * gelu-approximate / silu) are refused with DF_E_UNSUPPORTED.
 *
 *     struct cogvideox_config c;
 *     if (cogvideox_config_load("models/cogvideox/transformer/config.json", &c, &err) < 0) ...
 */
#ifndef DF_COGVIDEOX_CONFIG_H
#define DF_COGVIDEOX_CONFIG_H

#include "err.h"

#include <stdint.h>

struct safetensors;

enum cogvideox_pos {
    COGVIDEOX_POS_SINCOS, /* 2B: 3D sin-cos table added after the patch embedding */
    COGVIDEOX_POS_ROPE,   /* 5B, 1.5: 3D rotary embedding on video q/k */
    COGVIDEOX_POS_COUNT
};

struct cogvideox_config {
    int num_layers;         /* CogVideoXBlocks */
    int num_heads;          /* attention heads */
    int head_dim;           /* attention_head_dim */
    int dim;                /* inner_dim = num_heads * head_dim */
    int ffn_dim;            /* FeedForward inner width: 4 * dim */
    int in_channels;        /* latent channels in */
    int out_channels;       /* latent channels out */
    int time_embed_dim;     /* TimestepEmbedding width (the adaptive norms' input) */
    int ofs_embed_dim;      /* 0: no ofs embedding; else == time_embed_dim */
    int text_dim;           /* text_embed_dim (T5: 4096) */
    int patch;              /* spatial patch p */
    int patch_t;            /* temporal patch; 0 = none (2D conv patch embedding) */
    int flip_sin_to_cos;    /* Timesteps: [cos | sin] when 1 */
    int freq_shift;         /* Timesteps: downscale_freq_shift */
    int sample_width;       /* latent width the model was trained at (RoPE crop base) */
    int sample_height;      /* latent height likewise */
    int sample_frames;      /* pixel frames (see diffusers' note); sin-cos table only */
    int temporal_compression; /* temporal_compression_ratio */
    int max_text_len;       /* max_text_seq_length (226) */
    int attention_bias;     /* to_q/k/v have biases */
    int patch_bias;         /* the 2D patch conv has a bias (1.5's Linear always has one) */
    int norm_affine;        /* norm_elementwise_affine: the LayerNorms have weight/bias */
    enum cogvideox_pos pos; /* positional scheme */
    float norm_eps;         /* norm_eps (adaptive norms, norm_final, norm_out) */
    double spatial_interp;  /* spatial_interpolation_scale (sin-cos) */
    double temporal_interp; /* temporal_interpolation_scale (sin-cos) */
};

/* Parse `path` (a diffusers config.json).  Returns 0, DF_E_IO/DF_E_NOTFOUND
 * (file), DF_E_PARSE (not JSON, a key of the wrong type: message names the
 * key), DF_E_RANGE (a size <= 0, head_dim not a multiple of 16 with RoPE,
 * dim not a multiple of 16 with sin-cos, ofs_embed_dim != time_embed_dim),
 * DF_E_UNSUPPORTED (_class_name other than CogVideoXTransformer3DModel,
 * learned positional embeddings, an unknown activation, patch_size_t
 * without RoPE). */
int cogvideox_config_load(const char *path, struct cogvideox_config *out, struct df_err *err);

/* Check the weights agree with the config: the number of
 * `transformer_blocks.N.` groups equals num_layers and the embedding shapes
 * give the same dim, channels, text width and patch.  Returns 0 or DF_E_INVAL
 * naming the tensor and both values. */
int cogvideox_config_check_weights(const struct cogvideox_config *c, const struct safetensors *st,
                                   struct df_err *err);

/* Patch grid of a latent of F frames, H x W: (tf, th, tw) = (F/pt, H/p, W/p).
 * Returns the video token count, or DF_E_INVAL saying which size is not a
 * positive multiple of its patch, or (1.5's "slice" RoPE) which grid axis is
 * larger than the trained grid sample_height/p, sample_width/p. */
long long cogvideox_config_grid(const struct cogvideox_config *c, int frames, int height,
                                int width, int grid[3], struct df_err *err);

#endif /* DF_COGVIDEOX_CONFIG_H */
