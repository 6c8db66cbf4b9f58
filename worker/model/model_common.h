/*
 * model_common.h -- the pieces every DiT family's model code needs the same
 * way (wan/, cogvideox/, ...): the default attention hook, reserving a table
 * of activation buffers, checking a forward's token range, and reading one
 * tensor into a growing host scratch before it goes to the backend.  A family
 * keeps its own state structs and forward; only these mechanics live here.
 */
#ifndef DF_MODEL_COMMON_H
#define DF_MODEL_COMMON_H

#include "err.h"
#include "kern.h"

#include <stddef.h>
#include <stdint.h>

/* Self-attention over this call's own s tokens (one rank, no sequence
 * parallelism): the hook a family installs when none is set.  The signature
 * is family_attn_hook.attend's. */
int model_attend_local(void *ctx, kern_backend_t be, int layer, const float *q, const float *k,
                       const float *v, float *o, int64_t s, int heads, int head_dim,
                       struct df_err *err);

/* One buffer to reserve: *p gets n floats. */
struct model_buf {
    float **p;
    size_t n;
};

/* Allocate dev[] on the backend and host[] with malloc, in order, stopping
 * at the first failure.  Returns 0, or the backend's code / DF_E_NOMEM; on
 * failure the ones already made stay set (the caller's free releases them). */
int model_bufs_alloc(kern_backend_t be, const struct model_buf *dev, size_t n_dev,
                     const struct model_buf *host, size_t n_host, struct df_err *err);

/* Resolve a forward's token range against a sequence of S tokens: *count 0
 * means all of them (then *begin must be 0).  The range must lie inside the
 * sequence, be non-empty and hold at most max_count tokens; `seq` names the
 * sequence in messages ("sequence", "joint sequence").  Returns 0 or
 * DF_E_INVAL. */
int model_token_range(int64_t S, int64_t *begin, int64_t *count, int64_t max_count,
                      const char *seq, struct df_err *err);

/* Where a family's weights come from: read tensor `name` of this shape as
 * float32 into dst (the family's *_tensor_source has the same two fields). */
typedef int (*model_read_fn)(void *ctx, const char *name, int ndim, const int64_t *shape,
                             float *dst, struct df_err *err);

/* A host buffer that grows to the largest tensor read through it. */
struct model_scratch {
    float *p;
    size_t cap;
};

/* Read tensor `name` [shape] into s (grown as needed; at most 2^36 values)
 * through read(ctx, ...); *n gets its number of values.  Returns 0,
 * DF_E_RANGE, DF_E_NOMEM or the reader's error. */
int model_scratch_read(struct model_scratch *s, model_read_fn read, void *ctx, const char *name,
                       int ndim, const int64_t *shape, size_t *n, struct df_err *err);

/* *dst = a new backend buffer holding the n floats of src.  Returns 0 or the
 * backend's code (DF_E_NOMEM when it set none). */
int model_vec_upload(kern_backend_t be, float **dst, const float *src, size_t n,
                     struct df_err *err);

#endif /* DF_MODEL_COMMON_H */
