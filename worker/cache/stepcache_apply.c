/*
 * stepcache_apply.c -- one rank applies the planned mask on its token shard
 * (stepcache.h).
 *
 * Each branch b keeps R_b [rows, dim] in backend memory, for this rank's
 * tokens only (the token split is the same every step, so no rank ever needs
 * another's residual).  Per pass:
 *   computed:    R_b = -x_in; blocks; R_b += x_out   (cheap elementwise ops)
 *   skipped:     x_out = x_in + R_b
 *   reused cond: x_out = x_in + R_cond; R_uncond := R_cond (a copy: the cond
 *                branch may recompute R_cond before uncond computes again, and
 *                uncond must keep the old one, as the reference's tensor
 *                reference does)
 * The head always runs with this step's own embedding.
 */
#include "stepcache.h"

#include <stdlib.h>
#include <string.h>

#define STEPCACHE_MAGIC 0x53544341u /* "STCA" */

struct stepcache {
    uint32_t magic;
    struct stepcache_mask mask; /* copy */
    kern_backend_t be;
    int64_t rows; /* local tokens */
    int dim;
    float *res[STEPCACHE_BRANCH_COUNT]; /* b: [rows, dim], NULL when unused */
    int valid[STEPCACHE_BRANCH_COUNT];  /* res holds a residual */
    struct stepcache_counts counts;
    int cond_step; /* last step whose cond pass ran (-1: none): a reuse needs this step's */
};

int stepcache_create(const struct stepcache_mask *mask, kern_backend_t be, int64_t rows, int dim,
                     stepcache_t **out, struct df_err *err)
{
    *out = NULL;
    DF_FAIL_IF(rows < 0 || dim <= 0, err, DF_E_INVAL, "step cache: %lld rows of %d",
               (long long)rows, dim);
    stepcache_t *sc = calloc(1, sizeof *sc);
    DF_FAIL_IF(!sc, err, DF_E_NOMEM, "out of memory for the step cache");
    sc->magic = STEPCACHE_MAGIC;
    sc->be = be;
    sc->rows = rows;
    sc->dim = dim;
    sc->cond_step = -1;
    int rc = stepcache_mask_copy(mask, &sc->mask, err);
    const int branches = mask->guided ? 2 : 1;
    for (int b = 0; rc == 0 && mask->policy != CACHE_POLICY_OFF && b < branches; b++) {
        sc->res[b] = kern_alloc(be, (size_t)(rows ? rows : 1) * (size_t)dim, err);
        if (!sc->res[b])
            rc = err && err->code ? err->code : DF_E_NOMEM;
    }
    if (rc < 0) {
        df_err_prefix(err, "step cache for %lld tokens", (long long)rows);
        stepcache_free(sc);
        return rc;
    }
    *out = sc;
    return 0;
}

void stepcache_free(stepcache_t *sc)
{
    if (!sc)
        return;
    for (int b = 0; b < STEPCACHE_BRANCH_COUNT; b++)
        kern_release(sc->be, sc->res[b]);
    stepcache_mask_free(&sc->mask);
    free(sc);
}

const struct stepcache_mask *stepcache_get_mask(const stepcache_t *sc)
{
    return &sc->mask;
}

void stepcache_get_extent(const stepcache_t *sc, int64_t *rows, int *dim)
{
    *rows = sc->rows;
    *dim = sc->dim;
}

void stepcache_get_counts(const stepcache_t *sc, struct stepcache_counts *out)
{
    *out = sc->counts;
}

int stepcache_residual_valid(const stepcache_t *sc, enum stepcache_branch b)
{
    return (unsigned)b < STEPCACHE_BRANCH_COUNT && sc->res[b] && sc->valid[b];
}

static int residual_pass(stepcache_t *sc, family_model_t *m, enum stepcache_action a,
                         enum stepcache_branch b, int step, struct df_err *err)
{
    int64_t rows = 0;
    float *x = family_hidden(m, &rows); /* [s, d] backend */
    const size_t n = (size_t)rows * (size_t)sc->dim;
    struct family_info fi;
    family_info(m, &fi);
    DF_FAIL_IF(rows != sc->rows || fi.dim != sc->dim, err, DF_E_INVAL,
               "step cache holds %lld tokens of %d, the forward has %lld of %d",
               (long long)sc->rows, sc->dim, (long long)rows, fi.dim);
    if (a == STEPCACHE_ACTION_COMPUTE) {
        DF_TRY(kern_zero(sc->be, sc->res[b], n, err));
        DF_TRY(kern_scale_add(sc->be, sc->res[b], x, -1.0f, n, err)); /* R_b = -x_in (exact) */
        DF_TRY(family_blocks(m, err));                                /* x = x_out */
        DF_TRY(kern_add(sc->be, sc->res[b], x, n, err));              /* R_b = x_out - x_in */
        sc->valid[b] = 1;
        return 0;
    }
    const enum stepcache_branch src = a == STEPCACHE_ACTION_REUSE_COND ? STEPCACHE_BRANCH_COND : b;
    DF_FAIL_IF(!sc->valid[src], err, DF_E_INTERNAL,
               "step %d: %s pass %s but the %s residual was never computed or restored", step,
               stepcache_branch_name(b), stepcache_action_name(a), stepcache_branch_name(src));
    DF_TRY(kern_add(sc->be, x, sc->res[src], n, err)); /* x_out = x_in + R */
    if (a == STEPCACHE_ACTION_REUSE_COND) {
        DF_TRY(kern_copy(sc->be, sc->res[b], sc->res[src], n, err)); /* R_u := R_c */
        sc->valid[b] = 1;
    }
    return 0;
}

int stepcache_forward(stepcache_t *sc, family_model_t *m, const struct family_shape *shape,
                      const float *latent, float t, const float *text, int step,
                      enum stepcache_branch b, float *out, struct df_err *err)
{
    DF_FAIL_IF((unsigned)b >= STEPCACHE_BRANCH_COUNT ||
                   (b == STEPCACHE_BRANCH_UNCOND && !sc->mask.guided),
               err, DF_E_INVAL, "step cache: branch %d on a %s shot", (int)b,
               sc->mask.guided ? "guided" : "unguided");
    DF_FAIL_IF(sc->mask.policy != CACHE_POLICY_OFF && (step < 0 || step >= sc->mask.steps), err,
               DF_E_INVAL, "step cache: step %d outside the planned mask of %d steps", step,
               sc->mask.steps);
    const enum stepcache_action a = stepcache_mask_action(&sc->mask, step, b);
    DF_FAIL_IF(a == STEPCACHE_ACTION_REUSE_COND && sc->cond_step != step, err, DF_E_INVAL,
               "step %d: the uncond pass reuses the cond residual of this step, but the cond "
               "pass of this step has not run on this rank",
               step);
    DF_TRY(family_embed(m, shape, latent, t, text, err));
    if (sc->mask.policy == CACHE_POLICY_OFF)
        DF_TRY(family_blocks(m, err));
    else
        DF_TRY(residual_pass(sc, m, a, b, step, err));
    DF_TRY(family_head(m, out, err));
    sc->counts.n[b][a]++;
    if (b == STEPCACHE_BRANCH_COND)
        sc->cond_step = step;
    return 0;
}

int stepcache_residual_get(const stepcache_t *sc, enum stepcache_branch b, float *host,
                           struct df_err *err)
{
    DF_FAIL_IF((unsigned)b >= STEPCACHE_BRANCH_COUNT || !sc->res[b], err, DF_E_INVAL,
               "step cache has no %s residual", stepcache_branch_name(b));
    return kern_download(sc->be, host, sc->res[b], (size_t)sc->rows * (size_t)sc->dim, err);
}

int stepcache_residual_set(stepcache_t *sc, enum stepcache_branch b, const float *host,
                           struct df_err *err)
{
    DF_FAIL_IF((unsigned)b >= STEPCACHE_BRANCH_COUNT || !sc->res[b], err, DF_E_INVAL,
               "step cache has no %s residual", stepcache_branch_name(b));
    DF_TRY(kern_upload(sc->be, sc->res[b], host, (size_t)sc->rows * (size_t)sc->dim, err));
    sc->valid[b] = 1;
    return 0;
}
