/*
 * text_embed.h -- the text conditioning a shot feeds the DiT: encoder hidden
 * states [tokens, text_dim].
 *
 * Two sources, in this order:
 *  1. a safetensors file named by the manifest (prompt_embeds /
 *     negative_prompt_embeds): its single tensor (or the one named
 *     "prompt_embeds") of shape [L, text_dim] or [1, L, text_dim], any of
 *     F32/F16/BF16.  Shorter than the model's text_len: zero-padded, as the
 *     diffusers Wan pipeline pads umT5's output to 512; longer: refused.
 *  2. for models without a text encoder in ditfarm yet (the embedded demo
 *     model, tests): embeddings derived from the prompt text, deterministic and
 *     documented so any machine gets the same video: token j < L' of the
 *     prompt's L' = min(text_len, 1 + number of words) rows is
 *     noise_fill(seed = FNV-1a-64(text) ^ 0x7465787400000000, offset = j·text_dim,
 *     n = text_dim) (lib/noise.h), the remaining rows are zero.  The empty
 *     negative prompt gets one row, like the EOS token of a real encoder.
 */
#ifndef DF_TEXT_EMBED_H
#define DF_TEXT_EMBED_H

#include "err.h"

#include <stdint.h>

/* Read embeddings from `path` into out [text_len, text_dim] (zero-padded).
 * Returns 0, or DF_E_NOTFOUND / DF_E_PARSE (file), DF_E_INVAL (shape: the
 * message names the file, the tensor and the expected [<= text_len,
 * text_dim]). */
int text_embed_load(const char *path, int text_len, int text_dim, float *out, int *n_tokens,
                    struct df_err *err);

/* Derive embeddings from `text` (rule above) into out [text_len, text_dim].
 * *n_tokens gets the rows that are not padding.  Never fails. */
void text_embed_derive(const char *text, int text_len, int text_dim, float *out, int *n_tokens);

/* 64-bit FNV-1a of a string (the derivation's seed, also used for hashing
 * prompts into sidecars and checkpoint keys). */
uint64_t text_embed_hash(const char *text);

#endif
