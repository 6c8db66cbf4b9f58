/*
 * bench_vae.c -- the Wan VAE decode, whole and in tiles (one rank), on a
 * synthetic VAE (vae_synth.h): what the tiles' overlap costs, and the decode
 * rate on a backend.
 *
 *   bench_vae [--backend cpu|cuda] [--base N] [--T T] [--hw H,W]
 *             [--tiles TH,TW,SH,SW] [--reps R]
 *
 * Defaults: cpu, base_dim 16 (Wan2.1 has 96), latent 3x24x40, tiles
 * 16,16,12,12 (diffusers' 32/24 scaled to the small latent), best of 2.
 * Prints one line per mode with the time, frames per second and the ratio
 * of tiled to whole.  Tiled decodes more pixels (the overlaps) but holds one
 * tile of activations; on several ranks its tiles run side by side.
 */
#include "kern.h"
#include "vae.h"
#include "vae_synth.h"
#include "vae_tiles.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int count_frame(void *user, int index, const float *rgb, int height, int width,
                       struct df_err *err)
{
    (void)rgb, (void)height, (void)width, (void)err;
    *(int *)user = index + 1;
    return 0;
}

struct bench_args {
    const char *backend;
    int base, T, h, w, reps;
    struct vae_tile_opts tiles;
};

static int parse(int argc, char **argv, struct bench_args *a)
{
    *a = (struct bench_args){"cpu", 16, 3, 24, 40, 2, {16, 16, 12, 12}};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        struct vae_tile_opts *t = &a->tiles;
        if (strcmp(o, "--backend") == 0)
            a->backend = v;
        else if (strcmp(o, "--base") == 0)
            a->base = atoi(v);
        else if (strcmp(o, "--T") == 0)
            a->T = atoi(v);
        else if (strcmp(o, "--reps") == 0)
            a->reps = atoi(v);
        else if (strcmp(o, "--hw") == 0 && sscanf(v, "%d,%d", &a->h, &a->w) == 2)
            continue;
        else if (strcmp(o, "--tiles") == 0 &&
                 sscanf(v, "%d,%d,%d,%d", &t->tile_h, &t->tile_w, &t->stride_h, &t->stride_w) == 4)
            continue;
        else
            return -1;
    }
    return a->base > 0 && a->T > 0 && a->h > 0 && a->w > 0 && a->reps > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct bench_args a;
    if (parse(argc, argv, &a) < 0 || argc % 2 == 0) {
        fprintf(stderr, "usage: bench_vae [--backend cpu|cuda] [--base N] [--T T] [--hw H,W] "
                        "[--tiles TH,TW,SH,SW] [--reps R]\n");
        return 2;
    }
    char dir[] = "/tmp/df_bench_vae_XXXXXX";
    struct df_err err = {0};
    kern_backend_t be = NULL;
    struct vae *vae = NULL;
    float *lat = NULL;
    int rc = 1;
    struct vae_synth_opts so = {.base_dim = a.base, .z_dim = 16, .num_res_blocks = 2, .seed = 1};
    if (!mkdtemp(dir) || vae_synth_write(dir, &so, &err) < 0 ||
        kern_backend_create(a.backend, 0, &be, &err) < 0 || vae_load(be, dir, &vae, &err) < 0)
        goto out;
    size_t n = (size_t)16 * a.T * a.h * a.w;
    if (!(lat = malloc(n * sizeof(float))))
        goto out;
    for (size_t i = 0; i < n; i++)
        lat[i] = (float)sin(0.01 * (double)i);
    int F, H, W;
    vae_output_size(vae, a.T, a.h, a.w, &F, &H, &W);
    struct vae_tile_plan plan;
    if (vae_tiles_plan(&a.tiles, a.h, a.w, &plan, &err) < 0)
        goto out;
    printf("VAE base_dim %d on %s: latent %dx%dx%d -> %d frames %dx%d; tiles %dx%d every %dx%d "
           "(%dx%d grid); best of %d\n",
           a.base, a.backend, a.T, a.h, a.w, F, H, W, a.tiles.tile_h, a.tiles.tile_w,
           a.tiles.stride_h, a.tiles.stride_w, plan.n_rows, plan.n_cols, a.reps);
    double best[2] = {INFINITY, INFINITY};
    for (int mode = 0; mode < 2; mode++)
        for (int r = 0; r <= a.reps; r++) { /* rep 0 warms up */
            int frames = 0;
            double t0 = now_s();
            int drc = mode == 0 ? vae_decode(vae, lat, a.T, a.h, a.w, count_frame, &frames, &err)
                                : vae_decode_tiled(vae, NULL, lat, a.T, a.h, a.w, &a.tiles,
                                                   count_frame, &frames, &err);
            double dt = now_s() - t0;
            if (drc < 0 || frames != F)
                goto out;
            if (r > 0 && dt < best[mode])
                best[mode] = dt;
        }
    printf("whole   %9.1f ms   %6.2f frames/s\n", 1e3 * best[0], F / best[0]);
    printf("tiled   %9.1f ms   %6.2f frames/s   %.2fx whole (one rank)\n", 1e3 * best[1],
           F / best[1], best[1] / best[0]);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "bench_vae: %s\n", err.msg[0] ? err.msg : "failed");
    free(lat);
    vae_free(vae);
    kern_backend_free(be);
    char path[600];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/diffusion_pytorch_model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    return rc;
}
