/*
 * vae.h -- the Wan2.1 VAE decoder (diffusers AutoencoderKLWan, decoder side).
 *
 * Turns a DiT latent [z_dim, T, h, w] into RGB frames [3, 1+4(T-1), 8h, 8w]
 * in [-1, 1].  Decoding runs one latent frame at a time, exactly as diffusers
 * does: every causal 3D convolution keeps the last two frames it saw (the
 * "feature cache"), so memory is bounded by one chunk whatever the length of
 * the video, and the result equals a whole-clip causal decode.  Frames are
 * handed to a callback as soon as they exist, so the encoder can consume them
 * without the whole clip in memory.
 *
 *     struct vae *vae;
 *     if (vae_load(be, "model/vae", &vae, &err) < 0) ...
 *     vae_denormalize(vae, latent, T, h, w);      // latent * std + mean, per channel
 *     vae_decode(vae, latent, T, h, w, on_frame, user, &err);
 *     vae_free(vae);
 *
 * Weights: `<dir>/config.json` and `<dir>/diffusion_pytorch_model.safetensors`
 * (or its sharded index); only `decoder.*` and `post_quant_conv.*` are read.
 * Wan2.2's residual VAE (is_residual=true) and patchified VAEs are refused.
 *
 * Backends: every step is a kern_* op on backend buffers, so the decoder
 * runs on whichever backend it is loaded with ("cpu", "cuda"); the latent
 * and the frames handed to the callback are host memory.
 *
 * For big frames and for several ranks, vae_tiles.h decodes overlapping
 * spatial tiles (diffusers' tiled_decode) and spreads them over a comm.
 */
#ifndef DF_VAE_H
#define DF_VAE_H

#include "err.h"
#include "kern.h"

struct vae; /* opaque: config, weights, feature caches, scratch */

struct vae_info {
    int z_dim;           /* latent channels */
    int base_dim;        /* decoder base width */
    int num_res_blocks;  /* per up block (+1 resnet each) */
    int n_stages;        /* len(dim_mult) */
    int stride_t;        /* temporal up-sampling (4 for Wan2.1) */
    int stride_s;        /* spatial up-sampling (8 for Wan2.1) */
};

/* Load config and decoder weights from a diffusers `vae/` folder.  Returns 0
 * and sets *out, or DF_E_NOTFOUND / DF_E_PARSE / DF_E_INVAL (missing or
 * mis-shaped tensor: the message names it), DF_E_UNSUPPORTED. */
int vae_load(kern_backend_t be, const char *dir, struct vae **out, struct df_err *err);

/* Read and check `<dir>/config.json` only (no weights): every key vae_load
 * uses, with the same messages.  For validating a model folder and for the
 * render to refuse a broken VAE before its first denoise step.  Returns 0
 * and fills *out (may be NULL), or DF_E_NOTFOUND / DF_E_PARSE / DF_E_RANGE /
 * DF_E_UNSUPPORTED naming the file and key. */
int vae_config_check(const char *dir, struct vae_info *out, struct df_err *err);

/* The same check on config.json text already in memory (fuzzing, tests). */
int vae_config_parse(const char *text, size_t len, struct vae_info *out, struct df_err *err);

/* Free everything.  Accepts NULL. */
void vae_free(struct vae *vae);

const struct vae_info *vae_get_info(const struct vae *vae);

/* Output geometry of a [T, h, w] latent: frames 1 + stride_t·(T-1),
 * height stride_s·h, width stride_s·w. */
void vae_output_size(const struct vae *vae, int T, int h, int w, int *frames, int *height,
                     int *width);

/* latent [z_dim, T, h, w] in place: x·std[c] + mean[c] (the pipeline's
 * de-normalization before decode, with the config's latents_mean/std). */
void vae_denormalize(const struct vae *vae, float *latent, int T, int h, int w);

/* Called once per output frame, in order.  rgb is [3, height, width] in
 * [-1, 1], valid only during the call.  Return 0, or a negative code (with
 * err filled) to stop the decode. */
typedef int (*vae_frame_fn)(void *user, int index, const float *rgb, int height, int width,
                            struct df_err *err);

/* Decode latent [z_dim, T, h, w] (already de-normalized).  Frames go to
 * on_frame.  Returns 0 or a negative code (DF_E_NOMEM, the callback's). */
int vae_decode(struct vae *vae, const float *latent, int T, int h, int w, vae_frame_fn on_frame,
               void *user, struct df_err *err);

#endif /* DF_VAE_H */
