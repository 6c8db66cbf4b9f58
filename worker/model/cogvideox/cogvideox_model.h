/*
 * cogvideox_model.h -- the CogVideoX text-to-video DiT forward (diffusers
 * CogVideoXTransformer3DModel: 2B, 5B and 1.5), on any kern backend, one
 * range of the joint token sequence at a time.
 *
 * CogVideoX runs text and video through the same blocks: the embedded text
 * tokens are concatenated BEFORE the video tokens and every block attends
 * over the joint sequence [text (L); video (S)], with separate adaptive
 * norms (CogVideoXLayerNormZero) and gates per stream.  The model therefore
 * works on ranges of that joint sequence of L + S tokens: token g < L is
 * text row g, token g >= L is video token g - L (frame-major, then row,
 * then column of the patch grid).  Sequence-parallel ranks split the JOINT
 * sequence evenly -- rank 0 holds the text and the first video tokens --
 * so the self-attention hook is the same "attend over every rank's tokens"
 * contract as Wan's (see docs/cogvideox.md for why the text goes there).
 *
 *     struct cogvideox_model *m;
 *     if (cogvideox_model_load(be, "models/cogvideox-5b/transformer", &m, &err) < 0) ...
 *     struct cogvideox_shape sh = {.frames = 13, .height = 60, .width = 90, .text_len = 226};
 *     if (cogvideox_model_reserve(m, &sh, &err) < 0) ...
 *     if (cogvideox_model_forward(m, &sh, hidden, 999.0f, 0.0f, text, out, &err) < 0) ...
 *     cogvideox_model_free(m);
 *
 * Layouts are diffusers': hidden/out are HOST [F, C, H, W] (CogVideoX's
 * frame-major latent, batch dropped), text HOST [L, text_dim].
 */
#ifndef DF_COGVIDEOX_MODEL_H
#define DF_COGVIDEOX_MODEL_H

#include "cogvideox_config.h"
#include "cogvideox_weights.h"
#include "err.h"
#include "kern.h"

#include <stdint.h>

struct cogvideox_model; /* opaque: config + weights + buffers; one per thread */

/* One forward's geometry. */
struct cogvideox_shape {
    int frames, height, width; /* latent F, H, W (multiples of the patch) */
    int text_len;              /* text tokens L */
    int64_t tok_begin;         /* first JOINT token this call computes */
    int64_t tok_count;         /* joint tokens computed; 0 = all (tok_begin must be 0) */
};

/* Self-attention of one block over the whole joint sequence.  q, k, v are
 * this rank's tokens [s_local, heads, head_dim] (after the q/k LayerNorm and
 * the video tokens' RoPE), backend buffers; write o [s_local, heads,
 * head_dim] = softmax(q·kᵀ/√head_dim)·v over ALL ranks' keys. */
struct cogvideox_attn_hook {
    int (*attend)(void *ctx, kern_backend_t be, int layer, const float *q, const float *k,
                  const float *v, float *o, int64_t s_local, int heads, int head_dim,
                  struct df_err *err);
    void *ctx;
};

/* ---------------------------------------------------------------------------
 * Create / free
 * ------------------------------------------------------------------------- */

/* Load a diffusers transformer folder (config.json plus
 * diffusion_pytorch_model.safetensors or its sharded index).  Returns 0 and
 * sets *out, or the codes of cogvideox_config_load(), safetensors_open_model()
 * and cogvideox_config_check_weights(); a missing or mis-shaped tensor is
 * named with its expected shape. */
int cogvideox_model_load(kern_backend_t be, const char *transformer_dir,
                         struct cogvideox_model **out, struct df_err *err);

/* Build a model from a config and any tensor source. */
int cogvideox_model_create(kern_backend_t be, const struct cogvideox_config *c,
                           const struct cogvideox_tensor_source *src,
                           struct cogvideox_model **out, struct df_err *err);

/* Free weights and buffers (not the backend).  Accepts NULL. */
void cogvideox_model_free(struct cogvideox_model *m);

/* The model's config; never NULL for a live model. */
const struct cogvideox_config *cogvideox_model_config(const struct cogvideox_model *m);

/* Joint sequence length L + S of a shape, or DF_E_INVAL (size not legal for
 * the model, or -- with the 2B sin-cos table -- L != max_text_seq_length,
 * which diffusers' table assumes). */
long long cogvideox_model_seq_len(const struct cogvideox_config *c,
                                  const struct cogvideox_shape *shape, struct df_err *err);

/* Allocate buffers for forwards of at most `max`.  Returns 0, DF_E_INVAL
 * (illegal shape: message says why), DF_E_NOMEM. */
int cogvideox_model_reserve(struct cogvideox_model *m, const struct cogvideox_shape *max,
                            struct df_err *err);

/* Replace the self-attention hook (NULL restores local attention, right
 * only when one call covers the whole joint sequence).  Copied. */
void cogvideox_model_set_attn_hook(struct cogvideox_model *m, const struct cogvideox_attn_hook *hook);

/* ---------------------------------------------------------------------------
 * Forward
 * ------------------------------------------------------------------------- */

/* Embed: hidden host [F, C_in, H, W] (the FULL latent), timestep, ofs (used
 * only by models with an ofs embedding), text host [L, text_dim].  Builds
 * emb, every block's modulation, the range's tokens (text projection; patch
 * embedding + sin-cos positions) and RoPE tables.  Returns 0, DF_E_INVAL,
 * DF_E_RANGE (beyond reserve), or a backend error. */
int cogvideox_model_embed(struct cogvideox_model *m, const struct cogvideox_shape *shape,
                          const float *hidden, float timestep, float ofs, const float *text,
                          struct df_err *err);

/* Every CogVideoXBlock on the range's tokens (in place). */
int cogvideox_model_blocks(struct cogvideox_model *m, struct df_err *err);

/* norm_final, norm_out (AdaLayerNorm), proj_out and unpatchify of the
 * range's VIDEO tokens into out host [F, C_out, H, W]; other positions are
 * left untouched, so ranks can fill disjoint parts of one buffer. */
int cogvideox_model_head(struct cogvideox_model *m, float *out, struct df_err *err);

/* embed + blocks + head. */
int cogvideox_model_forward(struct cogvideox_model *m, const struct cogvideox_shape *shape,
                            const float *hidden, float timestep, float ofs, const float *text,
                            float *out, struct df_err *err);

/* ---------------------------------------------------------------------------
 * State for step caches (valid after embed)
 * ------------------------------------------------------------------------- */

/* emb = time_embedding(sinusoid(t)) (+ ofs embedding), host [time_embed_dim]. */
const float *cogvideox_model_emb(const struct cogvideox_model *m);

/* The same emb for a timestep alone (step-cache planning), into host
 * emb [time_embed_dim]; needs reserve, and the next blocks need a fresh
 * embed.  Returns 0, DF_E_INVAL, or a backend error. */
int cogvideox_model_time_embed(struct cogvideox_model *m, float timestep, float ofs, float *emb,
                               struct df_err *err);

/* The hidden state, a BACKEND buffer [*rows, dim] of the range's joint
 * tokens (text rows first). */
float *cogvideox_model_hidden(struct cogvideox_model *m, int64_t *rows);

/* FLOPs of one forward (2·M·N·K per linear, 4·Sq·Sk·D per head of
 * attention) over the joint sequence. */
double cogvideox_model_flops(const struct cogvideox_config *c, const struct cogvideox_shape *shape);

#endif /* DF_COGVIDEOX_MODEL_H */
