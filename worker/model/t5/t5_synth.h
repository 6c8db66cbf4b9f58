/*
 * t5_synth.h -- a tiny synthetic tokenizer/ and text_encoder/ for the demo
 * model (ditfarm-worker make-tiny), deterministic for a seed.
 */
#ifndef DF_T5_SYNTH_H
#define DF_T5_SYNTH_H

#include "err.h"

#include <stdint.h>

/* Write <model_dir>/tokenizer/{tokenizer.json, tokenizer_config.json} (a
 * small SentencePiece unigram vocabulary: letters, digits, punctuation and a
 * few dozen words) and <model_dir>/text_encoder/{config.json,
 * model.safetensors} (a 2-block umT5 of width d_model, 4 heads, F32).
 * Returns 0, DF_E_INVAL (d_model not a positive multiple of 4), DF_E_IO,
 * DF_E_NOMEM. */
int t5_synth_write(const char *model_dir, int d_model, uint64_t seed, struct df_err *err);
/* The same with v11 = 1: a T5 v1.1 encoder (T5EncoderModel, model_type t5:
 * the relative bias in the first block only, shared), CogVideoX's kind. */
int t5_synth_write_kind(const char *model_dir, int d_model, int v11, uint64_t seed,
                        struct df_err *err);

#endif /* DF_T5_SYNTH_H */
