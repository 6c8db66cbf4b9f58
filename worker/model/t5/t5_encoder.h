/*
 * t5_encoder.h -- a T5-family text encoder (umT5 for Wan, T5 v1.1 for
 * CogVideoX) on the kernels' op table, producing what diffusers'
 * `_get_t5_prompt_embeds` produces: the encoder's last hidden state cut to
 * each prompt's real length and zero-padded back to max_len rows.
 *
 * Weights stay in the mmapped safetensors files (F32, F16 or BF16): a
 * matrix becomes a backend weight only while its matmul runs (converted to
 * fp32 just before, freed right after), so the resident set is the mapped
 * file plus one matrix plus activations -- never an fp32 copy of the model.
 * Small models (the whole fp32 encoder under `resident_max_bytes`) keep
 * their backend weights between calls instead.
 *
 * Padding: transformers adds a large negative to padded keys; a prompt's
 * real rows then see only its real keys, and the pipeline discards the padded
 * rows.  So each prompt runs on its real tokens only -- the same numbers,
 * without the work on padding.
 *
 *     t5_encoder_t enc;
 *     if (t5_encoder_open("model/text_encoder", be, NULL, &enc, &err) < 0) ...
 *     int d = t5_encoder_config(enc)->d_model;
 *     // ids [n, 512] from tokenizer_encode(), lens[i] = its info.n_real
 *     if (t5_encoder_encode(enc, ids, lens, n, 512, out, &err) < 0) ...  // out [n, 512, d]
 *     t5_encoder_free(enc);
 */
#ifndef DF_T5_ENCODER_H
#define DF_T5_ENCODER_H

#include "err.h"
#include "kern.h"
#include "t5_config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct t5_encoder *t5_encoder_t;

struct t5_encoder_opts {
    size_t resident_max_bytes; /* keep backend weights when all fit (default 256 MiB) */
    int batch_rows;            /* tokens per forward batch, prompts whole (default 4096) */
};

/* Open the encoder in folder `dir` (config.json + model.safetensors or
 * model.safetensors.index.json shards), check every tensor's name, dtype and
 * shape against the config, and prepare it for backend `be` (which must
 * outlive the encoder).  opts may be NULL.  Returns 0, or the codes of
 * t5_config_load() and safetensors_open_model() (DF_E_NOTFOUND: no
 * config.json / no weights), DF_E_INVAL (a tensor missing or misshapen: the
 * message names file, tensor, both shapes), DF_E_UNSUPPORTED (a dtype other
 * than F32/F16/BF16), DF_E_NOMEM. */
int t5_encoder_open(const char *dir, kern_backend_t be, const struct t5_encoder_opts *opts,
                    t5_encoder_t *out, struct df_err *err);

/* The config the encoder was opened with. */
const struct t5_config *t5_encoder_config(t5_encoder_t enc);

/* Encode n prompts: ids [n, max_len] (row i's first lens[i] entries are its
 * tokens, </s> included; the rest is padding and not read), out
 * [n, max_len, d_model] host fp32: row i's first lens[i] rows are the last
 * hidden state, the rest zeros.  lens[i] may be 0 (all zeros, as the pipeline
 * gives an all-padding row).  Returns 0, DF_E_INVAL (a len outside
 * [0, max_len], an id outside [0, vocab): the message names the prompt,
 * counted from 1, and the token index), DF_E_NOMEM, or an op's code. */
int t5_encoder_encode(t5_encoder_t enc, const int64_t *ids, const int *lens, int n, int max_len,
                      float *out, struct df_err *err);

/* Free.  Accepts NULL. */
void t5_encoder_free(t5_encoder_t enc);

#endif /* DF_T5_ENCODER_H */
