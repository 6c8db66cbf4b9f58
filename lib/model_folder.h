/*
 * model_folder.h -- a diffusers model folder read whole, beyond the
 * transformer's geometry (model_geom.h): the text encoder, the tokenizer, the
 * VAE's latent channels and the scheduler the model was published with.
 *
 *   model_index.json            the pipeline's parts (optional)
 *   transformer/config.json     in/out channels, text_dim (model_geom.h)
 *   vae/config.json             z_dim (Wan) or latent_channels (CogVideoX)
 *   text_encoder/config.json    d_model (umT5 / T5)
 *   tokenizer/                  tokenizer.json or spiece.model
 *   scheduler/scheduler_config.json   class, flow shift, solver order/type,
 *                               timestep spacing: the model's sampler defaults
 *
 * `ditfarm validate` refuses parts that do not fit together, naming both
 * numbers (a VAE whose z_dim differs from the transformer's in_channels
 * decodes garbage; an encoder whose d_model differs from text_dim cannot
 * condition it; in != out channels is not text-to-video), and a text prompt
 * on a folder with no text encoder.  The scheduler gives the shot's sampler
 * and flow_shift when the manifest does not set them.
 */
#ifndef DF_MODEL_FOLDER_H
#define DF_MODEL_FOLDER_H

#include "err.h"
#include "model_geom.h"

struct model_folder_sched {
    char class_name[64];     /* "UniPCMultistepScheduler", "" when no scheduler/ */
    const char *sampler;     /* "unipc", "euler", "cogvideox_ddim", "cogvideox_dpm" for the
                                classes ditfarm runs (manifest names), else NULL */
    int has_flow_shift;      /* 1 when the config sets it */
    double flow_shift;       /* flow_shift (UniPC) or shift (FlowMatchEuler) */
    int solver_order;        /* 0 when not set */
    char solver_type[16];    /* "bh2", "" when not set */
    char timestep_spacing[24]; /* "linspace", ... "" when not set */
    char final_sigmas_type[16]; /* "zero", "sigma_min", "" when not set */
    int lower_order_final;   /* 0/1, -1 when not set */
};

struct model_folder {
    int has_index;           /* model_index.json present */
    int has_tokenizer;       /* tokenizer/tokenizer.json or tokenizer/spiece.model */
    int has_text_encoder;    /* text_encoder/config.json */
    int text_d_model;        /* its d_model, 0 without */
    int vae_z_dim;           /* 0 without vae/config.json */
    struct model_folder_sched sched;
};

/* Read what the folder has; missing parts are zero, not errors.  Returns 0,
 * or DF_E_PARSE / DF_E_RANGE naming the file and key of a part that exists
 * but is malformed. */
int model_folder_read(const char *dir, struct model_folder *out, struct df_err *err);

/* The parts fit the transformer geometry g: DF_E_INVAL with both numbers
 * ("vae/config.json z_dim 4 != transformer in_channels 16"). */
int model_folder_check_fit(const char *dir, const struct model_folder *f,
                           const struct model_geom *g, struct df_err *err);

/* 1 when a shot's `model:` names the embedded demo model (configs/models/
 * tiny.yaml, by name): the only model whose prompts may get stand-in
 * embeddings when it has no text encoder. */
int model_folder_is_demo(const char *model);

#endif /* DF_MODEL_FOLDER_H */
