/*
 * t5_prompt.h -- diffusers' WanPipeline._get_t5_prompt_embeds in C: text to
 * the [max_len, d_model] rows the DiT cross-attends to.
 *
 *   prompt_clean (ftfy-style repairs, html.unescape twice, whitespace)
 *   -> tokenizer(padding="max_length", max_length, truncation=True)
 *   -> text_encoder(ids, mask).last_hidden_state
 *   -> each row cut to its real length and zero-padded back to max_len
 *
 * The tokenizer and the encoder come from a diffusers model folder
 * (`tokenizer/`, `text_encoder/`).  A prompt longer than max_len tokens is
 * cut (keeping </s>), as the pipeline does; t5_prompt_tokenize reports it in
 * the info so the caller can warn.
 *
 *     struct t5_prompt *tp;
 *     if (t5_prompt_open("models/wan", be, &tp, &err) < 0) ...
 *     if (t5_prompt_tokenize(tp, texts, n, 512, ids, mask, lens, infos, &err) < 0) ...
 *     if (t5_prompt_encode(tp, ids, lens, n, 512, embeds, &err) < 0) ...  // [n, 512, d]
 *     t5_prompt_close(tp);
 */
#ifndef DF_T5_PROMPT_H
#define DF_T5_PROMPT_H

#include "err.h"
#include "kern.h"
#include "t5_encoder.h"
#include "tokenizer.h"

#include <stdint.h>

/* How a diffusers pipeline feeds its T5: they differ. */
enum t5_prompt_style {
    T5_PROMPT_STYLE_WAN,       /* prompt_clean; the mask; rows cut to the real length, zeros after */
    T5_PROMPT_STYLE_COGVIDEOX, /* raw text; no mask: every max_len row, padding included, is
                                  encoded and kept (CogVideoXPipeline passes input_ids only) */
    T5_PROMPT_STYLE_COUNT
};

struct t5_prompt {
    enum t5_prompt_style style; /* T5_PROMPT_STYLE_WAN unless set after open */
    struct tokenizer *tok; /* from <model>/tokenizer */
    t5_encoder_t enc;      /* from <model>/text_encoder; NULL until t5_prompt_encode needs it */
    kern_backend_t be;     /* not owned */
    char dir[4096];        /* the model folder */
};

/* Load `model_dir`/tokenizer now; the encoder is opened by the first
 * t5_prompt_encode() (tokens-only callers never map it).  Returns 0 or
 * tokenizer_load()'s codes (message names the folder).  Close with
 * t5_prompt_close(). */
int t5_prompt_open(const char *model_dir, kern_backend_t be, struct t5_prompt **out,
                   struct df_err *err);
void t5_prompt_close(struct t5_prompt *tp);

/* Clean (WAN style) and tokenize n prompts (UTF-8, NUL-terminated) into ids
 * and mask [n, max_len]; lens[i] = the rows the encoder attends to and keeps:
 * the real tokens (WAN style) or max_len (COGVIDEOX style, whose mask is then
 * all ones: what the encoder sees without one); infos[i] (may be NULL) says
 * how many are real and whether it was truncated.  Returns 0, DF_E_INVAL (invalid UTF-8: "prompt
 * i: ... byte offset k"), DF_E_RANGE (max_len too small). */
int t5_prompt_tokenize(const struct t5_prompt *tp, const char *const *texts, int n, int max_len,
                       int64_t *ids, int64_t *mask, int *lens, struct tokenizer_info *infos,
                       struct df_err *err);

/* Encode tokenized rows into out [n, max_len, d_model] (t5_encoder_encode).
 * Opens the encoder on first use: t5_encoder_open()'s codes, message naming
 * `<model>/text_encoder`. */
int t5_prompt_encode(struct t5_prompt *tp, const int64_t *ids, const int *lens, int n,
                     int max_len, float *out, struct df_err *err);

/* The encoder's config (opening it if needed), or NULL with err set. */
const struct t5_config *t5_prompt_config(struct t5_prompt *tp, struct df_err *err);

/* One prompt, start to finish, on a CPU backend of its own: out [max_len,
 * text_dim] gets its rows (zero past *n_rows).  Returns 0, DF_E_NOTFOUND
 * (the folder has no tokenizer/ or text_encoder/), DF_E_INVAL (d_model !=
 * text_dim), or the codes above. */
int t5_prompt_embed_one(const char *model_dir, enum t5_prompt_style style, const char *text,
                        int max_len, int text_dim, float *out, int *n_rows, struct df_err *err);

#endif /* DF_T5_PROMPT_H */
