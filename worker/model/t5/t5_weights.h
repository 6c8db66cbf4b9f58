/*
 * t5_weights.h -- the tensors of a T5-family encoder checkpoint (internal to
 * worker/model/t5/): found by their transformers names, checked against the
 * config, read in place from the mapping.
 *
 *   shared.weight | encoder.embed_tokens.weight          [vocab, d_model]
 *   encoder.block.N.layer.0.layer_norm.weight             [d_model]
 *   encoder.block.N.layer.0.SelfAttention.{q,k,v}.weight  [inner, d_model]
 *   encoder.block.N.layer.0.SelfAttention.o.weight        [d_model, inner]
 *   encoder.block.N.layer.0.SelfAttention.relative_attention_bias.weight
 *                                  [num_buckets, num_heads] (every N: umT5; N = 0: T5)
 *   encoder.block.N.layer.1.layer_norm.weight             [d_model]
 *   encoder.block.N.layer.1.DenseReluDense.{wi_0,wi_1}.weight  [d_ff, d_model] (gated)
 *   encoder.block.N.layer.1.DenseReluDense.wi.weight      [d_ff, d_model] (not gated)
 *   encoder.block.N.layer.1.DenseReluDense.wo.weight      [d_model, d_ff]
 *   encoder.final_layer_norm.weight                       [d_model]
 */
#ifndef DF_T5_WEIGHTS_H
#define DF_T5_WEIGHTS_H

#include "err.h"
#include "safetensors.h"
#include "t5_config.h"

struct t5_block_tensors {
    const struct safetensors_tensor *ln_attn, *q, *k, *v, *o;
    const struct safetensors_tensor *rel_bias; /* NULL where the block has none */
    const struct safetensors_tensor *ln_ff, *wi0, *wi1, *wo; /* wi1 NULL when not gated */
};

struct t5_tensors {
    const struct safetensors_tensor *embed, *final_ln;
    struct t5_block_tensors *blocks; /* num_layers, heap */
};

/* Find and check every tensor.  Returns 0, DF_E_INVAL (missing, misshapen,
 * more blocks in the file than the config has), DF_E_UNSUPPORTED (dtype),
 * DF_E_NOMEM.  Free with t5_tensors_fini(). */
int t5_tensors_find(const struct safetensors *st, const struct t5_config *c,
                    struct t5_tensors *out, struct df_err *err);
void t5_tensors_fini(struct t5_tensors *t);

/* Convert t to fp32 into dst (t->numel floats) on up to n_threads threads
 * (the memory-bound half of streaming a bf16 matrix).  Returns 0 or the
 * codes of safetensors_to_f32(). */
int t5_tensor_to_f32(const struct safetensors_tensor *t, float *dst, int n_threads,
                     struct df_err *err);

#endif /* DF_T5_WEIGHTS_H */
