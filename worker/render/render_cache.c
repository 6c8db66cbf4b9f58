/*
 * render_cache.c -- the step cache of one shot's render: the mask rank 0
 * plans for the whole shot (worker/cache/stepcache.h) and shares, and this
 * rank's residuals.  Set up before step 1; a resumed shot replaces the mask
 * with its checkpoint's (render_ckpt.c).
 */
#include "render_int.h"

#include <stdlib.h>

/* The step-cache mask: planned on rank 0 (time embeddings of the whole
 * schedule, the shot's threshold and calibration), the same bytes on every
 * rank; each rank keeps residuals for its own tokens only. */
int render_cache_setup(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    int rc = 0;
    void *bytes = NULL;
    size_t n = 0;
    struct df_err perr = {0};
    if (render_is_root(r)) {
        char warning[512] = "";
        struct stepcache_shot_in in = {.configs_dir = r->job.configs_dir, .model = s->model,
                                       .policy = &s->cache, .smp = r->smp, .guided = r->guided,
                                       .text = r->text_standin ? NULL : r->text_cond,
                                       .n_tokens = r->text_standin ? 0 : r->n_text_cond,
                                       .text_dim = r->text_dim, .model_handle = r->md->dit,
                                       .warning = warning, .warning_cap = sizeof(warning)};
        rc = stepcache_plan_shot(&in, &r->cache.mask, &perr);
        if (rc == 0 && warning[0])
            DF_WARN(r->log, "shot %s: step cache: %s", s->id, warning);
        if (rc == 0 && (n = stepcache_mask_size(&r->cache.mask)) && !(bytes = malloc(n)))
            rc = df_err_set(&perr, DF_E_NOMEM, "out of memory");
        if (rc == 0)
            rc = stepcache_mask_save(&r->cache.mask, bytes, n, &n, &perr);
    }
    /* every rank learns whether rank 0 could plan before the bytes travel */
    int any = render_par_any(&r->par, rc < 0, err);
    if (any == 0 && r->par.size > 1) {
        any = render_par_share_bytes(&r->par, &bytes, &n, err);
        if (any == 0 && !render_is_root(r))
            any = stepcache_mask_load(bytes, n, &r->cache.mask, err);
    }
    free(bytes);
    if (rc < 0) {
        *err = perr;
        return rc;
    }
    if (any > 0)
        return df_err_set(err, DF_E_INVAL, "rank 0 could not plan the step cache");
    DF_TRY(any);
    struct family_info fi;
    family_info(r->md->dit, &fi);
    DF_TRY(stepcache_create(&r->cache.mask, r->md->be, r->par.tok_count, fi.dim, &r->cache.sc, err));
    if (render_is_root(r) && r->cache.mask.policy != CACHE_POLICY_OFF) {
        int64_t computed, total;
        stepcache_mask_passes(&r->cache.mask, &computed, &total);
        DF_INFO(r->log,
                "shot %s: step cache %s (tau %.4f, %s): %lld of %lld passes compute the blocks",
                s->id, cache_policy_name(r->cache.mask.policy), r->cache.mask.tau, r->cache.mask.tau_source,
                (long long)computed, (long long)total);
    }
    return 0;
}

void render_cache_fini(struct render_cache *c)
{
    stepcache_free(c->sc);
    c->sc = NULL;
    stepcache_mask_free(&c->mask);
}
