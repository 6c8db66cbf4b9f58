/*
 * family.h -- a video DiT family (Wan, CogVideoX, ...) as the render loop and
 * the step cache see it: one opaque handle and a few calls, whatever the
 * family.  Which family a model folder is comes from its
 * transformer/config.json `_class_name`, looked up in the registry
 * (family.c: one line per family).
 *
 *     family_model_t *fm;
 *     if (family_load(be, "models/wan2.1-1.3b", &fm, &err) < 0) ...  // transformer/
 *     struct family_info fi;
 *     family_info(fm, &fi);                  // channels, width, heads, patch, layout
 *     struct family_shape sh = {.frames = 21, .height = 60, .width = 104, .text_len = 512,
 *                               .tok_begin = b, .tok_count = n};
 *     family_reserve(fm, &sh, &err);          // buffers for forwards up to sh
 *     family_set_attn_hook(fm, &hook);        // sequence parallelism (usp_attn.h)
 *     family_forward(fm, &sh, latent, t, text, out, &err);
 *     family_free(fm);
 *
 * A forward is embed -> blocks -> head, exposed one by one so a step cache
 * can replace the block stack with a stored residual (family_hidden is the
 * block stack's input and output).  Latent, text and out pointers are HOST
 * memory in the family's latent layout (family_info.layout); the hidden state
 * is a backend buffer.
 *
 * Adding a family is one folder and one registry line: see
 * docs/architecture.md ("Adding a model family") and family_impl.h.
 */
#ifndef DF_FAMILY_H
#define DF_FAMILY_H

#include "err.h"
#include "kern.h"

#include <stddef.h>
#include <stdint.h>

typedef struct family_model family_model_t;

/* How a family's latent is laid out in host memory (one video, no batch). */
enum family_layout {
    FAMILY_LAYOUT_CTHW, /* [C, T, H, W]: Wan */
    FAMILY_LAYOUT_TCHW, /* [T, C, H, W]: CogVideoX (frame-major) */
    FAMILY_LAYOUT_COUNT
};
/* "cthw", "tchw"; "?" out of range. */
const char *family_layout_name(enum family_layout l);

/* What a loaded model is, for sizing buffers and splitting tokens. */
struct family_info {
    const char *name;        /* registry name: "wan2.1" (= model_geom.family) */
    const char *class_name;  /* "WanTransformer3DModel" */
    enum family_layout layout;
    int in_channels, out_channels; /* latent channels in/out */
    int dim;                 /* width of the hidden state (step-cache residual rows) */
    int num_heads, head_dim; /* self-attention (Ulysses splits heads) */
    int text_dim;            /* rows of `text` are this wide */
    int patch[3];            /* (t, h, w) */
    int text_in_sequence;    /* 1: text tokens lead the self-attention sequence (joint
                                attention, CogVideoX); token ranges then count them */
    int has_time_embed;      /* 1: family_time_embed works (step-cache planning) */
    int time_embed_dim;      /* width of family_time_embed's e (Wan: dim; CogVideoX: te) */
    int time_mod_dim;        /* width of its e0 (Wan: 6*dim); 0: the family has only e */
    int text_rows_whole;     /* how the pipeline makes its T5 prompt rows: 1 = the raw text,
                                no mask, every row kept, padding too (CogVideoXPipeline);
                                0 = cleaned, masked, cut to length (WanPipeline) */
};

/* One forward's geometry: latent size, text length and the range of the
 * family's token sequence this call computes (tok_count 0 = all). */
struct family_shape {
    int frames, height, width; /* latent T, H, W */
    int text_len;              /* rows of `text` */
    int64_t tok_begin, tok_count;
    float ofs;                 /* families with an ofs embedding (CogVideoX 1.5); else unused */
};

/* Self-attention of one block over the whole sequence: q, k, v are this
 * rank's tokens [s_local, heads, head_dim] (backend buffers, positions
 * applied); write o [s_local, heads, head_dim] over ALL ranks' keys.  The
 * same contract for every family (usp_attn.h implements it). */
struct family_attn_hook {
    int (*attend)(void *ctx, kern_backend_t be, int layer, const float *q, const float *k,
                  const float *v, float *o, int64_t s_local, int heads, int head_dim,
                  struct df_err *err);
    void *ctx;
};

/* ---- the registry -------------------------------------------------------- */

/* Number of registered families, and the i-th one's names (tests, messages). */
int family_count(void);
const char *family_name_at(int i);
const char *family_class_at(int i);

/* The registry name of the family whose transformer class is class_name,
 * or NULL. */
const char *family_for_class(const char *class_name);

/* ---- one model ------------------------------------------------------------ */

/* Load <model_dir>/transformer with the family its config.json names.
 * Returns 0 and *out (family_free), DF_E_UNSUPPORTED naming the known
 * classes, or the family loader's error. */
int family_load(kern_backend_t be, const char *model_dir, family_model_t **out,
                struct df_err *err);

/* Wrap a model a family built some other way (tests, synthetic weights):
 * `name` is the registry name, `model` its own handle, owned by *out from
 * now on (on failure the caller still owns it). */
int family_adopt(const char *name, void *model, family_model_t **out, struct df_err *err);

void family_free(family_model_t *fm);
void family_info(const family_model_t *fm, struct family_info *out);
/* The family's own handle (struct wan_model *, ...), for family-specific tools. */
void *family_handle(family_model_t *fm);

/* Tokens of the self-attention sequence for this latent/text size (video
 * tokens, plus the text when text_in_sequence): what sequence-parallel ranks
 * split.  < 0 with err set when the size is not legal for the model. */
int64_t family_tokens(const family_model_t *fm, const struct family_shape *s, struct df_err *err);
/* FLOPs of one forward of s (one guidance branch). */
double family_flops(const family_model_t *fm, const struct family_shape *s);
/* The part of family_flops spent in the block stack (what a step-cache skip
 * saves); family_flops when the family does not say. */
double family_flops_blocks(const family_model_t *fm, const struct family_shape *s);

/* Buffers for forwards up to `max` (set-up, before step 1: a model that
 * cannot take the shot fails here).  Returns 0, DF_E_INVAL, DF_E_NOMEM. */
int family_reserve(family_model_t *fm, const struct family_shape *max, struct df_err *err);
/* NULL restores the local attention (right only for a whole-sequence call). */
void family_set_attn_hook(family_model_t *fm, const struct family_attn_hook *hook);

/* The forward, whole or in three steps (see above). */
int family_embed(family_model_t *fm, const struct family_shape *s, const float *latent, float t,
                 const float *text, struct df_err *err);
int family_blocks(family_model_t *fm, struct df_err *err);
int family_head(family_model_t *fm, float *out, struct df_err *err);
int family_forward(family_model_t *fm, const struct family_shape *s, const float *latent,
                   float t, const float *text, float *out, struct df_err *err);
/* The hidden state between embed and head: a backend buffer [*rows, dim]. */
float *family_hidden(family_model_t *fm, int64_t *rows);

/* The time embedding a step cache plans with, for timestep t, host:
 * e [info.time_embed_dim] and, where the family has one, e0
 * [info.time_mod_dim] (the modulation; e0 is not written when
 * time_mod_dim is 0).  Wan: e and e0 = time_projection(e); CogVideoX:
 * e = emb (time embedding + ofs embedding), what every CogVideoXLayerNormZero
 * is modulated by.  DF_E_UNSUPPORTED when the family has none
 * (info.has_time_embed = 0). */
int family_time_embed(family_model_t *fm, float t, float *e, float *e0, struct df_err *err);

/* The family's own TeaCache rescale polynomial for e (numpy poly1d order,
 * c[0]·x⁴ + ... + c[4]), chosen from the loaded model's config as the
 * TeaCache reference chooses it; *source names where the numbers come from.
 * Returns 1 and fills c, or 0 when the family publishes none (then the
 * model's calibration file must hold it). */
int family_teacache_poly(const family_model_t *fm, double c[5], const char **source);

#endif /* DF_FAMILY_H */
