/*
 * cogvideox_vae_int.h -- what cogvideox_vae_load.c and cogvideox_vae_decode.c
 * share.  Not for other modules.
 *
 * Activations are channel-last frames in backend memory: [t][h·w][c].
 */
#ifndef DF_COGVIDEOX_VAE_INT_H
#define DF_COGVIDEOX_VAE_INT_H

#include "cogvideox_vae.h"

#include <stddef.h>

#define CVAE_MAX_LEVELS 8

/* A convolution as im2col + linear: 3D causal (kt = 3, "first" padding and a
 * frame cache), 2D (kt = 1, k = 3: the up-samplers) or per pixel (k = 1). */
struct cv_conv {
    struct kern_weight *w; /* [cout, cin·kt·k·k] */
    float *b;              /* backend [cout] */
    int cin, cout, kt, k;
    float *cache;          /* backend [kt-1][cache_hw][cin]: the last input frames */
    size_t cache_cap;      /* floats allocated */
    int cached;            /* cache holds frames of the current chunk sequence */
};

/* CogVideoXSpatialNorm3D: GroupNorm(f)·conv_y(zq) + conv_b(zq). */
struct cv_snorm {
    float *gamma, *beta; /* host [c] */
    int c;
    struct cv_conv conv_y, conv_b; /* per pixel, latent -> c */
};

struct cv_resnet {
    struct cv_snorm norm1, norm2;
    struct cv_conv conv1, conv2;
    struct cv_conv shortcut; /* per pixel, when cin != cout */
    int cin, cout, has_shortcut;
};

struct cv_level {
    struct cv_resnet *res;
    int n_res;
    struct cv_conv up; /* upsamplers.0.conv (2D 3x3) */
    int has_up, compress_time;
};

struct cogvideox_vae {
    kern_backend_t be;
    int is_cpu; /* backend buffers are host memory */
    struct cogvideox_vae_info info;
    int ch[CVAE_MAX_LEVELS]; /* block_out_channels */
    int layers_per_block, groups, out_channels;
    float eps;
    struct cv_conv conv_in, conv_out;
    struct cv_resnet mid[2];
    struct cv_level up[CVAE_MAX_LEVELS];
    struct cv_snorm norm_out;
    float *cols;   /* im2col scratch (backend) */
    size_t cols_cap;
    float *host;   /* host scratch for the group norms off "cpu" */
    size_t host_cap;
};

/* Every conv of the decoder (for cache resets and freeing). */
int cvae_convs(struct cogvideox_vae *v, struct cv_conv **out, int cap);

/* Decode one chunk sequence: latent chunk z [tz][h·w][C] (backend, already
 * scaled), producing frames appended by the caller.  See cogvideox_vae_decode.c. */

#endif /* DF_COGVIDEOX_VAE_INT_H */
