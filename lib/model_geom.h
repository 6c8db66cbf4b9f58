/*
 * model_geom.h -- the shape of a video DiT and its VAE, as far as the
 * controller needs it: manifest validation (legal sizes and frame counts), the
 * layout planner (heads, tokens, FLOPs) and the worker (what to load).
 *
 * A geometry comes from configs/models/<name>.yaml, or from a diffusers model
 * folder (transformer/config.json + vae/config.json).  Nothing here loads
 * weights.  The YAML keys are the field names below (patch and vae_stride are
 * 3-element lists, joint_text a boolean); `path:` is relative to the YAML
 * file.  See configs/models/<name>.yaml.
 *
 *     struct model_geom g;
 *     if (model_geom_load("wan2.1-t2v-1.3b", configs_dir, &g, &err) < 0) ...
 *     struct model_grid grid;
 *     model_geom_grid(&g, 832, 480, 81, &grid, &err);   // 21x30x52 tokens = 32760
 */
#ifndef DF_MODEL_GEOM_H
#define DF_MODEL_GEOM_H

#include "err.h"

#include <stdint.h>

struct model_geom {
    char name[64];      /* "wan2.1-t2v-1.3b", "tiny", or the folder's basename */
    char family[32];    /* "wan2.1" (the only runnable family today), "cogvideox" */
    char path[512];     /* diffusers model folder, "" for a geometry-only config */
    int num_layers;     /* transformer blocks */
    int num_heads;      /* attention heads */
    int head_dim;       /* per head; hidden = num_heads * head_dim */
    int hidden;         /* model width */
    int ffn_dim;        /* FFN inner width */
    int in_channels;    /* latent channels into the DiT */
    int out_channels;   /* latent channels out of the DiT */
    int text_dim;       /* text encoder output width (umT5-XXL: 4096) */
    int text_len;       /* text tokens the model attends to (Wan: 512) */
    int freq_dim;       /* sinusoidal timestep embedding width (Wan: 256) */
    int patch[3];       /* DiT patch size (t, h, w), Wan: 1,2,2 */
    int vae_stride[3];  /* VAE down-sampling (t, h, w), Wan: 4,8,8 */
    int joint_text;     /* 1 when text tokens join the self-attention sequence (CogVideoX) */
};

/* The token grid of one shot. */
struct model_grid {
    int latent[3];      /* latent (t, h, w) */
    int tokens[3];      /* patch grid (t, h, w) = latent / patch */
    int64_t seq_len;    /* tokens[0]*tokens[1]*tokens[2] (+ text if joint_text) */
    int latent_pad;     /* leading latent frames added so latent[0] divides by the temporal
                         * patch and dropped before the decode (CogVideoX 1.5, as
                         * CogVideoXPipeline's additional_frames); latent[0] includes them */
};

/* Load a geometry by name (configs_dir/models/<name>.yaml) or by path (a
 * diffusers model folder, or a .yaml file).  Errors name the file and key. */
int model_geom_load(const char *name_or_path, const char *configs_dir, struct model_geom *out,
                    struct df_err *err);

/* Check width/height/frames against the model (width, height multiples of
 * vae_stride*patch; frames = vae_stride_t*k + 1, 2*vae_stride_t*k + 1 for
 * CogVideoX, whose latent is padded to the temporal patch: latent_pad) and
 * compute the grid.  The
 * message says what the nearest legal values are. */
int model_geom_grid(const struct model_geom *g, int width, int height, int frames,
                    struct model_grid *out, struct df_err *err);

/* The three checks model_geom_grid makes, one value each, so a validator can
 * report each key on its own.  Return 0, or DF_E_INVAL with a message such as
 * "width 100 is not a multiple of 16 (model 'tiny': VAE stride 8 x patch 2);
 * nearest: 96 or 112" / "frames 80 is not of the form 4k+1 ...; nearest: 77
 * or 81". */
int model_geom_check_width(const struct model_geom *g, int width, struct df_err *err);
int model_geom_check_height(const struct model_geom *g, int height, struct df_err *err);
int model_geom_check_frames(const struct model_geom *g, int frames, struct df_err *err);

/* Parameter count of the transformer (for memory estimates).  Exact for the
 * wan2.1 family (diffusers WanTransformer3DModel: 1,418,996,800 for 1.3B);
 * an estimate for cogvideox (time embedding width assumed 512). */
int64_t model_geom_params(const struct model_geom *g);

/* FLOPs of one transformer forward (one CFG branch) over seq_len tokens with
 * text_len text tokens: the linear layers plus self- and cross-attention. */
double model_geom_forward_flops(const struct model_geom *g, int64_t seq_len);

#endif /* DF_MODEL_GEOM_H */
