/*
 * render.c -- the path of one shot through a worker (render.h).
 *
 *   setup:   manifest shot -> model folder -> backend, DiT, text embeddings,
 *            initial noise (lib/noise.h, canonical [C, T, H, W] order),
 *            sampler for this rank's token shard
 *   denoise: per step, the shard goes back into a canonical staging latent,
 *            the DiT runs each guidance branch on this rank's tokens, CFG
 *            combines them and the sampler steps the shard (latent_shard.h)
 *   finish:  canonical latent -> VAE decode -> encoder, frame by frame
 *
 * Sequence parallelism (render_par.h, usp_attn.h): every rank plans the same
 * cfg × ulysses × ring layout for its world size, owns a contiguous token
 * range, and keeps only that range's latent rows through the whole loop; the
 * attention hook does the Ulysses all-to-alls and the ring; with cfg = 2 each
 * cfg group computes one guidance branch and partners swap velocities before
 * the (elementwise) combine and sampler step.  Latents are gathered only for
 * checkpoints and for the decode, which rank 0 runs.  One process is simply
 * rank 0 of 1 with every token, so one code path serves both.
 */
#include "render.h"

#include "cfg.h"
#include "ckpt.h"
#include "encode.h"
#include "kern.h"
#include "latent_shard.h"
#include "manifest.h"
#include "model_id.h"
#include "noise.h"
#include "paths.h"
#include "render_par.h"
#include "safetensors.h"
#include "sampler.h"
#include "sidecar.h"
#include "text_embed.h"
#include "usp_attn.h"
#include "vae.h"
#include "vae_tiles.h"
#include "wan_model.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct render {
    const struct render_opts *o;
    struct df_log *log;
    struct manifest *m;
    const struct shot *shot;
    char model_dir[PATH_MAX];
    kern_backend_t be;
    struct wan_model *dit;
    struct wan_shape shape;
    struct latent_dims dims;
    struct render_par par;        /* ranks, layout, groups */
    int par_open;
    struct usp_attn *usp;         /* the attention hook when the sequence is split */
    int64_t tok_begin, tok_count; /* this rank's tokens */
    size_t shard_n;               /* tok_count · row floats */
    int do_cond, do_uncond;       /* the branches this rank computes */
    size_t latent_n;              /* C·T·H·W */
    int text_len, text_dim;
    float *text_cond, *text_uncond; /* [text_len, text_dim] */
    int guided;                     /* classifier-free guidance on (two branches) */
    sampler_t smp;
    float *shard;                   /* this rank's latent rows */
    float *stage;                   /* canonical staging latent [C, T, H, W] */
    float *out_full;                /* canonical model output */
    float *vel_cond, *vel_uncond, *vel; /* shard-sized */
    float *all_rows;                /* token-major rows of every token (gathers) */
    double t_load, t_denoise, t_decode;
    time_t started;
    uint64_t shot_hash, weights_hash; /* checkpoint identity */
    int ckpt_every;                   /* 0: none by step count */
    double ckpt_every_s;              /* 0: none by time */
    double t_last_ckpt;
};

void render_opts_init(struct render_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->backend = "cpu";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *alloc_floats(size_t n, const char *what, struct df_err *err)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        df_err_set(err, DF_E_NOMEM, "out of memory for %s (%zu floats)", what, n);
    return p;
}

/* ---- setup ------------------------------------------------------------- */

static int load_shot(struct render *r, struct df_err *err)
{
    char configs[PATH_MAX];
    DF_TRY(paths_configs_dir(r->o->configs_dir, configs, sizeof(configs), err));
    struct diag_list dl = {0};
    int rc = manifest_load(r->o->manifest, configs, &r->m, &dl, err);
    if (rc < 0) {
        for (size_t i = 0; i < dl.count; i++) {
            char line[DIAG_LINE_CAP];
            diag_format(&dl.items[i], line, sizeof(line));
            DF_ERROR(r->log, "%s", line);
        }
        diag_list_clear(&dl);
        return rc;
    }
    diag_list_clear(&dl);
    int idx = 0;
    if (r->o->shot_id) {
        idx = manifest_find_shot(r->m, r->o->shot_id);
        DF_FAIL_IF(idx < 0, err, DF_E_NOTFOUND, "%s: no shot '%s'", r->o->manifest,
                   r->o->shot_id);
    } else {
        DF_FAIL_IF(r->m->n_shots != 1, err, DF_E_INVAL,
                   "%s has %zu shots: name one with --shot", r->o->manifest, r->m->n_shots);
    }
    r->shot = &r->m->shots[idx];
    DF_FAIL_IF(!r->shot->geom.path[0], err, DF_E_UNSUPPORTED,
               "%s:%d:%d: shot '%s': model '%s' is a geometry-only config with no weights "
               "folder; point `model:` at a diffusers model folder",
               r->shot->file, r->shot->line, r->shot->col, r->shot->id, r->shot->model);
    snprintf(r->model_dir, sizeof(r->model_dir), "%s", r->shot->geom.path);
    return 0;
}

static int load_text(struct render *r, const char *embeds, const char *text, float *out,
                     const char *which, struct df_err *err)
{
    int n = 0;
    if (embeds) {
        DF_TRY(text_embed_load(embeds, r->text_len, r->text_dim, out, &n, err));
        DF_DEBUG(r->log, "%s prompt: %d embedding rows from %s", which, n, embeds);
    } else {
        /* no text encoder in ditfarm yet: see text_embed.h */
        text_embed_derive(text ? text : "", r->text_len, r->text_dim, out, &n);
        DF_DEBUG(r->log, "%s prompt: %d rows derived from the text (no text encoder here)",
                 which, n);
    }
    return 0;
}

static int is_root(const struct render *r)
{
    return r->par.rank == 0;
}

/* Ranks, layout and this rank's tokens; the USP attention hook when the
 * sequence is split.  A single process is rank 0 of 1 with every token. */
static int setup_parallel(struct render *r, const struct wan_config *c, struct df_err *err)
{
    const struct shot *s = r->shot;
    r->par_open = 1; /* render_par_close undoes whatever part of the open happened */
    DF_TRY(render_par_open(&r->par, &s->geom, &s->grid, r->guided ? 2 : 1,
                           strcmp(r->o->backend, "cpu") != 0, latent_row_size(&r->dims),
                           manifest_shot_hash(s), r->o->layout[0] ? r->o->layout : NULL, err));
    const struct layout *l = &r->par.lay;
    DF_FAIL_IF(l->seq_len != latent_tokens(&r->dims), err, DF_E_INTERNAL,
               "planner sequence %lld != model tokens %lld", (long long)l->seq_len,
               (long long)latent_tokens(&r->dims));
    r->tok_begin = r->par.tok_begin;
    r->tok_count = r->par.tok_count;
    r->do_cond = l->cfg == 1 || r->par.cfg_idx == 0;
    r->do_uncond = r->guided && (l->cfg == 1 || r->par.cfg_idx == 1);
    if (r->par.size > 1) {
        df_log_set_rank(r->log, r->par.rank);
        struct usp_attn_shape ush = {.ulysses = l->ulysses, .ring = l->ring,
                                     .uly_idx = r->par.uly_idx, .ring_idx = r->par.ring_idx,
                                     .chunk = l->chunk, .seq_len = l->seq_len,
                                     .heads = c->num_heads, .head_dim = c->head_dim};
        DF_TRY(usp_attn_create(r->be, r->par.g.ulysses, r->par.g.ring, &ush, &r->usp, err));
        struct wan_attn_hook hook = usp_attn_hook(r->usp);
        wan_model_set_attn_hook(r->dit, &hook);
    }
    char desc[256];
    layout_describe(l, desc, sizeof(desc));
    if (is_root(r))
        DF_INFO(r->log, "shot %s: layout %s, %lld tokens (%lld padding), rank 0 owns [%lld, %lld)",
                s->id, desc, (long long)l->seq_len, (long long)l->pad_tokens,
                (long long)r->tok_begin, (long long)(r->tok_begin + r->tok_count));
    DF_DEBUG(r->log, "tokens [%lld, %lld), cfg %d ring %d ulysses %d", (long long)r->tok_begin,
             (long long)(r->tok_begin + r->tok_count), r->par.cfg_idx, r->par.ring_idx,
             r->par.uly_idx);
    return 0;
}

static int setup_model(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    DF_TRY(kern_backend_create(r->o->backend, r->o->threads, &r->be, err));
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/transformer", r->model_dir);
    double t0 = now_s();
    DF_TRY(wan_model_load(r->be, dir, &r->dit, err));
    const struct wan_config *c = wan_model_config(r->dit);
    DF_DEBUG(r->log, "loaded %s: %d layers, dim %d, %d heads in %.2f s (backend %s)", dir,
            c->num_layers, c->dim, c->num_heads, now_s() - t0, kern_backend_name(r->be));
    DF_TRY(model_id_weights(dir, &r->weights_hash, err));
    if (r->o->ckpt_dir) {
        r->shot_hash = manifest_shot_hash(s);
        r->ckpt_every = r->o->ckpt_every > 0 ? r->o->ckpt_every : s->checkpoint.every_steps;
        r->ckpt_every_s = s->checkpoint.every_minutes * 60.0;
    }

    r->dims = (struct latent_dims){.C = c->in_channels, .T = s->grid.latent[0],
                                   .H = s->grid.latent[1], .W = s->grid.latent[2],
                                   .pt = c->patch[0], .ph = c->patch[1], .pw = c->patch[2]};
    DF_FAIL_IF(c->out_channels != c->in_channels, err, DF_E_UNSUPPORTED,
               "%s: out_channels %d != in_channels %d: not a text-to-video model", dir,
               c->out_channels, c->in_channels);
    r->text_len = s->geom.text_len > 0 ? s->geom.text_len : 512;
    r->text_dim = c->text_dim;
    r->latent_n = (size_t)r->dims.C * r->dims.T * r->dims.H * r->dims.W;
    r->guided = cfg_enabled((float)s->guidance_scale);
    DF_TRY(setup_parallel(r, c, err));
    r->shard_n = (size_t)(r->tok_count * latent_row_size(&r->dims));
    r->shape = (struct wan_shape){.frames = r->dims.T, .height = r->dims.H, .width = r->dims.W,
                                  .text_len = r->text_len, .tok_begin = r->tok_begin,
                                  .tok_count = r->tok_count};
    DF_TRY(wan_model_reserve(r->dit, &r->shape, err));

    DF_FAIL_IF(!(r->text_cond = alloc_floats((size_t)r->text_len * r->text_dim, "text", err)), err,
               DF_E_NOMEM, "%s", err ? err->msg : "");
    DF_TRY(load_text(r, s->prompt_embeds, s->prompt, r->text_cond, "positive", err));
    if (r->guided) {
        if (!(r->text_uncond = alloc_floats((size_t)r->text_len * r->text_dim, "text", err)))
            return DF_E_NOMEM;
        DF_TRY(load_text(r, s->negative_prompt_embeds, s->negative_prompt, r->text_uncond,
                         "negative", err));
    }
    return 0;
}

static int setup_latent(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    if (!(r->stage = alloc_floats(r->latent_n, "the latent", err)) ||
        !(r->out_full = alloc_floats(r->latent_n, "the model output", err)) ||
        !(r->shard = alloc_floats(r->shard_n, "the latent shard", err)) ||
        !(r->vel_cond = alloc_floats(r->shard_n, "velocities", err)) ||
        !(r->vel_uncond = alloc_floats(r->shard_n, "velocities", err)) ||
        !(r->vel = alloc_floats(r->shard_n, "velocities", err)) ||
        !(r->all_rows = alloc_floats(r->latent_n, "the gathered latent", err)))
        return DF_E_NOMEM;
    /* The noise is defined on the canonical layout, whatever the sharding. */
    noise_fill(s->seed, 0, r->latent_n, r->stage);
    latent_to_rows(&r->dims, r->stage, r->tok_begin, r->tok_count, r->shard);

    struct sampler_config sc;
    enum sampler_kind kind;
    DF_TRY(sampler_kind_from_name(sampler_name(s->sampler), &kind, err));
    sampler_config_init(&sc, kind);
    sc.steps = s->steps;
    sc.shift = s->flow_shift;
    size_t total = (size_t)(latent_tokens(&r->dims) * latent_row_size(&r->dims));
    size_t offset = (size_t)(r->tok_begin * latent_row_size(&r->dims));
    return sampler_create(&sc, offset, r->shard_n, total, &r->smp, err);
}

/* ---- denoise ------------------------------------------------------------ */

/* One guidance branch on this rank's tokens: velocity rows for the shard. */
static int run_branch(struct render *r, float t, const float *text, float *vel_rows,
                      struct df_err *err)
{
    DF_TRY(wan_model_forward(r->dit, &r->shape, r->stage, t, text, r->out_full, err));
    latent_to_rows(&r->dims, r->out_full, r->tok_begin, r->tok_count, vel_rows);
    return 0;
}

/* ---- checkpoints -------------------------------------------------------- */

static int mkdir_parents(const char *path, struct df_err *err);

/* Checkpoint tensors are global and canonical [C, T, H, W], so a job may
 * resume on another layout (latent_shard.h converts).  Every rank takes part
 * in the gather; only rank 0 keeps the canonical result. */
static int gather_canonical(struct render *r, const float *rows, float *canon, struct df_err *err)
{
    DF_TRY(render_par_gather_rows(&r->par, rows, r->all_rows, err));
    if (is_root(r))
        latent_from_rows(&r->dims, r->all_rows, 0, latent_tokens(&r->dims), canon);
    return 0;
}

static int put_rows(struct render *r, ckpt_writer_t *w, const char *name, const float *rows,
                         struct df_err *err)
{
    const int64_t ext[4] = {r->dims.C, r->dims.T, r->dims.H, r->dims.W};
    DF_TRY(gather_canonical(r, rows, r->out_full, err));
    return w ? ckpt_writer_put_tensor(w, name, r->out_full, ext, 4, err) : 0;
}

static int get_rows(struct render *r, ckpt_reader_t *rd, const char *name, float *rows,
                         struct df_err *err)
{
    const int64_t ext[4] = {r->dims.C, r->dims.T, r->dims.H, r->dims.W};
    DF_TRY(ckpt_get_tensor(rd, name, r->out_full, ext, 4, err));
    latent_to_rows(&r->dims, r->out_full, r->tok_begin, r->tok_count, rows);
    return 0;
}

/* Rank 0 writes; every rank gathers.  All ranks learn whether it worked. */
static int save_checkpoint(struct render *r, int next_step, struct df_err *err)
{
    const struct shot *s = r->shot;
    const struct layout *l = &r->par.lay;
    struct ckpt_meta meta = {.shot_hash = r->shot_hash, .weights_hash = r->weights_hash,
                             .step = next_step, .total_steps = s->steps, .seed = s->seed,
                             .layout_cfg = (uint32_t)l->cfg,
                             .layout_ulysses = (uint32_t)l->ulysses,
                             .layout_ring = (uint32_t)l->ring, .layout_world = (uint32_t)l->world};
    snprintf(meta.shot_id, sizeof(meta.shot_id), "%s", s->id);
    struct ckpt_write_opts wo;
    ckpt_write_opts_init(&wo);
    wo.keep_last = s->checkpoint.keep > 0 ? s->checkpoint.keep : 2;
    ckpt_writer_t *w = NULL;
    struct df_err werr = {0}; /* rank 0's writer trouble; collectives keep going */
    int wrc = is_root(r) ? ckpt_writer_create(&meta, &wo, &w, &werr) : 0;
    struct sampler_scalars sc;
    sampler_scalars_get(r->smp, &sc);
    const int64_t scal[5] = {sc.next_step, sc.lower_order_nums, sc.this_order,
                             sc.n_model_outputs, sc.has_last_sample};
    int rc = put_rows(r, wrc == 0 ? w : NULL, "latent", r->shard, &werr);
    if (rc == 0 && w)
        wrc = ckpt_writer_put_i64s(w, "sampler.scalars", scal, 5, &werr);
    for (int k = 0; rc == 0 && k < sampler_history_count(r->smp); k++) {
        char name[CKPT_NAME_CAP];
        snprintf(name, sizeof(name), "sampler.%s", sampler_history_name(r->smp, k));
        rc = put_rows(r, wrc == 0 ? w : NULL, name, sampler_history(r->smp, k), &werr);
    }
    struct ckpt_commit_info info;
    if (rc == 0 && w && wrc == 0)
        wrc = ckpt_writer_commit(w, r->o->ckpt_dir, &info, &werr);
    ckpt_writer_free(w);
    if (rc == 0) {
        int any = render_par_any(&r->par, wrc < 0 || (w == NULL && is_root(r)), err);
        if (any < 0)
            return any;
        if (any)
            rc = is_root(r) ? (wrc < 0 ? wrc : DF_E_INTERNAL)
                            : df_err_set(&werr, DF_E_IO, "rank 0 could not write it");
    }
    if (rc < 0) {
        *err = werr;
        df_err_prefix(err, "checkpoint at step %d", next_step);
        return rc;
    }
    if (is_root(r))
        DF_INFO(r->log,
                "shot %s: checkpoint at step %d/%d: %s (%.2f MB, %.1fx smaller; encode %.2f s, "
                "write %.2f s, sync %.2f s)",
                s->id, next_step, s->steps, info.path, info.file_bytes / 1e6,
                info.file_bytes ? (double)info.raw_bytes / info.file_bytes : 0.0, info.encode_s,
                info.write_s, info.sync_s);
    r->t_last_ckpt = now_s();
    return 0;
}

static int resume_checkpoint(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    char path[4096] = "";
    int rc = 0;
    if (is_root(r)) { /* rank 0 chooses; the others open the same file */
        struct ckpt_skip_report skips;
        struct df_err ferr = {0};
        rc = ckpt_find_latest(r->o->ckpt_dir, s->id, r->shot_hash, r->weights_hash, path,
                              sizeof(path), &skips, &ferr);
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
    DF_TRY(ckpt_open(path, &rd, err));
    int64_t scal[5];
    rc = get_rows(r, rd, "latent", r->shard, err);
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
    const struct ckpt_meta *meta = ckpt_reader_meta(rd);
    if (rc == 0 && meta->step != sampler_next_step(r->smp))
        rc = df_err_set(err, DF_E_CORRUPT, "header step %lld disagrees with sampler step %d",
                        (long long)meta->step, sampler_next_step(r->smp));
    if (rc == 0 && is_root(r))
        DF_INFO(r->log, "shot %s: resumed from %s at step %lld/%d (written on %u rank%s)", s->id,
                path, (long long)meta->step, s->steps, meta->layout_world,
                meta->layout_world == 1 ? "" : "s");
    ckpt_close(rd);
    if (rc < 0)
        df_err_prefix(err, "resume from %s", path);
    r->t_last_ckpt = now_s();
    return rc;
}

/* A checkpoint is due after `done` steps by the step interval or the clock. */
static int checkpoint_due(struct render *r, int done, struct df_err *err)
{
    if (!r->o->ckpt_dir || done >= r->shot->steps)
        return 0;
    if (r->ckpt_every > 0 && done % r->ckpt_every == 0)
        return 1;
    /* clocks differ between ranks: rank 0's decides */
    int late = r->ckpt_every_s > 0 && now_s() - r->t_last_ckpt >= r->ckpt_every_s;
    return r->par.size > 1 ? render_par_any(&r->par, late && is_root(r), err) : late;
}

/* 1 when any rank was asked to stop (all ranks must stop at the same step). */
static int stop_requested(struct render *r, int done, struct df_err *err)
{
    int mine = (r->o->stop && *r->o->stop) || (r->o->stop_after > 0 && done >= r->o->stop_after);
    return r->par.size > 1 ? render_par_any(&r->par, mine, err) : mine;
}

static void fmt_duration(double s, char *buf, size_t cap)
{
    if (s < 10)
        snprintf(buf, cap, "%.3fs", s);
    else if (s < 60)
        snprintf(buf, cap, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static int denoise(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    const int steps = s->steps;
    double t_start = now_s(), comm0 = r->usp ? usp_attn_comm_seconds(r->usp) : 0;
    int first = sampler_next_step(r->smp);
    for (int i = first; i < steps; i++) {
        double t0 = now_s();
        float t = sampler_timestep(r->smp, i);
        latent_from_rows(&r->dims, r->shard, r->tok_begin, r->tok_count, r->stage);
        if (r->do_cond)
            DF_TRY(run_branch(r, t, r->text_cond, r->vel_cond, err));
        if (r->do_uncond)
            DF_TRY(run_branch(r, t, r->text_uncond, r->vel_uncond, err));
        const float *vel = r->vel_cond;
        if (r->guided) {
            DF_TRY(render_par_swap_cfg(&r->par, r->vel_cond, r->vel_uncond, r->shard_n, err));
            cfg_combine(r->vel_cond, r->vel_uncond, (float)s->guidance_scale, r->shard_n, r->vel);
            vel = r->vel;
        }
        DF_TRY(sampler_step(r->smp, i, vel, r->shard, r->shard_n, err));
        double dt = now_s() - t0, done = now_s() - t_start;
        double eta = done / (i + 1 - first) * (steps - i - 1);
        char eta_s[32], dt_s[32];
        fmt_duration(eta, eta_s, sizeof(eta_s));
        fmt_duration(dt, dt_s, sizeof(dt_s));
        if (is_root(r))
            DF_INFO(r->log, "shot %s: step %d/%d t=%.1f %s ETA %s (%s)", s->id, i + 1, steps, t,
                    dt_s, eta_s, r->guided ? "cond+uncond computed" : "cond computed");
        int stop = stop_requested(r, i + 1, err);
        if (stop < 0)
            return stop;
        stop = stop && i + 1 < steps;
        if (stop && !r->o->ckpt_dir)
            return df_err_set(err, DF_E_INVAL,
                              "asked to stop at step %d but no checkpoint directory was given",
                              i + 1);
        int due = stop ? 1 : checkpoint_due(r, i + 1, err);
        if (due < 0)
            return due;
        if (due)
            DF_TRY(save_checkpoint(r, i + 1, err));
        if (stop) {
            if (is_root(r))
                DF_INFO(r->log, "shot %s: stopping after step %d/%d on request (checkpointed)",
                        s->id, i + 1, steps);
            return RENDER_CHECKPOINTED;
        }
    }
    r->t_denoise = now_s() - t_start;
    if (r->usp && is_root(r) && r->t_denoise > 0)
        DF_INFO(r->log, "shot %s: attention communication %.1f%% of the denoise time (rank 0)",
                s->id, 100.0 * (usp_attn_comm_seconds(r->usp) - comm0) / r->t_denoise);
    /* the canonical latent, on rank 0, for the VAE and the latent file */
    return gather_canonical(r, r->shard, r->stage, err);
}

static int write_latent(struct render *r, const char *path, struct df_err *err)
{
    struct safetensors_entry e = {.name = "latent", .dtype = SAFETENSORS_DTYPE_F32, .ndim = 4,
                                  .shape = {r->dims.C, r->dims.T, r->dims.H, r->dims.W},
                                  .data = r->stage};
    return safetensors_write(path, &e, 1, NULL, 0, err);
}

/* ---- decode + encode --------------------------------------------------- */

static int mkdir_parents(const char *path, struct df_err *err)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return df_err_errno(err, DF_E_IO, "cannot create directory %s", buf);
        *p = '/';
    }
    return 0;
}

static int on_frame(void *user, int index, const float *rgb, int height, int width,
                    struct df_err *err)
{
    (void)index, (void)height, (void)width;
    return encode_frame_f32((encode_t)user, rgb, err);
}

static int write_sidecar(struct render *r, const char *out_path, int width, int height,
                         const struct encode_result *res, struct df_err *err)
{
    const struct shot *s = r->shot;
    const struct layout *l = &r->par.lay;
    char weights[24];
    snprintf(weights, sizeof(weights), "%016llx", (unsigned long long)r->weights_hash);
    int steps_run = s->steps; /* every step computes both branches until caching lands */
    struct sidecar_cache_stat cache[] = {{"cond", steps_run, 0},
                                         {"uncond", r->guided ? steps_run : 0, 0}};
    struct sidecar_timing timings[] = {{"load", r->t_load},
                                       {"denoise", r->t_denoise},
                                       {"vae_decode+encode", r->t_decode}};
    struct sidecar_info si = {
        .shot = s->id, .seed = s->seed, .prompt = s->prompt, .model = s->model,
        .weights_hash = weights,
        .layout = {l->cfg, l->ulysses, l->ring, l->world},
        .steps = s->steps, .sampler = sampler_name(s->sampler), .width = width,
        .height = height, .fps_num = s->fps, .fps_den = 1, .codec = codec_name(s->output.codec),
        .encode = res, .audio_source = s->output.audio, .cache = cache,
        .n_cache = r->guided ? 2 : 1, .timings = timings,
        .n_timings = sizeof(timings) / sizeof(timings[0]), .started = r->started,
        .finished = time(NULL)};
    return sidecar_write(out_path, &si, err);
}

/* Every rank decodes VAE tiles (vae_tiles.h); rank 0 also opens the encoder,
 * gets the blended frames and writes the file and its sidecar. */
static int finish_video(struct render *r, char *out_path, size_t out_cap, struct df_err *err)
{
    const struct shot *s = r->shot;
    const int root = is_root(r);
    char dir[PATH_MAX + 8], date[16];
    if (r->o->date) {
        snprintf(date, sizeof(date), "%s", r->o->date);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    }
    if (r->o->output)
        snprintf(out_path, out_cap, "%s", r->o->output);
    else
        DF_TRY(manifest_output_path(r->m, s, date, out_path, out_cap, err));
    if (root)
        DF_TRY(mkdir_parents(out_path, err));

    snprintf(dir, sizeof(dir), "%s/vae", r->model_dir);
    struct vae *vae = NULL;
    DF_TRY(vae_load(r->be, dir, &vae, err));
    int frames, height, width;
    vae_output_size(vae, r->dims.T, r->dims.H, r->dims.W, &frames, &height, &width);
    /* denoise() left the canonical latent on rank 0 only; the gathered rows
     * are on every rank. */
    if (!root)
        latent_from_rows(&r->dims, r->all_rows, 0, latent_tokens(&r->dims), r->stage);

    struct encode_opts eo;
    encode_opts_init(&eo, s->output.codec);
    eo.crf = s->output.crf;
    eo.bitrate = s->output.bitrate;
    eo.pix_fmt = s->output.pix_fmt[0] ? s->output.pix_fmt : NULL;
    eo.fps_num = s->fps, eo.fps_den = 1;
    eo.audio_path = s->output.audio;
    char seed[32];
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)s->seed);
    struct encode_meta meta[] = {{"shot", s->id},
                                 {"prompt", s->prompt ? s->prompt : ""},
                                 {"seed", seed},
                                 {"model", s->model}};
    eo.meta = meta;
    eo.n_meta = sizeof(meta) / sizeof(meta[0]);
    encode_t enc = NULL;
    int rc = root ? encode_open(out_path, width, height, &eo, &enc, err) : 0;
    /* All ranks or none enter the decode: it is collective. */
    if (r->par.size > 1) {
        struct df_err aerr = {0};
        int any = render_par_any(&r->par, rc < 0, &aerr);
        if (any < 0 && rc == 0)
            rc = df_err_set(err, any, "%s", aerr.msg);
        else if (any > 0 && rc == 0)
            rc = df_err_set(err, DF_E_IO, "rank 0 could not open the video encoder");
    }
    if (rc == 0) {
        double t0 = now_s();
        struct vae_tile_opts to = vae_tile_opts_default();
        vae_denormalize(vae, r->stage, r->dims.T, r->dims.H, r->dims.W);
        rc = vae_decode_tiled(vae, r->par.world, r->stage, r->dims.T, r->dims.H, r->dims.W, &to,
                              on_frame, enc, err);
        r->t_decode = now_s() - t0;
    }
    if (rc == 0 && root) {
        struct encode_result res;
        rc = encode_close(enc, &res, err);
        if (rc == 0)
            DF_INFO(r->log, "shot %s: decoded %d frames %dx%d in %.2f s, encoded %s (%s, %s)",
                    s->id, frames, width, height, r->t_decode, out_path, res.encoder,
                    res.pix_fmt);
        if (rc == 0)
            rc = write_sidecar(r, out_path, width, height, &res, err);
    } else if (enc) {
        encode_abort(enc);
    }
    vae_free(vae);
    return rc;
}

/* <ckpt_dir>/<shot>.done names the finished output: the batch script trusts
 * an exit code of 0 only when this file exists (a step that Slurm failed to
 * launch must not pass for a finished shot). */
static int write_done_marker(struct render *r, const char *out_path, struct df_err *err)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/%s.done", r->o->ckpt_dir, r->shot->id);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", out_path) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
        return df_err_errno(err, DF_E_IO, "cannot write %s", path);
    return 0;
}

/* ---- driver -------------------------------------------------------------- */

static void render_cleanup(struct render *r)
{
    sampler_free(r->smp);
    free(r->all_rows);
    usp_attn_free(r->usp);
    if (r->par_open)
        render_par_close(&r->par);
    free(r->stage);
    free(r->out_full);
    free(r->shard);
    free(r->vel_cond);
    free(r->vel_uncond);
    free(r->vel);
    free(r->text_cond);
    free(r->text_uncond);
    wan_model_free(r->dit);
    kern_backend_free(r->be);
    manifest_free(r->m);
}

int render_run(const struct render_opts *o, struct df_log *log, struct df_err *err)
{
    struct render r = {.o = o, .log = log, .started = time(NULL)};
    double t0 = now_s();
    int rc = load_shot(&r, err);
    if (rc == 0)
        rc = setup_model(&r, err);
    r.t_load = now_s() - t0;
    if (rc == 0)
        rc = setup_latent(&r, err);
    if (rc == 0) {
        const struct shot *s = r.shot;
        if (is_root(&r))
            DF_INFO(log,
                "shot %s: %dx%d, %d frames, latent %dx%dx%d (%lld tokens), %d steps %s "
                "shift %.2f, guidance %.2f, seed %llu",
                s->id, s->width, s->height, s->frames, r.dims.T, r.dims.H, r.dims.W,
                (long long)latent_tokens(&r.dims), s->steps, sampler_name(s->sampler),
                s->flow_shift, s->guidance_scale, (unsigned long long)s->seed);
        if (o->ckpt_dir) {
            char probe[PATH_MAX];
            snprintf(probe, sizeof(probe), "%s/", o->ckpt_dir);
            rc = mkdir_parents(probe, err);
            if (rc == 0)
                rc = resume_checkpoint(&r, err);
        }
        if (rc == 0)
            rc = denoise(&r, err);
    }
    if (rc == RENDER_CHECKPOINTED) {
        render_cleanup(&r);
        return rc;
    }
    if (rc == 0 && o->latent_out && is_root(&r))
        rc = write_latent(&r, o->latent_out, err);
    if (rc == 0 && !o->no_video) {
        char out_path[PATH_MAX];
        rc = finish_video(&r, out_path, sizeof(out_path), err);
        if (rc == 0 && is_root(&r))
            DF_INFO(log, "shot %s: done in %.1f s (denoise %.1f s, decode+encode %.1f s): %s",
                    r.shot->id, r.t_denoise + r.t_decode, r.t_denoise, r.t_decode, out_path);
        if (rc == 0 && o->ckpt_dir && is_root(&r))
            rc = write_done_marker(&r, out_path, err);
    }
    if (rc < 0 && r.shot)
        df_err_prefix(err, "shot %s", r.shot->id);
    render_cleanup(&r);
    return rc;
}
