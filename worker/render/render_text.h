/*
 * render_text.h -- a shot's text conditioning: the [text_len, text_dim] rows
 * each guidance branch cross-attends to (internal to worker/render/).
 *
 * Per branch (positive; negative when guided), in this order:
 *  1. the manifest's prompt_embeds / negative_prompt_embeds file (text_embed.h);
 *  2. the model folder's tokenizer/ + text_encoder/: the prompt encoded as
 *     diffusers' WanPipeline does (t5_prompt.h; no negative prompt is "", as in
 *     WanPipeline), on rank 0 only, then shared with every rank; rank 0 keeps
 *     the rows in <ckpt_dir>/<shot>.text.safetensors keyed by the prompts and
 *     the encoder's and tokenizer's fingerprints, so a resumed or requeued
 *     shot does not encode again;
 *  3. only for the embedded demo model `tiny` without a text encoder:
 *     stand-in rows derived from the text's hash (text_embed_derive); the log
 *     (info) and the sidecar say so, and PromptTea then uses the manifest
 *     threshold.
 * Any other folder without an encoder is refused (ditfarm validate refuses it
 * first: lib/model_folder.h).
 */
#ifndef DF_RENDER_TEXT_H
#define DF_RENDER_TEXT_H

#include "err.h"

struct render;

/* Allocate and fill r->text_cond (and r->text_uncond when guided),
 * r->n_text_cond, r->text_source, r->text_standin, r->t_text.  Collective
 * when prompts are encoded (every rank calls it).  Returns 0 or a negative
 * code; the message names the shot and the file or folder. */
int render_text_setup(struct render *r, struct df_err *err);

#endif /* DF_RENDER_TEXT_H */
