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
#include "render_int.h"

#include "cfg.h"
#include "job_contract.h"
#include "kern.h"
#include "latent_shard.h"
#include "manifest.h"
#include "model_id.h"
#include "noise.h"
#include "paths.h"
#include "preview.h"
#include "progress_file.h"
#include "render_par.h"
#include "safetensors.h"
#include "sampler.h"
#include "render_sched.h"
#include "render_text.h"
#include "usp_attn.h"
#include "encode.h"
#include "family.h"
#include "vae.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void render_opts_init(struct render_opts *o)
{
    memset(o, 0, sizeof(*o));
}

/* ---- setup ------------------------------------------------------------- */

/* No job.json: load the manifest and resolve the shot in-process, through
 * the controller's own job_contract_resolve (no plan: the ranks plan for the
 * world they get). */
static int resolve_manifest(struct render *r, struct df_err *err)
{
    char configs[PATH_MAX];
    DF_TRY(paths_configs_dir(r->o->configs_dir, configs, sizeof(configs), err));
    struct diag_list dl = {0};
    struct manifest *m = NULL;
    int rc = manifest_load(r->o->manifest, configs, &m, &dl, err);
    for (size_t i = 0; rc < 0 && i < dl.count; i++) {
        char line[DIAG_LINE_CAP];
        diag_format(&dl.items[i], line, sizeof(line));
        DF_ERROR(r->log, "%s", line);
    }
    diag_list_clear(&dl);
    DF_TRY(rc);
    int idx = 0;
    if (r->o->shot_id) {
        idx = manifest_find_shot(m, r->o->shot_id);
        if (idx < 0)
            rc = df_err_set(err, DF_E_NOTFOUND, "%s: no shot '%s'", r->o->manifest,
                            r->o->shot_id);
    } else if (m->n_shots != 1) {
        rc = df_err_set(err, DF_E_INVAL, "%s has %zu shots: name one with --shot",
                        r->o->manifest, m->n_shots);
    }
    const struct shot *s = rc == 0 ? &m->shots[idx] : NULL;
    if (s && !s->geom.path[0])
        rc = df_err_set(err, DF_E_UNSUPPORTED,
                        "%s:%d:%d: shot '%s': model '%s' is a geometry-only config with no "
                        "weights folder; point `model:` at a diffusers model folder",
                        s->file, s->line, s->col, s->id, s->model);
    if (rc == 0) {
        struct job_contract_opts co;
        job_contract_opts_init(&co);
        co.backend = r->o->backend ? r->o->backend : "cpu";
        co.date = r->o->date;
        co.configs_dir = configs;
        co.output = r->o->output;
        rc = job_contract_resolve(m, s, &co, &r->job, err);
    }
    manifest_free(m);
    return rc;
}

static int load_shot(struct render *r, struct df_err *err)
{
    if (r->o->job)
        DF_TRY(job_contract_read(r->o->job, &r->job, err));
    else
        DF_TRY(resolve_manifest(r, err));
    struct job_contract *jc = &r->job;
    /* command-line overrides (tests, hand runs) */
    if (r->o->backend)
        snprintf(jc->backend, sizeof(jc->backend), "%s", r->o->backend);
    if (r->o->output)
        snprintf(jc->output, sizeof(jc->output), "%s", r->o->output);
    r->shot = &jc->shot;
    DF_FAIL_IF(!r->shot->geom.path[0], err, DF_E_UNSUPPORTED,
               "shot '%s': model '%s' has no weights folder; point `model:` at a diffusers "
               "model folder", r->shot->id, r->shot->model);
    if (jc->job_dir[0])
        snprintf(r->progress_path, sizeof(r->progress_path), "%s/progress.json", jc->job_dir);
    return 0;
}

int render_is_root(const struct render *r)
{
    return r->par.rank == 0;
}

/* Ranks, layout and this rank's tokens, before anything is loaded: the local
 * rank picks the GPU.  A single process is rank 0 of 1 with every token. */
static int open_parallel(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    const struct model_geom *g = &s->geom;
    const int64_t row = (int64_t)g->in_channels * g->patch[0] * g->patch[1] * g->patch[2];
    r->guided = r->job.guided;
    r->par_open = 1; /* render_par_close undoes whatever part of the open happened */
    const struct backend_desc *bd = backend_desc_find(r->job.backend);
    DF_FAIL_IF(!bd, err, DF_E_UNSUPPORTED, "backend '%s' is unknown", r->job.backend);
    DF_TRY(render_par_open(&r->par, &r->job, bd->device == LAYOUT_DEVICE_GPU, row,
                           r->o->layout[0] ? r->o->layout : NULL, err));
    const struct layout *l = &r->par.lay;
    r->do_cond = l->cfg == 1 || r->par.cfg_idx == 0;
    r->do_uncond = r->guided && (l->cfg == 1 || r->par.cfg_idx == 1);
    if (r->par.size > 1)
        df_log_set_rank(r->log, r->par.rank);
    char desc[256];
    layout_describe(l, desc, sizeof(desc));
    if (render_is_root(r) && r->par.replanned)
        DF_WARN(r->log, "shot %s: replanned: job.json planned %s, but this job has %d rank%s: "
                "running %s (the sidecar records both)", s->id, r->par.planned_desc,
                r->par.size, r->par.size == 1 ? "" : "s", desc);
    if (render_is_root(r))
        DF_INFO(r->log, "shot %s: layout %s, %lld tokens (%lld padding), rank 0 owns [%lld, %lld)",
                s->id, desc, (long long)l->seq_len, (long long)l->pad_tokens,
                (long long)r->par.tok_begin, (long long)(r->par.tok_begin + r->par.tok_count));
    DF_DEBUG(r->log, "tokens [%lld, %lld), cfg %d ring %d ulysses %d", (long long)r->par.tok_begin,
             (long long)(r->par.tok_begin + r->par.tok_count), r->par.cfg_idx, r->par.ring_idx,
             r->par.uly_idx);
    return 0;
}

/* The USP attention hook when the sequence is split over ranks; checks the
 * loaded model agrees with the geometry the layout was planned from. */
static int setup_attention(struct render *r, const struct family_info *fi, struct df_err *err)
{
    const struct layout *l = &r->par.lay;
    int64_t tokens = family_tokens(r->md->dit, &r->md->shape, err);
    DF_TRY(tokens < 0 ? (int)tokens : 0);
    DF_FAIL_IF(l->seq_len != tokens || tokens != latent_tokens(&r->lat->dims) ||
                   r->par.row != latent_row_size(&r->lat->dims),
               err, DF_E_INVAL,
               "model folder %s disagrees with its geometry '%s': %lld tokens x %lld per token "
               "planned, the weights give %lld x %lld",
               r->md->dir, r->shot->geom.name, (long long)l->seq_len, (long long)r->par.row,
               (long long)tokens, (long long)latent_row_size(&r->lat->dims));
    if (r->par.size == 1)
        return 0;
    struct usp_attn_shape ush = {.ulysses = l->ulysses, .ring = l->ring,
                                 .uly_idx = r->par.uly_idx, .ring_idx = r->par.ring_idx,
                                 .chunk = l->chunk, .seq_len = l->seq_len,
                                 .heads = fi->num_heads, .head_dim = fi->head_dim,
                                 .stage = r->o->usp_stage};
    const struct comm_groups *g = r->par.dev_world ? &r->par.dg : &r->par.g; /* NCCL on GPUs */
    return render_model_split(r->md, g->ulysses, g->ring, &ush, err);
}

/* Every part the shot needs after the loop, loaded or checked now, so a
 * broken vae/ folder, a missing encoder or audio file fails before step 1
 * instead of after the last. */
static int setup_parts(struct render *r, struct df_err *err)
{
    if (r->o->no_video)
        return 0;
    const struct shot_output *out = &r->shot->output;
    DF_FAIL_IF(!encode_codec_available(out->codec), err, DF_E_UNSUPPORTED,
               "output codec %s: this FFmpeg has no %s encoder", codec_name(out->codec),
               encode_encoder_name(out->codec));
    if (out->audio) /* opened as the encoder will: a garbage file fails now */
        DF_TRY(encode_audio_check(out->audio, err));
    return render_model_load_vae(r->md, r->lat->dims.layout == 1, r->lat->dims.C, err);
}

static int setup_model(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    /* the local rank picks the GPU: ranks sharing a node spread over its devices */
    double t0 = df_clock_s();
    DF_TRY(render_model_create(r->job.backend, r->o->threads, r->par.boot.info.local_rank,
                               s->geom.path, &r->md, err));
    const struct family_info fi = r->md->fi;
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/transformer", r->md->dir);
    DF_DEBUG(r->log, "loaded %s (%s): dim %d, %d heads in %.2f s (backend %s)", dir, fi.name,
             fi.dim, fi.num_heads, df_clock_s() - t0, kern_backend_name(r->md->be));
    render_ckpt_init(r);

    r->text_len = s->geom.text_len > 0 ? s->geom.text_len : 512;
    /* The latent in the family's own layout; with joint attention (CogVideoX)
     * the text tokens lead the sequence the ranks split (latent_shard.h). */
    const struct latent_dims dims = {.C = fi.in_channels, .T = s->grid.latent[0],
                                     .H = s->grid.latent[1], .W = s->grid.latent[2],
                                     .pt = fi.patch[0], .ph = fi.patch[1], .pw = fi.patch[2],
                                     .layout = fi.layout == FAMILY_LAYOUT_TCHW,
                                     .text = fi.text_in_sequence ? r->text_len : 0};
    DF_FAIL_IF(fi.out_channels != fi.in_channels, err, DF_E_UNSUPPORTED,
               "%s: out_channels %d != in_channels %d: not a text-to-video model", dir,
               fi.out_channels, fi.in_channels);
    r->text_dim = fi.text_dim;
    r->text_rows_whole = fi.text_rows_whole;
    DF_TRY(render_latent_create(&dims, r->par.tok_begin, r->par.tok_count, s->seed, &r->lat, err));
    r->md->shape = (struct family_shape){.frames = r->lat->dims.T, .height = r->lat->dims.H,
                                     .width = r->lat->dims.W, .text_len = r->text_len,
                                     .tok_begin = r->par.tok_begin, .tok_count = r->par.tok_count,
                                     .ofs = 2.0f /* CogVideoX 1.5's ofs, as its pipelines pass it */};
    DF_TRY(setup_attention(r, &fi, err));
    DF_TRY(family_reserve(r->md->dit, &r->md->shape, err));
    DF_TRY(setup_parts(r, err));

    DF_TRY(render_text_setup(r, err));
    return 0;
}

/* Noise a stochastic sampler (cogvideox_dpm) draws inside step `step`: draw
 * `draw` is noise_fill of a seed derived from the shot's, over the
 * token-major row space the sampler steps -- the same values for every
 * sharding and on resume. */
static int step_noise(void *user, int step, int draw, size_t offset, size_t n, float *dst,
                      struct df_err *err)
{
    (void)err;
    const uint64_t seed = ((const struct render *)user)->shot->seed;
    noise_fill(seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(2 * step + draw + 1)), offset, n, dst);
    return 0;
}

/* The sampler for this rank's shard (the latent itself is made with the
 * model: render_latent.h). */
static int setup_sampler(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;

    struct sampler_config sc;
    sampler_config_init(&sc, s->sampler);
    sc.steps = s->steps;
    sc.shift = s->flow_shift;
    DF_TRY(render_sched_apply(r, &sc, err));
    size_t total = (size_t)(latent_tokens(&r->lat->dims) * latent_row_size(&r->lat->dims));
    size_t offset = (size_t)(r->par.tok_begin * latent_row_size(&r->lat->dims));
    DF_TRY(sampler_create(&sc, offset, r->lat->shard_n, total, &r->smp, err));
    sampler_set_noise(r->smp, step_noise, r);
    return 0;
}

/* ---- denoise ------------------------------------------------------------ */

/* One guidance branch on this rank's tokens: velocity rows for the shard. */
static int run_branch(struct render *r, int step, float t, enum stepcache_branch b,
                      float *vel_rows, struct df_err *err)
{
    const float *text = b == STEPCACHE_BRANCH_COND ? r->text_cond : r->text_uncond;
    DF_TRY(stepcache_forward(r->cache.sc, r->md->dit, &r->md->shape, r->lat->stage, t, text, step, b, r->lat->out_full,
                             err));
    latent_to_rows(&r->lat->dims, r->lat->out_full, r->par.tok_begin, r->par.tok_count, vel_rows);
    return 0;
}

static int stop_requested(struct render *r, int done, struct df_err *err)
{
    int mine = (r->o->stop && *r->o->stop) || (r->o->stop_after > 0 && done >= r->o->stop_after);
    return r->par.size > 1 ? render_par_any(&r->par, mine, err) : mine;
}

/* <job_dir>/progress.json after `done` steps (rank 0; lib/progress_file.h).
 * A progress file that cannot be written costs a warning, never the shot. */
static void write_progress(struct render *r, int done, double per_step, double eta,
                           const char *state)
{
    if (!r->progress_path[0] || !render_is_root(r))
        return;
    struct progress_file p = {.step = done, .steps = r->shot->steps, .seconds_per_step = per_step,
                              .eta_s = eta, .last_ckpt_step = r->ck.last_step,
                              .updated = (int64_t)time(NULL)};
    snprintf(p.shot, sizeof(p.shot), "%s", r->shot->id);
    snprintf(p.state, sizeof(p.state), "%s", state);
    for (int i = 0; i < done; i++)
        for (int b = 0; b < (r->guided ? 2 : 1); b++) {
            enum stepcache_action a = stepcache_mask_action(&r->cache.mask, i, (enum stepcache_branch)b);
            if (a == STEPCACHE_ACTION_SKIP || a == STEPCACHE_ACTION_REUSE_COND)
                p.cache_skipped++;
            else
                p.cache_computed++;
        }
    struct df_err perr = {0};
    if (progress_file_write(r->progress_path, &p, &perr) < 0)
        DF_WARN(r->log, "shot %s: %s", r->shot->id, perr.msg);
}

/* The guidance scale of the step at timestep t: the shot's, or with
 * dynamic_cfg CogVideoXPipeline's use_dynamic_cfg schedule of the TIMESTEP
 * (not the step index), in double as Python computes it. */
static float guidance_at(const struct shot *s, float t)
{
    const double g = s->guidance_scale, N = s->steps;
    if (!s->dynamic_cfg)
        return (float)g;
    return (float)(1.0 + g * ((1.0 - cos(M_PI * pow((N - (double)t) / N, 5.0))) / 2.0));
}

static int denoise(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    const int steps = s->steps;
    double t_start = df_clock_s(), comm0 = r->md->usp ? usp_attn_comm_seconds(r->md->usp) : 0;
    int first = sampler_next_step(r->smp);
    for (int i = first; i < steps; i++) {
        double t0 = df_clock_s();
        float t = sampler_timestep(r->smp, i);
        latent_from_rows(&r->lat->dims, r->lat->shard, r->par.tok_begin, r->par.tok_count, r->lat->stage);
        if (r->do_cond)
            DF_TRY(run_branch(r, i, t, STEPCACHE_BRANCH_COND, r->lat->vel_cond, err));
        if (r->do_uncond)
            DF_TRY(run_branch(r, i, t, STEPCACHE_BRANCH_UNCOND, r->lat->vel_uncond, err));
        const float *vel = r->lat->vel_cond;
        if (r->guided) {
            DF_TRY(render_par_swap_cfg(&r->par, r->lat->vel_cond, r->lat->vel_uncond, r->lat->shard_n, err));
            cfg_combine(r->lat->vel_cond, r->lat->vel_uncond, guidance_at(s, t), r->lat->shard_n,
                        r->lat->vel);
            vel = r->lat->vel;
        }
        DF_TRY(sampler_step(r->smp, i, vel, r->lat->shard, r->lat->shard_n, err));
        preview_step(r, i + 1, vel); /* rank 0, every few steps: <job_dir>/preview.png */
        double dt = df_clock_s() - t0, done = df_clock_s() - t_start;
        double eta = done / (i + 1 - first) * (steps - i - 1);
        char eta_s[32], dt_s[32], what[96];
        progress_file_fmt_duration(eta, eta_s, sizeof(eta_s));
        progress_file_fmt_duration(dt, dt_s, sizeof(dt_s));
        if (render_is_root(r))
            DF_INFO(r->log, "shot %s: step %d/%d t=%.1f %s ETA %s (%s)", s->id, i + 1, steps, t,
                    dt_s, eta_s, stepcache_mask_describe(&r->cache.mask, i, what, sizeof(what)));
        write_progress(r, i + 1, done / (i + 1 - first), eta, "running");
        int stop = stop_requested(r, i + 1, err);
        if (stop < 0)
            return stop;
        stop = stop && i + 1 < steps;
        if (stop && !r->o->ckpt_dir)
            return df_err_set(err, DF_E_INVAL,
                              "asked to stop at step %d but no checkpoint directory was given",
                              i + 1);
        int due = stop ? 1 : render_ckpt_due(r, i + 1, err);
        if (due < 0)
            return due;
        if (due)
            DF_TRY(render_ckpt_save(r, i + 1, err));
        if (stop) {
            DF_TRY(render_ckpt_flush(r, err)); /* durable before we exit 3 */
            write_progress(r, i + 1, done / (i + 1 - first), -1, "checkpointed");
            if (render_is_root(r))
                DF_INFO(r->log, "shot %s: stopping after step %d/%d on request (checkpointed)",
                        s->id, i + 1, steps);
            return RENDER_CHECKPOINTED;
        }
    }
    DF_TRY(render_ckpt_flush(r, err));
    r->t_denoise = df_clock_s() - t_start;
    write_progress(r, steps, steps > first ? r->t_denoise / (steps - first) : -1, 0, "running");
    if (r->md->usp && render_is_root(r) && r->t_denoise > 0)
        DF_INFO(r->log, "shot %s: attention communication %.1f%% of the denoise time (rank 0)",
                s->id, 100.0 * (usp_attn_comm_seconds(r->md->usp) - comm0) / r->t_denoise);
    /* the canonical latent, on rank 0, for the VAE and the latent file */
    return render_gather_canonical(r, r->lat->shard, r->lat->stage, err);
}

static int write_latent(struct render *r, const char *path, struct df_err *err)
{
    struct safetensors_entry e = {.name = "latent", .dtype = SAFETENSORS_DTYPE_F32, .ndim = 4,
                                  .shape = {r->lat->dims.C, r->lat->dims.T, r->lat->dims.H, r->lat->dims.W},
                                  .data = r->lat->stage};
    return safetensors_write(path, &e, 1, NULL, 0, err);
}

/* ---- driver -------------------------------------------------------------- */

static void render_cleanup(struct render *r)
{
    render_ckpt_fini(r);
    preview_free(r->preview);
    sampler_free(r->smp);
    render_cache_fini(&r->cache);
    render_model_unsplit(r->md);
    if (r->par_open)
        render_par_close(&r->par);
    render_latent_free(r->lat);
    free(r->text_cond);
    free(r->text_uncond);
    render_model_free(r->md);
    job_contract_free(&r->job);
}

int render_run(const struct render_opts *o, struct df_log *log, struct df_err *err)
{
    struct render r = {.o = o, .log = log, .started = time(NULL)};
    double t0 = df_clock_s();
    int rc = load_shot(&r, err);
    if (rc == 0)
        rc = open_parallel(&r, err);
    if (rc == 0)
        rc = setup_model(&r, err);
    r.t_load = df_clock_s() - t0;
    if (rc == 0)
        rc = setup_sampler(&r, err);
    if (rc == 0)
        rc = render_cache_setup(&r, err);
    if (rc == 0) {
        const struct shot *s = r.shot;
        if (render_is_root(&r))
            DF_INFO(log,
                "shot %s: %dx%d, %d frames, latent %dx%dx%d (%lld tokens), %d steps %s "
                "shift %.2f, guidance %.2f, seed %llu",
                s->id, s->width, s->height, s->frames, r.lat->dims.T, r.lat->dims.H, r.lat->dims.W,
                (long long)latent_tokens(&r.lat->dims), s->steps, sampler_kind_name(s->sampler),
                s->flow_shift, s->guidance_scale, (unsigned long long)s->seed);
        if (o->ckpt_dir) {
            rc = paths_mkdirs(o->ckpt_dir, err);
            if (rc == 0)
                rc = render_ckpt_resume(&r, err);
        }
        if (rc == 0)
            rc = denoise(&r, err);
    }
    if (rc == RENDER_CHECKPOINTED) {
        render_cleanup(&r);
        return rc;
    }
    if (rc == 0 && o->latent_out && render_is_root(&r))
        rc = write_latent(&r, o->latent_out, err);
    if (rc == 0 && !o->no_video) {
        char out_path[PATH_MAX];
        rc = render_video_finish(&r, out_path, sizeof(out_path), err);
        if (rc == 0 && render_is_root(&r))
            DF_INFO(log, "shot %s: done in %.1f s (denoise %.1f s, decode+encode %.1f s): %s",
                    r.shot->id, r.t_denoise + r.t_decode, r.t_denoise, r.t_decode, out_path);
        if (rc == 0 && o->ckpt_dir && render_is_root(&r))
            rc = render_video_done_marker(&r, out_path, err);
        if (rc == 0)
            write_progress(&r, r.shot->steps, -1, 0, "done");
    }
    if (rc < 0 && r.shot)
        df_err_prefix(err, "shot %s", r.shot->id);
    render_cleanup(&r);
    return rc;
}
