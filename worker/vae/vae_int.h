/*
 * vae_int.h -- internals of the Wan VAE decoder shared by vae_load.c (config
 * and weights) and vae_decode.c (the forward).  Not for other modules.
 *
 * Activations are channel-last frames: [frames][H·W][C], so a 1×1 conv is a
 * kern_linear and a k×k conv is an im2col followed by one.
 */
#ifndef DF_VAE_INT_H
#define DF_VAE_INT_H

#include "vae.h"

#define VAE_MAX_STAGES 8
#define VAE_MAX_RES 8   /* num_res_blocks + 1 resnets per up block */
#define VAE_MAX_DIM_MULT 64 /* per-stage width multiplier (Wan2.1: 1, 2, 4, 4) */

/* Causal conv (kt, kh, kw); kt = 1 convs are per frame (no cache). */
struct vae_conv {
    int cin, cout;
    int kt, kh, kw;          /* kernel; spatial padding is (kh/2, kw/2), temporal 2·(kt/2) in front */
    struct kern_weight *w;   /* [cout, cin·kt·kh·kw], torch Conv3d/Conv2d weight flattened */
    float *bias;             /* [cout] */
    /* feature cache: the last kt-1 input frames seen, oldest first */
    float *cache;            /* [kt-1][cache_hw][cin], a backend buffer */
    int n_cached;            /* frames held, 0 .. kt-1 */
    int cache_hw;            /* H·W the cache was sized for */
};

struct vae_rms {
    int dim;
    float *gamma;            /* [dim] */
};

struct vae_resblock {
    struct vae_rms norm1, norm2;
    struct vae_conv conv1, conv2;
    struct vae_conv shortcut; /* 1×1×1, only when cin != cout */
    int has_shortcut;
};

struct vae_attn {
    struct vae_rms norm;
    struct kern_weight *qkv;  /* [3C, C] */
    float *qkv_bias;          /* [3C] */
    struct kern_weight *proj; /* [C, C] */
    float *proj_bias;         /* [C] */
    int dim;
};

/* A released activation buffer kept for reuse (vae_decode.c). */
struct vae_buf {
    float *d;   /* backend buffer */
    size_t cap; /* floats */
};

#define VAE_POOL_CAP 8 /* released activations kept; a resblock has ~4 alive */

enum vae_up_mode { VAE_UP_NONE, VAE_UP_2D, VAE_UP_3D };

struct vae_upblock {
    int n_res;
    struct vae_resblock res[VAE_MAX_RES];
    enum vae_up_mode mode;
    struct vae_conv resample;  /* 3×3 conv2d after nearest 2× (dim -> dim/2) */
    struct vae_conv time_conv; /* (3,1,1) causal, dim -> 2·dim; VAE_UP_3D only */
    int time_started;          /* time_conv skips the first latent frame ("Rep") */
};

struct vae {
    kern_backend_t be;
    struct vae_info info;
    float mean[64], std[64];   /* latents_mean / latents_std, z_dim entries */
    struct vae_conv post_quant; /* 1×1×1, z -> z */
    struct vae_conv conv_in;
    struct vae_resblock mid_res[2];
    struct vae_attn mid_attn;
    struct vae_upblock up[VAE_MAX_STAGES];
    struct vae_rms norm_out;
    struct vae_conv conv_out;
    /* backend scratch, grown on demand */
    float *cols;
    size_t cols_cap;
    float *attn_tmp;
    size_t attn_cap;
    struct vae_buf pool[VAE_POOL_CAP]; /* released activations, reused by size */
    int n_pool;
};

/* vae_decode() with the clamp to [-1, 1] optional (clamp = 0 hands out the
 * raw decoder output: the tiled decode blends raw tiles and clamps after,
 * as diffusers does).  Returns as vae_decode(). */
int vae_decode_raw(struct vae *vae, const float *latent, int T, int h, int w, int clamp,
                   vae_frame_fn on_frame, void *user, struct df_err *err);

#endif
