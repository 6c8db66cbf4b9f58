/*
 * wan_synth.h -- deterministic synthetic weights for a Wan2.1 DiT.
 *
 * The embedded demo model (configs/models/tiny) and the benchmarks need a
 * transformer without a download.  Every tensor of wan_weights_foreach() is
 * drawn from noise_fill() (lib/noise.h, identical on every machine) keyed by
 * the 64-bit FNV-1a hash of its diffusers name XOR the seed, then scaled like
 * vae_synth.h: matrices by 1/sqrt(fan_in), biases 0.02·n, norm gains
 * 1 + 0.1·n, scale_shift_tables by 1/sqrt(dim) (diffusers' init).  Same
 * config + seed = same bytes.
 *
 *     struct wan_synth ws = {.seed = 0};
 *     struct wan_tensor_source src = {wan_synth_read, &ws};
 *     wan_model_create(be, &cfg, &src, &m, &err);          // in memory
 *     wan_synth_write("configs/models/tiny/transformer", 0, &err);  // to disk
 */
#ifndef DF_WAN_SYNTH_H
#define DF_WAN_SYNTH_H

#include "err.h"

#include <stdint.h>

struct wan_synth {
    uint64_t seed; /* mixed into every tensor's stream */
};

/* A wan_tensor_source read function (ctx = struct wan_synth *): fills dst
 * with tensor `name` of `shape`.  Returns 0 (never fails). */
int wan_synth_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                   struct df_err *err);

/* Read <dir>/config.json and write <dir>/diffusion_pytorch_model.safetensors
 * (F32, atomically).  Returns 0 or the codes of wan_config_load(), DF_E_IO,
 * DF_E_NOMEM. */
int wan_synth_write(const char *dir, uint64_t seed, struct df_err *err);

#endif /* DF_WAN_SYNTH_H */
