/*
 * family_impl.h -- what a model family implements (family.h is what callers
 * use).  A family is one folder, worker/model/<family>/, with one file
 * <family>_family.c that fills a `struct family_ops` by name (every slot,
 * NULL ones too, so what it leaves out is visible), and one line in the
 * registry of family.c.  The front end checks the handle and supplies the
 * defaults for optional slots.
 */
#ifndef DF_FAMILY_IMPL_H
#define DF_FAMILY_IMPL_H

#include "family.h"

struct family_ops {
    const char *name;       /* registry name, = model_geom.family ("wan2.1") */
    const char *class_name; /* transformer/config.json _class_name */
    /* load <dir> (the transformer folder) into *model */
    int (*load)(kern_backend_t be, const char *transformer_dir, void **model, struct df_err *err);
    void (*free)(void *model);
    void (*info)(const void *model, struct family_info *out);
    /* tokens of the self-attention sequence (see family_tokens) */
    int64_t (*tokens)(const void *model, const struct family_shape *s, struct df_err *err);
    double (*flops)(const void *model, const struct family_shape *s);
    /* (optional) the block stack's share of flops (what a step-cache skip saves); NULL: all */
    double (*flops_blocks)(const void *model, const struct family_shape *s);
    int (*reserve)(void *model, const struct family_shape *max, struct df_err *err);
    void (*set_attn_hook)(void *model, const struct family_attn_hook *hook); /* NULL: default */
    int (*embed)(void *model, const struct family_shape *s, const float *latent, float t,
                 const float *text, struct df_err *err);
    int (*blocks)(void *model, struct df_err *err);
    int (*head)(void *model, float *out, struct df_err *err);
    float *(*hidden)(void *model, int64_t *rows);
    /* (optional) e [dim], e0 [6*dim] for step-cache planning; NULL: no step cache */
    int (*time_embed)(void *model, float t, float *e, float *e0, struct df_err *err);
    /* (optional) TeaCache polynomial for e: 1 and c, or 0 (see family_teacache_poly) */
    int (*teacache_poly)(const void *model, double c[5], const char **source);
};

/* The families (one `extern` per registry line of family.c). */
extern const struct family_ops wan_family_ops;
extern const struct family_ops cogvideox_family_ops;

#endif /* DF_FAMILY_IMPL_H */
