/*
 * cogvideox_pos.h -- the positional tables of CogVideoX, computed as
 * diffusers' CogVideoXPipeline / CogVideoXPatchEmbed compute them for a given
 * latent size, for any range of video tokens (a sequence-parallel rank
 * computes only its own rows).
 *
 * Video token v of a (tf, th, tw) patch grid sits at f = v / (th*tw),
 * y = (v / tw) % th, x = v % tw.  Text tokens have no position (the sin-cos
 * table is zero there and RoPE skips them).
 *
 * Precision follows diffusers: the sin-cos table is computed in float64 from
 * float32 grid positions and rounded once to float32; the RoPE angles are
 * float32 throughout (freqs_dtype float32), with the grid's float32 linspace.
 */
#ifndef DF_COGVIDEOX_POS_H
#define DF_COGVIDEOX_POS_H

#include "cogvideox_config.h"

#include <stdint.h>

/* get_resize_crop_region_for_grid((gh, gw), base_w, base_h): the part of the
 * trained base grid a (gh, gw) grid maps to, with Python's round() (half to
 * even).  Writes {top, left, bottom, right}. */
void cogvideox_pos_crop_region(int gh, int gw, int base_w, int base_h, int out[4]);

/* torch.linspace(start, end, steps) in float32, as ATen's CPU kernel computes
 * it (from the start below the middle, from the end above it). */
void cogvideox_pos_linspace(double start, double end, int steps, float *out);

/* RoPE cos/sin [count, head_dim/2] (one value per rotated pair: diffusers'
 * repeat_interleave(2) tables, halved) for video tokens [v_begin, v_begin +
 * count) of `grid`; pairs are t (head_dim/8), then h and w (3*head_dim/16
 * each).  CogVideoX 1.0 positions come from the cropped linspace grid, 1.5's
 * (patch_t set) from the "slice" grid.  Returns 0 or DF_E_NOMEM. */
int cogvideox_pos_rope(const struct cogvideox_config *c, const int grid[3], int64_t v_begin,
                       int64_t count, float *cos_out, float *sin_out, struct df_err *err);

/* The 2B sin-cos table [count, dim] for video tokens [v_begin, v_begin +
 * count): [t: sin | cos (dim/4)] [w: sin | cos (3dim/8)] [h: sin | cos
 * (3dim/8)], positions scaled by 1/temporal_interp and 1/spatial_interp. */
void cogvideox_pos_sincos(const struct cogvideox_config *c, const int grid[3], int64_t v_begin,
                          int64_t count, float *out);

/* diffusers' Timesteps(width, flip_sin_to_cos, freq_shift) of one value, in
 * float32 as torch computes it: out [width]. */
void cogvideox_pos_timestep(float t, int width, int flip_sin_to_cos, int freq_shift, float *out);

#endif /* DF_COGVIDEOX_POS_H */
