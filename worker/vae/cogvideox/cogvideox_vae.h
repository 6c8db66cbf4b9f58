/*
 * cogvideox_vae.h -- the CogVideoX VAE decoder (diffusers
 * AutoencoderKLCogVideoX, decoder side), as CogVideoXPipeline.decode_latents
 * uses it.
 *
 * Turns the transformer's latents [F, C, h, w] (CogVideoX's frame-major
 * layout) into RGB frames [3, 1 + 4(F-1), 8h, 8w] in about [-1, 1] (for the
 * published 4-level VAE; in general the spatial factor is 2^(levels-1) and
 * the temporal one temporal_compression_ratio).  Like diffusers' _decode the
 * latent frames go through the decoder in chunks of two (the first chunk
 * takes three when F is odd): the causal 3D convolutions carry their last
 * two input frames from chunk to chunk, while every group norm takes its
 * statistics over the chunk alone -- so the result depends on the chunking,
 * which is therefore diffusers' exactly.  The spatial norms are conditioned
 * on the chunk's latent frames (nearest-resized, first frame apart).
 * With tiling on, it decodes diffusers' overlapping spatial tiles
 * (tiled_decode: tiles of sample_height/2 x sample_width/2 pixels, each with
 * its own caches, blended over the overlap) and tiles can be spread over
 * ranks (cogvideox_vae_decode_ranks).
 *
 *     struct cogvideox_vae *v;
 *     if (cogvideox_vae_load(be, "model/vae", &v, &err) < 0) ...
 *     int T, H, W;
 *     cogvideox_vae_output_size(v, F, h, w, &T, &H, &W);
 *     float *video = malloc(3 * T * H * W * sizeof *video);
 *     if (cogvideox_vae_decode(v, latents, F, h, w, 0, video, &err) < 0) ...
 *     cogvideox_vae_free(v);
 *
 * Latent scaling: the decode multiplies by 1 / scaling_factor first, as the
 * pipeline does (float32, the factor rounded once).  Every heavy op (3D/2D
 * convolutions as im2col + linear, SiLU, up-sampling) is a kern op; the
 * group norms run on the host (on "cpu" in place, elsewhere via copies).
 */
#ifndef DF_COGVIDEOX_VAE_H
#define DF_COGVIDEOX_VAE_H

#include "comm.h"
#include "err.h"
#include "kern.h"

struct cogvideox_vae;

struct cogvideox_vae_info {
    int latent_channels;  /* C */
    int levels;           /* len(block_out_channels) */
    int stride_s;         /* 2^(levels - 1) */
    int stride_t;         /* temporal_compression_ratio (up-sampled in time by the first log2 levels) */
    int sample_height;    /* tiling: tiles are sample_height/2 x sample_width/2 pixels */
    int sample_width;
    double scaling_factor;
};

/* Load `<dir>/config.json` and the decoder.* weights.  Returns 0, or
 * DF_E_NOTFOUND / DF_E_PARSE / DF_E_INVAL (missing or mis-shaped tensor,
 * named) / DF_E_UNSUPPORTED (_class_name, post_quant_conv, an activation or
 * block type other than CogVideoX's). */
int cogvideox_vae_load(kern_backend_t be, const char *dir, struct cogvideox_vae **out,
                       struct df_err *err);

/* config.json only, with the same checks (the render refuses a bad VAE
 * before its first step).  info may be NULL. */
int cogvideox_vae_config_check(const char *dir, struct cogvideox_vae_info *info,
                               struct df_err *err);

void cogvideox_vae_free(struct cogvideox_vae *v);

const struct cogvideox_vae_info *cogvideox_vae_get_info(const struct cogvideox_vae *v);

/* Output size of F latent frames of h x w: frames 1 + stride_t(F - 1) ... in
 * general the sum over the chunks, heights stride_s·h, stride_s·w. */
void cogvideox_vae_output_size(const struct cogvideox_vae *v, int F, int h, int w, int *frames,
                               int *height, int *width);

/* Decode latents host [F, C, h, w] into video host [3, frames, height,
 * width].  tiled: 0 = whole frames (diffusers' default), 1 = tiled_decode
 * when the latent is larger than one tile (the pipeline after
 * vae.enable_tiling()).  Returns 0 or DF_E_INVAL (sizes; a tiling that does
 * not cover the frame), DF_E_NOMEM, a backend error. */
int cogvideox_vae_decode(struct cogvideox_vae *v, const float *latents, int F, int h, int w,
                         int tiled, float *video, struct df_err *err);

/* Tiles of diffusers' tiled_decode for an h x w latent, or 0 when the
 * latent fits one tile or the tiles would not cover the frame exactly. */
int cogvideox_vae_tiles(const struct cogvideox_vae *v, int h, int w);

/* The decode of a job's ranks (all of comm call it; comm NULL = alone):
 * tiled_decode when cogvideox_vae_tiles() > 0, its tiles spread over the
 * ranks (tile k on rank k % P, summed to every rank, blended on rank 0);
 * else rank 0 decodes untiled.  video is written on rank 0 only.  Returns 0
 * or a negative code on every rank (a failed rank is reported to the
 * others as DF_E_COMM). */
int cogvideox_vae_decode_ranks(struct cogvideox_vae *v, comm_t comm, const float *latents, int F,
                               int h, int w, float *video, struct df_err *err);

#endif /* DF_COGVIDEOX_VAE_H */
