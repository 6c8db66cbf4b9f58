/*
 * bench_preview.c -- what a render preview (worker/render/preview.h) costs at
 * the Wan2.1 480p latent of 81 frames, [16, 21, 60, 104] with 1x2x2 patches
 * (32,760 tokens), next to a memcpy and an Euler sampler step of the same
 * rows (memory-bound floors measured in the same run), for rank 0 of 1 and
 * rank 0 of 8; then the one-time fit of the linear latent->RGB map against a
 * VAE decoder (the tiny demo VAE here; configs/models/tiny).
 *
 *     bench_preview [preview.png path]
 */
#include "preview.h"
#include "kern.h"
#include "sampler.h"
#include "vae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *floats(size_t n)
{
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_preview: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    return p;
}

static void one_world(int world, const char *path)
{
    struct latent_dims d = {.C = 16, .T = 21, .H = 60, .W = 104, .pt = 1, .ph = 2, .pw = 2};
    int64_t tokens = latent_tokens(&d), count = (tokens + world - 1) / world;
    size_t n = (size_t)(count * latent_row_size(&d));
    float *x = floats(n), *v = floats(n), *y = floats(n);
    struct preview_map m = {.z_dim = 16};
    for (int c = 0; c < 3; c++)
        for (int z = 0; z < 16; z++)
            m.w[c][z] = 0.05f * (float)((c + 1) * (z % 5) - 4);
    struct df_err err = {0};
    double best_p = 1e30, best_m = 1e30, best_e = 1e30;
    for (int k = 0; k < 7; k++) {
        double t0 = now_s();
        if (preview_write(&m, &d, x, 0, count, 1.0f, 0.3f, v, path, &err) < 0) {
            fprintf(stderr, "bench_preview: %s\n", err.msg);
            exit(1);
        }
        double t1 = now_s();
        memcpy(y, x, n * sizeof(float));
        double t2 = now_s();
        best_p = t1 - t0 < best_p ? t1 - t0 : best_p;
        best_m = t2 - t1 < best_m ? t2 - t1 : best_m;
    }
    struct sampler_config cfg;
    sampler_config_init(&cfg, SAMPLER_KIND_EULER);
    cfg.steps = 12;
    sampler_t s = NULL;
    if (sampler_create(&cfg, 0, n, n, &s, &err) == 0) {
        for (int i = 0; i < 8; i++) {
            double t0 = now_s();
            sampler_step(s, i, v, y, n, &err);
            double t = now_s() - t0;
            best_e = t < best_e ? t : best_e;
        }
        sampler_free(s);
    }
    FILE *f = fopen(path, "rb");
    long bytes = 0;
    if (f && fseek(f, 0, SEEK_END) == 0)
        bytes = ftell(f);
    if (f)
        fclose(f);
    printf("rank 0 of %d (%lld tokens): preview %7.2f ms  memcpy %6.2f ms (%.1fx)  euler step "
           "%6.2f ms (%.1fx)  png %ld bytes\n",
           world, (long long)count, 1e3 * best_p, 1e3 * best_m, best_p / best_m, 1e3 * best_e,
           best_p / best_e, bytes);
    free(x), free(v), free(y);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/tmp/bench_preview.png";
    one_world(1, path);
    one_world(8, path);
    kern_backend_t be = NULL;
    struct df_err err = {0};
    struct vae *vae = NULL;
    if (kern_backend_create("cpu", 0, &be, &err) < 0 ||
        vae_load(be, DF_SOURCE_DIR "/configs/models/tiny/vae", &vae, &err) < 0) {
        printf("fit: skipped (%s)\n", err.msg);
        kern_backend_free(be);
        return 0;
    }
    struct preview_map m;
    double t0 = now_s();
    int rc = preview_map_fit(vae, &m, &err);
    printf("fit of the map to the tiny VAE (4 decodes of 8x8 latents): %.1f ms%s%s\n",
           1e3 * (now_s() - t0), rc < 0 ? " failed: " : "", rc < 0 ? err.msg : "");
    vae_free(vae);
    kern_backend_free(be);
    return 0;
}
