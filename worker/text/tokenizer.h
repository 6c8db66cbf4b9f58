/*
 * tokenizer.h -- turn a prompt into the token ids a T5/umT5 text encoder reads.
 *
 * This is the tokenizer WanPipeline runs (AutoTokenizer on the model folder's
 * `tokenizer/`): a SentencePiece unigram model as the HuggingFace `tokenizers`
 * library loads it from `tokenizer.json` -- added (special) tokens matched in
 * the raw text first, then the normalizer (the precompiled SentencePiece
 * charsmap, Replace, Strip, ...), the Metaspace pre-tokenizer, Viterbi over the
 * unigram lattice, byte fallback or <unk>, the `$A </s>` template, truncation
 * that keeps `</s>`, padding and the attention mask.  When a folder has only
 * `spiece.model`, it is converted the way transformers converts it (T5
 * converter, `extra_ids` sentinels).  docs/text.md says where this (the fast
 * tokenizer) and the `sentencepiece` library differ; we follow the fast one.
 *
 *     struct tokenizer *tok;
 *     if (tokenizer_load("model/tokenizer", &tok, &err) < 0) ...
 *     char *clean; size_t clean_len;
 *     if (prompt_clean(text, strlen(text), &clean, &clean_len, &err) < 0) ...
 *     int64_t ids[512], mask[512];
 *     struct tokenizer_info info;
 *     if (tokenizer_encode(tok, clean, clean_len, 512, ids, mask, &info, &err) < 0) ...
 *     if (info.truncated) log a warning: info.n_total tokens, kept info.n_real
 *     free(clean);
 *     tokenizer_free(tok);
 *
 * A loaded tokenizer is read-only: several threads may encode with it at once.
 */
#ifndef DF_TOKENIZER_H
#define DF_TOKENIZER_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

/* WanPipeline's max_sequence_length (and T5's usual padding length). */
#define TOKENIZER_MAX_LEN 512

struct tokenizer;

/* What one tokenizer_encode() call produced. */
struct tokenizer_info {
    size_t n_real;  /* tokens written before the padding (mask 1), </s> included */
    size_t n_total; /* tokens the prompt has without truncation, </s> included */
    int truncated;  /* 1 when n_total > max_len (callers warn, as the pipeline does) */
};

/* The files a tokenizer can be read from (tokenizer_load_buffer). */
enum tokenizer_format {
    TOKENIZER_FORMAT_JSON,  /* HuggingFace tokenizers `tokenizer.json` */
    TOKENIZER_FORMAT_SPM,   /* SentencePiece `spiece.model` (protobuf) */
    TOKENIZER_FORMAT_COUNT
};

/* ---- lifetime ------------------------------------------------------------ */

/* Load the tokenizer of a model folder's `tokenizer/` directory `dir`:
 * `tokenizer.json` when present, else `spiece.model` (with
 * `tokenizer_config.json`'s extra_ids / pad_token when present).
 * Returns 0, or DF_E_NOTFOUND (neither file), DF_E_IO, DF_E_PARSE (bad JSON,
 * base64, protobuf), DF_E_CORRUPT (bad charsmap), DF_E_UNSUPPORTED (model
 * type other than Unigram, a normalizer or pre-tokenizer we do not run);
 * err names the file and the key.  *out is set only on success. */
int tokenizer_load(const char *dir, struct tokenizer **out, struct df_err *err);

/* Same from bytes already in memory; `name` is used in error messages.
 * For TOKENIZER_FORMAT_SPM, extra_ids sentinels are appended as the T5
 * converter does (`extra_ids` < 0 means the default, 100). */
int tokenizer_load_buffer(enum tokenizer_format fmt, const void *data, size_t len,
                          const char *name, int extra_ids, struct tokenizer **out,
                          struct df_err *err);

/* NULL is fine. */
void tokenizer_free(struct tokenizer *tok);

/* ---- encoding ------------------------------------------------------------ */

/* Encode `len` bytes of UTF-8 as the pipeline's
 * tokenizer(text, padding="max_length", max_length=max_len, truncation=True,
 *           add_special_tokens=True, return_attention_mask=True):
 * ids_out[max_len] gets the ids (cut to max_len keeping the final </s>,
 * then padded with the pad id), mask_out[max_len] 1 for real tokens and 0 for
 * padding (mask_out may be NULL).  info (may be NULL) says how many are real and
 * whether the prompt was truncated.  Invalid UTF-8 is DF_E_INVAL naming the
 * byte offset; max_len smaller than the special tokens is DF_E_RANGE. */
int tokenizer_encode(const struct tokenizer *tok, const char *utf8, size_t len, size_t max_len,
                     int64_t *ids_out, int64_t *mask_out, struct tokenizer_info *info,
                     struct df_err *err);

/* The whole id sequence, special tokens added, no truncation nor padding.
 * *ids_out is malloc'd (caller frees), *n_out its length. */
int tokenizer_encode_all(const struct tokenizer *tok, const char *utf8, size_t len,
                         int64_t **ids_out, size_t *n_out, struct df_err *err);

/* ---- vocabulary ---------------------------------------------------------- */

/* Pieces in the vocabulary (model pieces and added tokens; ids are < this). */
size_t tokenizer_vocab_size(const struct tokenizer *tok);
/* The padding id (tokenizer.json padding, tokenizer_config.json pad_token, or
 * the `<pad>` token), and the id the template appends (`</s>`; -1 when none). */
int64_t tokenizer_pad_id(const struct tokenizer *tok);
int64_t tokenizer_eos_id(const struct tokenizer *tok);
/* The piece text of an id (owned by tok), NULL when out of range. */
const char *tokenizer_piece(const struct tokenizer *tok, int64_t id);

/* ---- WanPipeline's prompt_clean ------------------------------------------ */

/* diffusers pipeline_wan.py prompt_clean(): ftfy.fix_text (the repairs listed
 * in docs/text.md), html.unescape twice, then re.sub(r"\s+", " ", t).strip()
 * with Python's Unicode \s.  *out is malloc'd and NUL-terminated (caller frees),
 * *out_len its length without the NUL (out_len may be NULL).  Invalid UTF-8 is
 * DF_E_INVAL naming the byte offset. */
int prompt_clean(const char *utf8, size_t len, char **out, size_t *out_len, struct df_err *err);

#endif /* DF_TOKENIZER_H */
