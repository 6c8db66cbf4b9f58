/*
 * render_ckpt.c -- checkpoints of a render (render_int.h): gathered global
 * tensors written by rank 0, resume on any layout.
 *
 * What a checkpoint holds: the canonical latent, the sampler's scalars and
 * history tensors, and -- for a cached shot -- the step-cache mask and the
 * residuals the next step needs (stepcache.h), all with global extents.
 */
#include "render_int.h"

#include "ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checkpoint tensors are global and canonical [C, T, H, W], so a job may
 * resume on another layout (latent_shard.h converts).  Every rank takes part
 * in the gather; only rank 0 keeps the canonical result. */
int render_gather_canonical(struct render *r, const float *rows, float *canon, struct df_err *err)
{
    DF_TRY(render_par_gather_rows(&r->par, rows, r->lat->all_rows, err));
    if (render_is_root(r))
        latent_from_rows(&r->lat->dims, r->lat->all_rows, 0, latent_tokens(&r->lat->dims), canon);
    return 0;
}

static int put_rows(struct render *r, ckpt_writer_t *w, const char *name, const float *rows,
                         struct df_err *err)
{
    const int64_t ext[4] = {r->lat->dims.C, r->lat->dims.T, r->lat->dims.H, r->lat->dims.W};
    DF_TRY(render_gather_canonical(r, rows, r->lat->out_full, err));
    return w ? ckpt_writer_put_tensor(w, name, r->lat->out_full, ext, 4, err) : 0;
}

static int get_rows(struct render *r, ckpt_reader_t *rd, const char *name, float *rows,
                         struct df_err *err)
{
    const int64_t ext[4] = {r->lat->dims.C, r->lat->dims.T, r->lat->dims.H, r->lat->dims.W};
    DF_TRY(ckpt_get_tensor(rd, name, r->lat->out_full, ext, 4, err));
    latent_to_rows(&r->lat->dims, r->lat->out_full, r->par.tok_begin, r->par.tok_count, rows);
    return 0;
}

/* The cfg group whose ranks compute branch b (both branches live in group 0
 * unless the layout splits them). */
static int branch_group(const struct render *r, enum stepcache_branch b)
{
    return r->par.lay.cfg == 2 ? (int)b : 0;
}

/* Width of the hidden state (the step-cache residual rows). */
static int model_dim(const struct render *r)
{
    struct family_info fi;
    family_info(r->md->dit, &fi);
    return fi.dim;
}

/* The step cache's part: its mask, and the residuals step `next` reads
 * (gathered from the group that holds each branch).  w is NULL off rank 0. */
static int put_cache(struct render *r, ckpt_writer_t *w, int next, struct df_err *werr)
{
    if (r->cache.mask.policy == CACHE_POLICY_OFF)
        return 0;
    const int dim = model_dim(r);
    const int64_t S = latent_tokens(&r->lat->dims);
    if (w)
        DF_TRY(stepcache_ckpt_put_mask(w, &r->cache.mask, werr));
    for (int b = 0; b < STEPCACHE_BRANCH_COUNT; b++) {
        if (!stepcache_residual_needed(&r->cache.mask, next, (enum stepcache_branch)b))
            continue;
        if (!r->ck.res_all && !(r->ck.res_all = malloc((size_t)S * dim * sizeof(float))))
            return df_err_set(werr, DF_E_NOMEM, "out of memory for a residual");
        /* this rank's rows go to the front of res_all, then the gather fills it */
        float *mine = malloc((size_t)(r->par.tok_count ? r->par.tok_count : 1) * dim * sizeof(float));
        if (!mine)
            return df_err_set(werr, DF_E_NOMEM, "out of memory for a residual");
        int held = r->par.cfg_idx == branch_group(r, (enum stepcache_branch)b);
        int rc = held ? stepcache_residual_get(r->cache.sc, (enum stepcache_branch)b, mine, werr) : 0;
        if (rc == 0)
            rc = render_par_gather_tokens(&r->par, branch_group(r, (enum stepcache_branch)b), mine,
                                          r->ck.res_all, dim, werr);
        free(mine);
        DF_TRY(rc);
        if (w)
            DF_TRY(stepcache_ckpt_put_residual(w, (enum stepcache_branch)b, r->ck.res_all, S, dim,
                                               werr));
    }
    return 0;
}

/* The stored mask replaces the planned one (a resumed shot keeps the
 * decisions it started with); each rank takes its residual slices. */
static int get_cache(struct render *r, ckpt_reader_t *rd, int next, struct df_err *err)
{
    struct stepcache_mask m = {0};
    int rc = stepcache_ckpt_get_mask(rd, &m, err);
    if (rc == DF_E_NOTFOUND)
        return r->cache.mask.policy == CACHE_POLICY_OFF
                   ? 0
                   : df_err_set(err, DF_E_CORRUPT, "checkpoint of a cached shot has no mask");
    DF_TRY(rc);
    const int dim = model_dim(r);
    render_cache_fini(&r->cache);
    r->cache.mask = m;
    DF_TRY(stepcache_create(&r->cache.mask, r->md->be, r->par.tok_count, dim, &r->cache.sc, err));
    const int64_t S = latent_tokens(&r->lat->dims);
    for (int b = 0; b < STEPCACHE_BRANCH_COUNT; b++) {
        if (!stepcache_residual_needed(&r->cache.mask, next, (enum stepcache_branch)b) ||
            r->par.cfg_idx != branch_group(r, (enum stepcache_branch)b))
            continue;
        if (!r->ck.res_all && !(r->ck.res_all = malloc((size_t)S * dim * sizeof(float))))
            return df_err_set(err, DF_E_NOMEM, "out of memory for a residual");
        DF_TRY(stepcache_ckpt_get_residual(rd, (enum stepcache_branch)b, r->ck.res_all, S, dim, err));
        DF_TRY(stepcache_residual_set(r->cache.sc, (enum stepcache_branch)b,
                                      r->ck.res_all + (size_t)r->par.tok_begin * dim, err));
    }
    return 0;
}

static void *commit_main(void *arg)
{
    struct render_commit *c = arg;
    c->rc = ckpt_writer_commit(c->w, c->dir, &c->info, &c->err);
    return NULL;
}

/* Hand an encoded checkpoint to a helper thread (rank 0); the writer's data
 * is already encoded, so the ranks' buffers are free.  When no thread can be
 * started, commit here. */
static void start_commit(struct render *r, ckpt_writer_t *w, int step)
{
    struct render_commit *c = &r->ck.commit;
    c->w = w;
    c->dir = r->o->ckpt_dir;
    c->step = step;
    c->rc = 0;
    df_err_clear(&c->err);
    if (pthread_create(&c->thread, NULL, commit_main, c) == 0) {
        c->running = 1;
        return;
    }
    commit_main(c);
    c->running = 2; /* done already: the flush only reports */
}

/* Join rank 0's commit thread; returns its result (0 when none). */
static int join_commit(struct render *r)
{
    struct render_commit *c = &r->ck.commit;
    if (!c->running)
        return 0;
    if (c->running == 1)
        pthread_join(c->thread, NULL);
    c->running = 0;
    ckpt_writer_free(c->w);
    c->w = NULL;
    return c->rc;
}

int render_ckpt_flush(struct render *r, struct df_err *err)
{
    if (!r->o->ckpt_dir)
        return 0;
    struct render_commit *c = &r->ck.commit;
    int had = c->running != 0;
    int rc = join_commit(r);
    if (had && rc == 0)
        r->ck.last_step = c->step;
    if (render_is_root(r) && had && rc == 0)
        DF_INFO(r->log,
                "shot %s: checkpoint at step %d durable: %s (%.2f MB, %.1fx smaller; write %.2f s, "
                "sync %.2f s, off the ranks' path)",
                r->shot->id, c->step, c->info.path, c->info.file_bytes / 1e6,
                c->info.file_bytes ? (double)c->info.raw_bytes / c->info.file_bytes : 0.0,
                c->info.write_s, c->info.sync_s);
    int any = r->par.size > 1 ? render_par_any(&r->par, rc < 0, err) : rc < 0;
    if (any < 0)
        return any;
    if (!any)
        return 0;
    if (rc < 0) {
        *err = c->err;
        df_err_prefix(err, "checkpoint at step %d", c->step);
        return rc;
    }
    return df_err_set(err, DF_E_IO, "rank 0 could not make its checkpoint durable");
}

void render_ckpt_init(struct render *r)
{
    const struct shot *s = r->shot;
    if (!r->o->ckpt_dir)
        return;
    r->ck.shot_hash = r->job.hash;
    r->ck.every = r->o->ckpt_every > 0 ? r->o->ckpt_every : s->checkpoint.every_steps;
    r->ck.every_s = s->checkpoint.every_minutes * 60.0;
}

void render_ckpt_fini(struct render *r)
{
    join_commit(r); /* a pending commit, not reported (error paths, clean-up) */
    free(r->ck.res_all);
    r->ck.res_all = NULL;
}

/* Rank 0 encodes; every rank gathers.  The file is made durable on a helper
 * thread; render_ckpt_flush() reports it (before the next checkpoint, before
 * stopping, at the end of the loop). */
int render_ckpt_save(struct render *r, int next_step, struct df_err *err)
{
    const struct shot *s = r->shot;
    const struct layout *l = &r->par.lay;
    struct ckpt_meta meta = {.shot_hash = r->ck.shot_hash, .weights_hash = r->md->weights_hash,
                             .step = next_step, .total_steps = s->steps, .seed = s->seed,
                             .layout_cfg = (uint32_t)l->cfg,
                             .layout_ulysses = (uint32_t)l->ulysses,
                             .layout_ring = (uint32_t)l->ring, .layout_world = (uint32_t)l->world};
    snprintf(meta.shot_id, sizeof(meta.shot_id), "%s", s->id);
    struct ckpt_write_opts wo;
    ckpt_write_opts_init(&wo);
    wo.keep_last = s->checkpoint.keep > 0 ? s->checkpoint.keep : 2;
    /* one checkpoint in flight at a time: the previous one is durable first */
    DF_TRY(render_ckpt_flush(r, err));
    double t_start = df_clock_s();
    ckpt_writer_t *w = NULL;
    struct df_err werr = {0}; /* rank 0's writer trouble; collectives keep going */
    int wrc = render_is_root(r) ? ckpt_writer_create(&meta, &wo, &w, &werr) : 0;
    struct sampler_scalars sc;
    sampler_scalars_get(r->smp, &sc);
    const int64_t scal[5] = {sc.next_step, sc.lower_order_nums, sc.this_order,
                             sc.n_model_outputs, sc.has_last_sample};
    int rc = put_rows(r, wrc == 0 ? w : NULL, "latent", r->lat->shard, &werr);
    if (rc == 0 && w)
        wrc = ckpt_writer_put_i64s(w, "sampler.scalars", scal, 5, &werr);
    for (int k = 0; rc == 0 && k < sampler_history_count(r->smp); k++) {
        char name[CKPT_NAME_CAP];
        snprintf(name, sizeof(name), "sampler.%s", sampler_history_name(r->smp, k));
        rc = put_rows(r, wrc == 0 ? w : NULL, name, sampler_history(r->smp, k), &werr);
    }
    if (rc == 0)
        rc = put_cache(r, wrc == 0 ? w : NULL, next_step, &werr);
    double t_encoded = df_clock_s() - t_start;
    if (rc == 0) {
        /* every rank learns whether rank 0 could encode before the I/O starts */
        int any = render_par_any(&r->par, wrc < 0 || (w == NULL && render_is_root(r)), err);
        if (any < 0)
            rc = any;
        else if (any)
            rc = render_is_root(r) ? (wrc < 0 ? wrc : DF_E_INTERNAL)
                                   : df_err_set(&werr, DF_E_IO, "rank 0 could not write it");
    }
    if (rc < 0) {
        ckpt_writer_free(w);
        if (rc != DF_E_COMM && rc != DF_E_TIMEOUT)
            *err = werr;
        df_err_prefix(err, "checkpoint at step %d", next_step);
        return rc;
    }
    if (w)
        start_commit(r, w, next_step);
    if (render_is_root(r))
        DF_INFO(r->log,
                "shot %s: checkpoint at step %d/%d: encoded in %.2f s (the ranks' stall); "
                "writing it in the background",
                s->id, next_step, s->steps, t_encoded);
    r->ck.t_last = df_clock_s();
    return 0;
}

/* The most decoded bytes a checkpoint of this shot can hold: the latent and
 * each sampler history tensor (latent-sized), two step-cache residuals of
 * [tokens, dim], and room for masks and scalars; doubled for sections a
 * later version adds.  Files declaring more are refused before decoding
 * (ckpt_open_max), however small they are on disk. */
static uint64_t max_ckpt_bytes(struct render *r)
{
    const struct latent_dims *d = &r->lat->dims;
    const uint64_t latent = (uint64_t)d->C * d->T * d->H * d->W * sizeof(float);
    const uint64_t residual = (uint64_t)latent_tokens(d) * (uint64_t)model_dim(r) * sizeof(float);
    const uint64_t copies = 1 + (uint64_t)sampler_history_count(r->smp);
    return 2 * (copies * latent + 2 * residual) + ((uint64_t)64 << 20);
}

int render_ckpt_resume(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    char path[4096] = "";
    int rc = 0;
    if (render_is_root(r)) { /* rank 0 chooses; the others open the same file */
        struct ckpt_skip_report skips;
        struct df_err ferr = {0};
        rc = ckpt_find_latest_max(r->o->ckpt_dir, s->id, r->ck.shot_hash, r->md->weights_hash,
                                  max_ckpt_bytes(r), path, sizeof(path), &skips, &ferr);
        for (int i = 0; i < skips.n; i++)
            DF_WARN(r->log, "shot %s: skipping checkpoint %s: %s", s->id, skips.items[i].file,
                    skips.items[i].reason);
        if (rc == DF_E_NOTFOUND) {
            DF_INFO(r->log, "shot %s: no valid checkpoint in %s: starting at step 0", s->id,
                    r->o->ckpt_dir);
            path[0] = '\0';
            rc = 0;
        } else if (rc < 0) {
            *err = ferr;
            snprintf(path, sizeof(path), "\x01"); /* tells the others to give up */
        }
    }
    int src = render_par_share_string(&r->par, path, sizeof(path), err);
    if (src < 0)
        return src;
    if (rc < 0)
        return rc;
    if (path[0] == '\x01')
        return df_err_set(err, DF_E_IO, "rank 0 could not read the checkpoint directory");
    if (!path[0])
        return 0;
    ckpt_reader_t *rd = NULL;
    DF_TRY(ckpt_open_max(path, max_ckpt_bytes(r), &rd, err));
    int64_t scal[5];
    rc = get_rows(r, rd, "latent", r->lat->shard, err);
    if (rc == 0)
        rc = ckpt_get_i64s(rd, "sampler.scalars", scal, 5, err);
    if (rc == 0) {
        struct sampler_scalars sc = {(int32_t)scal[0], (int32_t)scal[1], (int32_t)scal[2],
                                     (int32_t)scal[3], (int32_t)scal[4]};
        rc = sampler_scalars_set(r->smp, &sc, err);
    }
    for (int k = 0; rc == 0 && k < sampler_history_count(r->smp); k++) {
        char name[CKPT_NAME_CAP];
        snprintf(name, sizeof(name), "sampler.%s", sampler_history_name(r->smp, k));
        rc = get_rows(r, rd, name, sampler_history(r->smp, k), err);
    }
    if (rc == 0)
        rc = get_cache(r, rd, (int)ckpt_reader_meta(rd)->step, err);
    const struct ckpt_meta *meta = ckpt_reader_meta(rd);
    if (rc == 0 && meta->step != sampler_next_step(r->smp))
        rc = df_err_set(err, DF_E_CORRUPT, "header step %lld disagrees with sampler step %d",
                        (long long)meta->step, sampler_next_step(r->smp));
    if (rc == 0 && render_is_root(r))
        DF_INFO(r->log, "shot %s: resumed from %s at step %lld/%d (written on %u rank%s)", s->id,
                path, (long long)meta->step, s->steps, meta->layout_world,
                meta->layout_world == 1 ? "" : "s");
    ckpt_close(rd);
    if (rc < 0)
        df_err_prefix(err, "resume from %s", path);
    r->ck.t_last = df_clock_s();
    return rc;
}

/* A checkpoint is due after `done` steps by the step interval or the clock. */
int render_ckpt_due(struct render *r, int done, struct df_err *err)
{
    if (!r->o->ckpt_dir)
        return 0;
    /* The final latent too, flushed before the VAE: a decode or encode that
     * fails (disk full, bad output path, killed) reruns without the steps. */
    if (done >= r->shot->steps)
        return 1;
    if (r->ck.every > 0 && done % r->ck.every == 0)
        return 1;
    /* clocks differ between ranks: rank 0's decides */
    int late = r->ck.every_s > 0 && df_clock_s() - r->ck.t_last >= r->ck.every_s;
    return r->par.size > 1 ? render_par_any(&r->par, late && render_is_root(r), err) : late;
}

/* 1 when any rank was asked to stop (all ranks must stop at the same step). */
