/*
 * t5_config.h -- the hyperparameters of a T5-family text encoder, read from
 * a transformers `text_encoder/config.json` (UMT5EncoderModel, T5EncoderModel,
 * MT5EncoderModel).
 *
 * The two families ditfarm runs differ in one place, kept as a flag rather
 * than two code paths: umT5 (Wan) gives every block its own
 * relative_attention_bias table, T5 v1.1 / mT5 (CogVideoX) only block 0,
 * whose bias every later block reuses.  Everything else is shared: RMS norm
 * without mean or bias, attention without 1/sqrt(d_kv), gated-GELU (tanh)
 * feed-forward, a final norm.
 *
 * Keys missing from config.json take transformers' defaults, as
 * `from_pretrained` would; the activation follows transformers'
 * `feed_forward_proj` rule ("gated-gelu" is gelu_new, the tanh form).
 * Activations this build cannot run (relu, erf gelu) are refused with
 * DF_E_UNSUPPORTED instead of being approximated.
 *
 *     struct t5_config c;
 *     if (t5_config_load("model/text_encoder/config.json", &c, &err) < 0) ...
 */
#ifndef DF_T5_CONFIG_H
#define DF_T5_CONFIG_H

#include "err.h"

enum t5_act {
    T5_ACT_GELU_TANH, /* gelu_new, gelu_pytorch_tanh, gelu_fast... the tanh form */
    T5_ACT_SILU,      /* silu / swish */
    T5_ACT_COUNT
};

/* "gelu_tanh", "silu"; "?" out of range. */
const char *t5_act_name(enum t5_act a);

struct t5_config {
    char model_type[16]; /* "umt5", "t5", "mt5" */
    int vocab_size;      /* rows of the token embedding */
    int d_model;         /* hidden width (umT5-XXL: 4096) */
    int d_kv;            /* per-head width */
    int num_heads;       /* attention heads */
    int inner_dim;       /* num_heads * d_kv (may differ from d_model) */
    int d_ff;            /* feed-forward width */
    int num_layers;      /* encoder blocks */
    int num_buckets;     /* relative_attention_num_buckets */
    int max_distance;    /* relative_attention_max_distance */
    int bias_per_layer;  /* 1: every block has its bias (umT5); 0: block 0's shared (T5) */
    int gated;           /* 1: act(wi_0 x) * wi_1 x; 0: act(wi x) */
    enum t5_act act;     /* the feed-forward activation */
    float eps;           /* layer_norm_epsilon */
};

/* Parse `path`.  Returns 0, DF_E_NOTFOUND / DF_E_IO (file), DF_E_PARSE (not
 * JSON, key of the wrong type: the message names the key), DF_E_RANGE (a size
 * <= 0, fewer than 4 buckets, max_distance not above the exact buckets),
 * DF_E_UNSUPPORTED (model_type other than umt5/t5/mt5, a decoder config,
 * an activation we do not run). */
int t5_config_load(const char *path, struct t5_config *out, struct df_err *err);

/* transformers' bidirectional relative-position bucket of a key at distance
 * rel = key − query, computed in fp32 exactly as torch does (the log-spaced
 * buckets' floor decides the bucket at their edges).  num_buckets >= 4,
 * max_distance > num_buckets / 4 (t5_config_load checks both). */
int t5_relative_bucket(int rel, int num_buckets, int max_distance);

#endif /* DF_T5_CONFIG_H */
