/*
 * render_video.c -- the end of a render (render_int.h): the VAE decode, tiled
 * over every rank (vae_tiles.h); on rank 0 the encoder, the sidecar JSON and
 * the done marker the batch script trusts.
 */
#include "render_int.h"
#include "worker_exit.h"

#include "encode.h"
#include "paths.h"
#include "safeio.h"
#include "sidecar.h"
#include "stepcache.h"

#include <cjson/cJSON.h>
#include "vae.h"
#include "vae_tiles.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    snprintf(weights, sizeof(weights), "%016llx", (unsigned long long)r->md->weights_hash);
    /* what the whole shot did, from the mask every rank applied */
    struct sidecar_cache_stat cache[] = {{"cond", 0, 0}, {"uncond", 0, 0}, {"cfg", 0, 0}};
    for (int i = 0; i < s->steps; i++) {
        for (int b = 0; b < (r->guided ? 2 : 1); b++) {
            enum stepcache_action a = stepcache_mask_action(&r->cache.mask, i, (enum stepcache_branch)b);
            if (a == STEPCACHE_ACTION_REUSE_COND)
                cache[2].skipped++;
            else if (a == STEPCACHE_ACTION_SKIP)
                cache[b].skipped++;
            else
                cache[b].computed++;
        }
    }
    cache[2].computed = r->guided ? s->steps - cache[2].skipped : 0;
    struct cJSON *plan = stepcache_mask_json(&r->cache.mask);
    const struct layout *pl = &r->job.lay;
    struct sidecar_layout planned = {pl->cfg, pl->ulysses, pl->ring, pl->world};
    struct sidecar_timing timings[] = {{"load", r->t_load},
                                       {"text_encode", r->t_text},
                                       {"denoise", r->t_denoise},
                                       {"vae_decode+encode", r->t_decode}};
    struct sidecar_info si = {
        .shot = s->id, .seed = s->seed, .prompt = s->prompt, .text_source = r->text_source, .model = s->model,
        .weights_hash = weights,
        .layout = {l->cfg, l->ulysses, l->ring, l->world},
        .planned = r->job.planned ? &planned : NULL, .replanned = r->par.replanned,
        .steps = s->steps, .sampler = sampler_kind_name(s->sampler), .width = width,
        .height = height, .fps_num = s->fps, .fps_den = 1, .codec = codec_name(s->output.codec),
        .encode = res, .audio_source = s->output.audio, .cache = cache,
        .n_cache = r->guided ? 3 : 1, .cache_plan = plan, .timings = timings,
        .n_timings = sizeof(timings) / sizeof(timings[0]), .started = r->started,
        .finished = time(NULL)};
    int rc = sidecar_write(out_path, &si, err);
    cJSON_Delete(plan);
    return rc;
}

/* CogVideoX: diffusers' tiled_decode (the pipeline after
 * vae.enable_tiling(), as the CogVideoX model cards run it) whenever the
 * latent is larger than one tile, its tiles spread over every rank and
 * blended on rank 0 -- the same frames for any rank count; a latent that
 * fits one tile decodes whole on rank 0.  Frame chunks and their per-chunk
 * group norms as diffusers (cogvideox_vae.h). */
static int decode_cogvideox(struct render *r, encode_t enc, struct df_err *err)
{
    const struct latent_dims *d = &r->lat->dims;
    const int root = render_is_root(r);
    /* CogVideoX 1.5: the pipeline's latents[:, additional_frames:] -- the
     * padding frames in front of the frame-major latent are not decoded. */
    const int pad = r->shot->grid.latent_pad, T = d->T - pad;
    const float *lat = r->lat->stage + (size_t)pad * d->C * d->H * d->W;
    int frames, height, width;
    cogvideox_vae_output_size(r->md->cvae, T, d->H, d->W, &frames, &height, &width);
    const size_t plane = (size_t)height * width;
    float *video = root ? malloc((size_t)3 * frames * plane * sizeof *video) : NULL;
    float *rgb = root ? malloc(3 * plane * sizeof *rgb) : NULL;
    int rc = !root || (video && rgb) ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory for the video");
    if (rc == 0) /* collective: every rank enters it */
        rc = cogvideox_vae_decode_ranks(r->md->cvae, r->par.size > 1 ? r->par.world : NULL,
                                        lat, T, d->H, d->W, video, err);
    for (int f = 0; root && f < frames && rc == 0; f++) {
        for (int c = 0; c < 3; c++) /* [3, T, H, W] -> frame [3, H, W] */
            memcpy(rgb + c * plane, video + ((size_t)c * frames + f) * plane,
                   plane * sizeof *rgb);
        rc = on_frame(enc, f, rgb, height, width, err);
    }
    if (rc == 0 && root)
        DF_INFO(r->log, "shot %s: CogVideoX VAE: %d tiles over %d rank%s", r->shot->id,
                cogvideox_vae_tiles(r->md->cvae, d->H, d->W), r->par.size, r->par.size == 1 ? "" : "s");
    free(video);
    free(rgb);
    return rc;
}

/* The controller confined the output under job.json output.root, but a
 * directory on the way may have been swapped for a link since: walk from the
 * root to the output's directory without following links (safeio_mkdirs_at,
 * creating what is missing) and write through that directory descriptor,
 * /proc/self/fd/N/<name> (the encoder's and the sidecar's temp + rename
 * happen in it), so a link planted later cannot redirect the writes either.
 * No root recorded (a contract written by hand or by `ditfarm render`): the
 * directories are made as before and the path is used as it is. */
static int open_output_dir(const struct render *r, const char *out_path, char *wpath, size_t cap,
                           int *dir_fd, struct df_err *err)
{
    const char *root = r->job.output_root;
    *dir_fd = -1;
    if (!root[0]) {
        snprintf(wpath, cap, "%s", out_path);
        return paths_mkdirs_for(out_path, err);
    }
    size_t rn = strlen(root);
    const char *slash = strrchr(out_path, '/');
    DF_FAIL_IF(strncmp(out_path, root, rn) != 0 || out_path[rn] != '/' || !slash || !slash[1],
               err, DF_E_INVAL, "output %s is not under its output root %s (job.json output.root)",
               out_path, root);
    char rel[PATH_MAX];
    snprintf(rel, sizeof(rel), "%.*s", (int)(slash > out_path + rn ? slash - out_path - rn - 1 : 0),
             out_path + rn + 1);
    int rc = safeio_mkdirs_at(AT_FDCWD, root, rel, 0755, dir_fd, err);
    if (rc < 0) {
        df_err_prefix(err, "output %s: refused to write under root %s", out_path, root);
        return rc;
    }
    int w = snprintf(wpath, cap, "/proc/self/fd/%d/%s", *dir_fd, slash + 1);
    if (w < 0 || (size_t)w >= cap) {
        close(*dir_fd);
        *dir_fd = -1;
        return df_err_set(err, DF_E_RANGE, "output path %s too long", out_path);
    }
    return 0;
}

/* Every rank decodes VAE tiles (vae_tiles.h); rank 0 also opens the encoder,
 * gets the blended frames and writes the file and its sidecar. */
int render_video_finish(struct render *r, char *out_path, size_t out_cap, struct df_err *err)
{
    const struct shot *s = r->shot;
    const int root = render_is_root(r);

    /* the controller resolved the path (job.json output.path) */
    DF_FAIL_IF(strlen(r->job.output) >= out_cap, err, DF_E_RANGE, "output path longer than %zu",
               out_cap - 1);
    snprintf(out_path, out_cap, "%s", r->job.output);
    char wpath[PATH_MAX + 32]; /* where rank 0 writes: out_path, or through the checked dir */
    int dir_fd = -1;
    if (root)
        DF_TRY(open_output_dir(r, out_path, wpath, sizeof(wpath), &dir_fd, err));

    struct vae *vae = r->md->vae; /* loaded at set-up (render.c, setup_parts) */
    int frames, height, width;
    if (r->md->cvae)
        cogvideox_vae_output_size(r->md->cvae, r->lat->dims.T - s->grid.latent_pad, r->lat->dims.H,
                                  r->lat->dims.W, &frames, &height, &width);
    else
        vae_output_size(vae, r->lat->dims.T, r->lat->dims.H, r->lat->dims.W, &frames, &height,
                        &width);
    /* denoise() left the canonical latent on rank 0 only; the gathered rows
     * are on every rank. */
    if (!root)
        latent_from_rows(&r->lat->dims, r->lat->all_rows, 0, latent_tokens(&r->lat->dims), r->lat->stage);

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
    int rc = root ? encode_open(wpath, width, height, &eo, &enc, err) : 0;
    /* All ranks or none enter the decode: it is collective. */
    if (r->par.size > 1) {
        struct df_err aerr = {0};
        int any = render_par_any(&r->par, rc < 0, &aerr);
        if (any < 0 && rc == 0)
            rc = df_err_set(err, any, "%s", aerr.msg);
        else if (any > 0 && rc == 0)
            rc = df_err_set(err, DF_E_IO, "rank 0 could not open the video encoder");
    }
    if (rc == 0 && r->md->cvae) {
        double t0 = df_clock_s();
        rc = decode_cogvideox(r, enc, err);
        r->t_decode = df_clock_s() - t0;
    } else if (rc == 0) {
        double t0 = df_clock_s();
        struct vae_tile_opts to = vae_tile_opts_default();
        vae_denormalize(vae, r->lat->stage, r->lat->dims.T, r->lat->dims.H, r->lat->dims.W);
        rc = vae_decode_tiled(vae, r->par.world, r->lat->stage, r->lat->dims.T, r->lat->dims.H, r->lat->dims.W, &to,
                              on_frame, enc, err);
        r->t_decode = df_clock_s() - t0;
    }
    if (rc == 0 && root) {
        struct encode_result res;
        rc = encode_close(enc, &res, err);
        if (rc == 0)
            DF_INFO(r->log, "shot %s: decoded %d frames %dx%d in %.2f s, encoded %s (%s, %s)",
                    s->id, frames, width, height, r->t_decode, out_path, res.encoder,
                    res.pix_fmt);
        if (rc == 0)
            rc = write_sidecar(r, wpath, width, height, &res, err);
    } else if (enc) {
        encode_abort(enc);
    }
    if (dir_fd >= 0)
        close(dir_fd);
    return rc;
}

/* <ckpt_dir>/<shot>.done names the finished output: the batch script trusts
 * an exit code of 0 only when this file exists (a step that Slurm failed to
 * launch must not pass for a finished shot). */
int render_video_done_marker(struct render *r, const char *out_path, struct df_err *err)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    DF_FAIL_IF(worker_done_path(r->o->ckpt_dir, r->shot->id, path, sizeof(path)) < 0, err,
               DF_E_RANGE, "done marker path in %s too long", r->o->ckpt_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", out_path) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
        return df_err_errno(err, DF_E_IO, "cannot write %s", path);
    return 0;
}
