/*
 * wan_model.h -- the Wan2.1 text-to-video DiT forward (diffusers
 * WanTransformer3DModel), on any kern backend, one token range at a time.
 *
 * A model is a config, its weights (in backend memory) and the activation
 * buffers of one forward, allocated once by wan_model_reserve(); the forward
 * functions never allocate.  A forward computes the output of the tokens
 * [tok_begin, tok_begin + tok_count) of the full latent's patch sequence, so
 * P sequence-parallel ranks each run the same model on their own range:
 * patchify takes only the local patches, RoPE uses the tokens' global
 * positions, and self-attention goes through a hook that the caller can
 * replace (Ulysses all-to-all, ring attention) -- the default hook is plain
 * attention over the local tokens, which is right only when the range is
 * the whole sequence.  Cross-attention to the text needs no communication.
 *
 * The forward is three steps, so a step cache (TeaCache) can skip the block
 * stack and reuse its residual:
 *   wan_model_embed()  timestep -> temb [dim] -> timestep_proj e0 [6*dim];
 *                      text -> context [L, dim]; local patches -> hidden [s, dim]
 *   wan_model_blocks() hidden [s, dim] through every transformer block (in place)
 *   wan_model_head()   output norm + projection + unpatchify into out
 *
 *     struct wan_model *m;
 *     if (wan_model_load(be, "models/wan/transformer", &m, &err) < 0) ...
 *     struct wan_shape sh = {.frames = 21, .height = 60, .width = 104, .text_len = 512};
 *     if (wan_model_reserve(m, &sh, &err) < 0) ...
 *     if (wan_model_forward(m, &sh, latent, 999.0f, text, out, &err) < 0) ...
 *     wan_model_free(m);
 *
 * All pointers named latent/text/out are HOST memory; the model uploads and
 * downloads.  wan_model_hidden() is the exception: a backend buffer.
 */
#ifndef DF_WAN_MODEL_H
#define DF_WAN_MODEL_H

#include "err.h"
#include "kern.h"
#include "wan_config.h"
#include "wan_weights.h"

#include <stdint.h>

struct wan_model; /* opaque: config + weights + buffers; one per thread (the backend is not thread-safe) */

/* One forward's geometry. */
struct wan_shape {
    int frames, height, width; /* latent T, H, W (multiples of the patch) */
    int text_len;              /* text tokens L (rows of `text`) */
    int64_t tok_begin;         /* first token this call computes */
    int64_t tok_count;         /* tokens computed; 0 = all (tok_begin must be 0) */
};

/* Self-attention of one block over the whole sequence.  q, k, v are this
 * rank's tokens [s_local, heads, head_dim] (after the q/k RMSNorm and RoPE),
 * backend buffers; write o [s_local, heads, head_dim] = softmax(q·kᵀ/√head_dim)·v
 * where the keys/values are those of ALL ranks.  layer = block index (0-based).
 * Returns 0 or a negative code with err filled. */
struct wan_attn_hook {
    int (*attend)(void *ctx, kern_backend_t be, int layer, const float *q, const float *k,
                  const float *v, float *o, int64_t s_local, int heads, int head_dim,
                  struct df_err *err);
    void *ctx;
};

/* ---------------------------------------------------------------------------
 * Create / free
 * ------------------------------------------------------------------------- */

/* Load a diffusers transformer folder: config.json plus
 * diffusion_pytorch_model.safetensors (or its sharded .index.json).  F32, F16
 * and BF16 weights are converted to the backend's storage.  Returns 0 and
 * sets *out, or the codes of wan_config_load(), safetensors_open_model() and
 * wan_config_check_weights(); a missing or mis-shaped tensor gives
 * "<file>: tensor '<name>' not found" / "... has shape [a, b], expected [c, d]". */
int wan_model_load(kern_backend_t be, const char *transformer_dir, struct wan_model **out,
                   struct df_err *err);

/* Build a model from a config and any tensor source (generated weights for
 * the demo model and the benchmarks).  Returns 0 or the source's error. */
int wan_model_create(kern_backend_t be, const struct wan_config *c,
                     const struct wan_tensor_source *src, struct wan_model **out,
                     struct df_err *err);

/* Free the weights and buffers (not the backend).  Accepts NULL. */
void wan_model_free(struct wan_model *m);

/* The model's config; never NULL for a live model. */
const struct wan_config *wan_model_config(const struct wan_model *m);

/* Allocate the buffers for forwards of at most `max` (latent size, text
 * length, tokens per call; tok_count 0 = the whole sequence).  Frees earlier
 * buffers.  Returns 0, DF_E_INVAL (shape not legal for the model: message
 * says why), DF_E_NOMEM. */
int wan_model_reserve(struct wan_model *m, const struct wan_shape *max, struct df_err *err);

/* Replace the self-attention hook (NULL restores the default local
 * attention).  The hook struct is copied. */
void wan_model_set_attn_hook(struct wan_model *m, const struct wan_attn_hook *hook);

/* ---------------------------------------------------------------------------
 * Forward
 * ------------------------------------------------------------------------- */

/* Embed: latent host [C_in, T, H, W] (the FULL latent; only the range's
 * patches are used), timestep (the sampler's t, e.g. 0..1000), text host
 * [text_len, text_dim] (encoder hidden states).  Returns 0, DF_E_INVAL (shape
 * illegal or a token range with the default attention hook), DF_E_RANGE
 * (larger than reserved), or a backend error. */
int wan_model_embed(struct wan_model *m, const struct wan_shape *shape, const float *latent,
                    float timestep, const float *text, struct df_err *err);

/* Run every transformer block on the hidden state (after wan_model_embed).
 * Returns 0 or a backend / hook error. */
int wan_model_blocks(struct wan_model *m, struct df_err *err);

/* Output head: write this range's tokens into out host [C_out, T, H, W]; the
 * positions of other tokens are left untouched, so ranks can fill disjoint
 * ranges of one buffer.  Returns 0 or a backend error. */
int wan_model_head(struct wan_model *m, float *out, struct df_err *err);

/* embed + blocks + head.  Returns as those. */
int wan_model_forward(struct wan_model *m, const struct wan_shape *shape, const float *latent,
                      float timestep, const float *text, float *out, struct df_err *err);

/* ---------------------------------------------------------------------------
 * State for step caches (valid after wan_model_embed)
 * ------------------------------------------------------------------------- */

/* Only the timestep path of wan_model_embed(): fill what wan_model_temb()
 * and wan_model_timestep_proj() return for `timestep`, with the forward's
 * own kernels (a step cache plans its skip mask from these).  Needs
 * wan_model_reserve(); do not call it between embed and head of a forward
 * whose e/e0 you still read.  Returns 0, DF_E_INVAL, or a backend error. */
int wan_model_time_embed(struct wan_model *m, float timestep, struct df_err *err);

/* temb = time_embedder(sinusoid(t)), host [dim]. */
const float *wan_model_temb(const struct wan_model *m);
/* e0 = time_proj(silu(temb)), host [6*dim] (shift, scale, gate, c_shift,
 * c_scale, c_gate before each block adds its scale_shift_table). */
const float *wan_model_timestep_proj(const struct wan_model *m);
/* The hidden state, a BACKEND buffer [*rows, dim]: the patch embedding after
 * embed, the block stack's output after blocks.  A cache may overwrite it
 * between blocks and head. */
float *wan_model_hidden(struct wan_model *m, int64_t *rows);

/* FLOPs of one forward of `shape` counted as 2·M·N·K per linear plus
 * 4·Sq·Sk·D per head for attention (for benchmarks and the planner). */
double wan_model_flops(const struct wan_config *c, const struct wan_shape *shape);

#endif /* DF_WAN_MODEL_H */
