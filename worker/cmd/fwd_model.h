/*
 * fwd_model.h -- one DiT of any supported family behind four calls, for the
 * tools that run a model on diffusers-named tensors (`forward`, `sample`).
 * The family comes from config.json's _class_name; latents are in the
 * family's own diffusers layout for one batch entry (Wan [C, F, H, W],
 * CogVideoX [F, C, H, W]).  (The render path has its own family interface;
 * this stays a thin adapter for the tools.)
 *
 *     struct fwd_model *m;
 *     if (fwd_model_load(be, "m/transformer", &m, &err) < 0) ...
 *     int64_t out[4];
 *     if (fwd_model_prepare(m, in_dims, text_len, text_dim, out, &err) < 0) ...
 *     if (fwd_model_forward(m, x, t, ofs, text, y, &err) < 0) ...
 *     fwd_model_free(m);
 */
#ifndef DF_FWD_MODEL_H
#define DF_FWD_MODEL_H

#include "err.h"
#include "kern.h"

#include <stdint.h>

struct fwd_model;

/* Load TRANSFORMER_DIR by its _class_name.  Returns 0, DF_E_UNSUPPORTED
 * (class not supported: message lists those that are), or the family's
 * loader errors. */
int fwd_model_load(kern_backend_t be, const char *dir, struct fwd_model **out,
                   struct df_err *err);

/* Free; accepts NULL. */
void fwd_model_free(struct fwd_model *m);

/* "WanTransformer3DModel", "CogVideoXTransformer3DModel". */
const char *fwd_model_class(const struct fwd_model *m);

/* Layout of hidden_states, e.g. "[B, F, C, H, W]". */
const char *fwd_model_layout(const struct fwd_model *m);

/* 1 when the model takes an `ofs` value (CogVideoX 1.5's ofs embedding). */
int fwd_model_has_ofs(const struct fwd_model *m);

/* Number of transformer blocks (for logs). */
int fwd_model_layers(const struct fwd_model *m);

/* Check one sample's latent dims `in` (family layout) and a text of
 * text_len x text_dim against the model, reserve buffers, and write the
 * output dims.  Returns 0 or DF_E_INVAL naming both sizes. */
int fwd_model_prepare(struct fwd_model *m, const int64_t in[4], int64_t text_len,
                      int64_t text_dim, int64_t out[4], struct df_err *err);

/* One forward of one sample (host buffers).  Returns 0 or the model's error. */
int fwd_model_forward(struct fwd_model *m, const float *x, float timestep, float ofs,
                      const float *text, float *out, struct df_err *err);

#endif /* DF_FWD_MODEL_H */
