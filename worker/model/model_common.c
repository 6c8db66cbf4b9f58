/* model_common.c -- mechanics shared by the DiT families (see model_common.h). */
#include "model_common.h"

#include "ckd.h"

#include <math.h>
#include <stdlib.h>

int model_attend_local(void *ctx, kern_backend_t be, int layer, const float *q, const float *k,
                       const float *v, float *o, int64_t s, int heads, int head_dim,
                       struct df_err *err)
{
    (void)ctx, (void)layer;
    return kern_attention(be, q, k, v, o, NULL, (int)s, (int)s, heads, head_dim, (int)s,
                          1.0f / sqrtf((float)head_dim), err);
}

int model_bufs_alloc(kern_backend_t be, const struct model_buf *dev, size_t n_dev,
                     const struct model_buf *host, size_t n_host, struct df_err *err)
{
    for (size_t i = 0; i < n_dev; i++) {
        *dev[i].p = kern_alloc(be, dev[i].n, err);
        if (!*dev[i].p)
            return err && err->code ? err->code : DF_E_NOMEM;
    }
    for (size_t i = 0; i < n_host; i++) {
        *host[i].p = malloc(host[i].n * sizeof(float));
        if (!*host[i].p)
            return df_err_set(err, DF_E_NOMEM, "out of memory reserving %zu floats", host[i].n);
    }
    return 0;
}

int model_token_range(int64_t S, int64_t *begin, int64_t *count, int64_t max_count,
                      const char *seq, struct df_err *err)
{
    if (*count == 0) {
        DF_FAIL_IF(*begin != 0, err, DF_E_INVAL,
                   "token range: tok_count 0 means all tokens, but tok_begin is %lld",
                   (long long)*begin);
        *count = S;
    }
    DF_FAIL_IF(*begin < 0 || *count <= 0 || *begin + *count > S, err, DF_E_INVAL,
               "token range [%lld, %lld) outside the %s of %lld tokens", (long long)*begin,
               (long long)(*begin + *count), seq, (long long)S);
    DF_FAIL_IF(*count > max_count, err, DF_E_INVAL, "%lld tokens in one call",
               (long long)*count);
    return 0;
}

int model_scratch_read(struct model_scratch *s, model_read_fn read, void *ctx, const char *name,
                       int ndim, const int64_t *shape, size_t *n, struct df_err *err)
{
    /* The config bounds every width and the weight check matched each shape
     * against the file; the bound stays for other sources. */
    int64_t numel;
    DF_FAIL_IF(ckd_prod_i64(&numel, shape, ndim, (int64_t)1 << 36), err, DF_E_RANGE,
               "tensor '%s' is larger than 2^36 values", name);
    *n = (size_t)numel;
    if (*n > s->cap) {
        float *p = realloc(s->p, *n * sizeof *p);
        if (!p)
            return df_err_set(err, DF_E_NOMEM, "out of memory reading '%s' (%zu floats)", name,
                              *n);
        s->p = p;
        s->cap = *n;
    }
    return read(ctx, name, ndim, shape, s->p, err);
}

int model_vec_upload(kern_backend_t be, float **dst, const float *src, size_t n,
                     struct df_err *err)
{
    *dst = kern_alloc(be, n, err);
    if (!*dst)
        return err && err->code ? err->code : DF_E_NOMEM;
    return kern_upload(be, *dst, src, n, err);
}
