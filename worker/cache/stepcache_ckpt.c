/*
 * stepcache_ckpt.c -- the step cache's part of a checkpoint (stepcache.h):
 * the planned mask as bytes and the residuals the next step reads, as
 * global [tokens, dim] tensors.  The accumulators need no section: the mask
 * already holds every decision they would make.
 */
#include "stepcache.h"

#include "ckpt.h"

#include <stdlib.h>
#include <string.h>

static const char *residual_name(enum stepcache_branch b)
{
    return b == STEPCACHE_BRANCH_COND ? STEPCACHE_CKPT_RESIDUAL_COND
                                      : STEPCACHE_CKPT_RESIDUAL_UNCOND;
}

int stepcache_ckpt_put_mask(struct ckpt_writer *w, const struct stepcache_mask *m,
                            struct df_err *err)
{
    const size_t n = stepcache_mask_size(m);
    uint8_t *buf = malloc(n);
    DF_FAIL_IF(!buf, err, DF_E_NOMEM, "out of memory");
    int rc = stepcache_mask_save(m, buf, n, NULL, err);
    if (rc == 0)
        rc = ckpt_writer_put_bytes(w, STEPCACHE_CKPT_MASK, buf, n, err);
    free(buf);
    return rc;
}

int stepcache_ckpt_get_mask(const struct ckpt_reader *r, struct stepcache_mask *out,
                            struct df_err *err)
{
    memset(out, 0, sizeof *out);
    const struct ckpt_section *s = ckpt_section_find(r, STEPCACHE_CKPT_MASK, err);
    if (!s)
        return DF_E_NOTFOUND;
    const size_t cap = (size_t)s->raw_size;
    DF_FAIL_IF(cap > 64 + (size_t)STEPCACHE_MAX_STEPS * 2, err, DF_E_CORRUPT,
               "section '%s' of %zu bytes is too large", STEPCACHE_CKPT_MASK, cap);
    uint8_t *buf = malloc(cap ? cap : 1);
    DF_FAIL_IF(!buf, err, DF_E_NOMEM, "out of memory");
    size_t len = 0;
    int rc = ckpt_get_bytes(r, STEPCACHE_CKPT_MASK, buf, cap, &len, err);
    if (rc == 0)
        rc = stepcache_mask_load(buf, len, out, err);
    free(buf);
    return rc;
}

int stepcache_ckpt_put_residual(struct ckpt_writer *w, enum stepcache_branch b, const float *global,
                                int64_t tokens, int dim, struct df_err *err)
{
    const int64_t ext[2] = {tokens, dim};
    return ckpt_writer_put_tensor(w, residual_name(b), global, ext, 2, err);
}

int stepcache_ckpt_get_residual(const struct ckpt_reader *r, enum stepcache_branch b, float *global,
                                int64_t tokens, int dim, struct df_err *err)
{
    const int64_t ext[2] = {tokens, dim};
    return ckpt_get_tensor(r, residual_name(b), global, ext, 2, err);
}
