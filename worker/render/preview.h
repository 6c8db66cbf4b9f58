/*
 * preview.h -- a small picture of where a render is going, written every few
 * steps to <job_dir>/preview.png, which ditfarmd's API serves and its page
 * shows (docs/api.md).
 *
 * What it shows: the sampler's current prediction of the clean latent,
 * x0 = x - sigma·v (flow matching: exact after an Euler step, the usual
 * estimate for UniPC; for the CogVideoX kinds, whose velocity belongs to the
 * previous sample, the sample scaled by 1/sqrt(1 + sigma²)), for up to
 * PREVIEW_MAX_FRAMES latent frames that this rank (rank 0) holds, side by
 * side, one pixel per latent pixel (enlarged to 64 rows for tiny latents).
 *
 * How, cheaply: a linear map latent -> RGB (3 x z_dim weights + bias) fitted
 * once per worker run by least squares against the shot's own VAE decoder
 * (a few random latents, each output 8x8 block averaged), instead of a VAE
 * decode per preview: a preview then reads only the latent values of the
 * pixels it shows and writes a PNG of a few tens of kB (bench/bench_preview.c: well under 1% of
 * a 480p step; the fit -- four decodes of an 8x8 latent by the VAE the
 * render loaded at set-up -- is paid once, on rank 0, before the first
 * preview).
 *
 * How often: every DITFARM_PREVIEW_EVERY steps (0: never); by default
 * max(1, steps/10), and after the last step.
 *
 *     struct preview_map m;
 *     preview_map_fit(vae, &m, &err);                       // or preview_map_default()
 *     preview_write(&m, &dims, rows, begin, count, 1, sigma, vel, "job/preview.png", &err);
 */
#ifndef DF_PREVIEW_H
#define DF_PREVIEW_H

#include "err.h"
#include "latent_shard.h"

#include <stddef.h>
#include <stdint.h>

#define PREVIEW_MAX_FRAMES 4
#define PREVIEW_MAX_Z 64

struct vae;
struct render;
struct preview_state; /* the render's: map, path, timings (preview.c) */

/* rgb[k] = bias[k] + sum_c w[k][c] * z[c], in [-1, 1] (clamped). */
struct preview_map {
    int z_dim;
    float w[3][PREVIEW_MAX_Z];
    float bias[3];
};

/* Fit the map to vae's decoder on normalized latents (what the sampler
 * holds).  Returns 0, or the decoder's error / DF_E_UNSUPPORTED (z_dim too
 * large). */
int preview_map_fit(struct vae *vae, struct preview_map *m, struct df_err *err);

/* x0 = a·rows - b·vel for tokens [begin, begin + count) (row-major rows as
 * in latent_shard.h; vel may be NULL when b is 0), computed only for the
 * pixels shown: the latent frames those tokens fully cover (up to
 * PREVIEW_MAX_FRAMES, evenly spread), mapped to RGB and written as one PNG
 * strip to path (atomically: path.tmp, then rename).  Returns 0, DF_E_INVAL
 * (no whole frame), DF_E_IO. */
int preview_write(const struct preview_map *m, const struct latent_dims *d, const float *rows,
                  int64_t begin, int64_t count, float a, float b, const float *vel,
                  const char *path, struct df_err *err);

/* Encode rgb [height, width, 3] bytes as a PNG (stored deflate: no zlib).
 * Returns 0 and *png (malloc'd, caller frees) / *len, or DF_E_NOMEM. */
int preview_png(const uint8_t *rgb, int width, int height, uint8_t **png, size_t *len,
                struct df_err *err);

/* The render loop's hook after the sampler stepped to `step` (steps done)
 * with velocity vel: writes a preview when one is due, on rank 0.  Never
 * fails the render: problems are logged once and previews stop. */
void preview_step(struct render *r, int step, const float *vel);
/* Free the render's preview state (NULL is fine). */
void preview_free(struct preview_state *p);

#endif /* DF_PREVIEW_H */
