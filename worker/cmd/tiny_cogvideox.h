/*
 * tiny_cogvideox.h -- a tiny CogVideoX-5B-shaped diffusers folder with
 * synthetic, deterministic weights (`ditfarm-worker make-tiny --family
 * cogvideox DIR`): transformer/ (RoPE, 226 text tokens, 2 blocks), vae/
 * (AutoencoderKLCogVideoX decoder, 3 levels: 4x spatial, 4x temporal),
 * scheduler/ (CogVideoXDPMScheduler as the 5B ships it), tokenizer/ and a
 * T5 v1.1 text_encoder/ (t5_synth.h), model_index.json.
 */
#ifndef DF_TINY_COGVIDEOX_H
#define DF_TINY_COGVIDEOX_H

#include "err.h"

#include <stdint.h>

/* Write every part under dir (created).  Returns 0, DF_E_IO, DF_E_NOMEM. */
int tiny_cogvideox_write(const char *dir, uint64_t seed, struct df_err *err);

#endif /* DF_TINY_COGVIDEOX_H */
