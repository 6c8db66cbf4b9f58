/*
 * vae_synth.h -- write a small Wan2.1-layout VAE with synthetic weights.
 *
 * The embedded demo model (configs/models/tiny) has no trained weights to
 * download, so set-up writes them: a diffusers `vae/` folder (config.json +
 * diffusion_pytorch_model.safetensors) whose every tensor comes from
 * noise_fill() (lib/noise.h) keyed by a 64-bit FNV-1a hash of the tensor name,
 * scaled by 1/sqrt(fan_in) (RMS gammas: 1 + 0.1·n, biases: 0.02·n).  The same
 * options give the same bytes on every machine.
 */
#ifndef DF_VAE_SYNTH_H
#define DF_VAE_SYNTH_H

#include "err.h"

struct vae_synth_opts {
    int base_dim;       /* decoder base width (Wan2.1: 96) */
    int z_dim;          /* latent channels (Wan2.1: 16) */
    int num_res_blocks; /* (Wan2.1: 2) */
    unsigned long long seed; /* mixed into every tensor's stream */
};

/* Write <dir>/config.json and <dir>/diffusion_pytorch_model.safetensors
 * (decoder + post_quant_conv, dim_mult [1,2,4,4], temporal up-sampling in the
 * first two up blocks: strides 4×8×8).  Creates dir if needed.  Returns 0 or
 * DF_E_IO / DF_E_NOMEM / DF_E_INVAL. */
int vae_synth_write(const char *dir, const struct vae_synth_opts *o, struct df_err *err);

#endif
