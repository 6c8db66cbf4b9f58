/*
 * latent_shard.h -- a rank's share of the latent, token-major.
 *
 * The canonical latent is [C, T, H, W] (the layout of the noise, the VAE input
 * and checkpoints).  The DiT works on patch tokens, and a sequence-parallel
 * rank owns a contiguous range of them, so through the denoise loop a rank
 * keeps only its tokens' latent values, as rows [tokens, C·pt·ph·pw] in the
 * column order (c, kt, kh, kw) of the patch embedding.  A token range is then
 * one contiguous slice of the token-major latent: offset begin·row, length
 * count·row -- which is what the elementwise sampler needs.
 *
 * Families with joint attention (CogVideoX) put `text` text tokens before
 * the video tokens in the sequence the ranks split; those tokens own rows
 * too (so row offsets stay begin·row), but the rows hold no latent: they
 * read as zeros and are never written back.  The canonical order is the
 * family's: [C, T, H, W] (layout 0, Wan) or [T, C, H, W] (layout 1,
 * CogVideoX).
 */
#ifndef DF_LATENT_SHARD_H
#define DF_LATENT_SHARD_H

#include <stdint.h>

struct latent_dims {
    int C, T, H, W;   /* canonical latent */
    int pt, ph, pw;   /* patch */
    int layout;       /* 0: [C, T, H, W]; 1: [T, C, H, W] (frame-major) */
    int64_t text;     /* text tokens leading the sequence (joint attention), else 0 */
};

/* Floats per token row: C·pt·ph·pw. */
int64_t latent_row_size(const struct latent_dims *d);
/* Tokens of the sequence: text + (T/pt)(H/ph)(W/pw). */
int64_t latent_tokens(const struct latent_dims *d);

/* rows[j] = the latent values of token begin + j, for j < count (zeros for
 * a text token). */
void latent_to_rows(const struct latent_dims *d, const float *latent, int64_t begin, int64_t count,
                    float *rows);

/* The inverse: write rows of tokens [begin, begin + count) into latent;
 * other positions are left untouched. */
void latent_from_rows(const struct latent_dims *d, const float *rows, int64_t begin, int64_t count,
                      float *latent);

#endif
