/*
 * bench_cogvideox_forward.c -- the CogVideoX DiT forward on the CPU backend
 * at CogVideoX-2B block shapes, against the machine's own sgemm peak
 * measured in the same run.
 *
 * Two blocks of the real CogVideoX-2B (hidden 1920 = 30 heads x 64, FFN
 * 7680, time_embed 512, T5 text 4096 x 226, 3D sin-cos positions) with
 * synthetic weights made in memory (wan_synth.h's generator, keyed by the
 * diffusers names), on a 13x20x30 latent = 13x10x15 = 1,950 video tokens +
 * 226 text tokens in one joint sequence (the native 13x30x45 = 17,776 tokens
 * takes minutes per forward on a 2-core machine: pass `full`).  Best-of-N
 * wall time of cogvideox_model_forward() split into embed / blocks / head,
 * and GFLOP/s (cogvideox_model_flops(): linears 2MNK plus attention 4·Sq·Sk·D
 * per head) as a fraction of OpenBLAS sgemm 2048^3.  bench_cogvideox.sh runs
 * diffusers on torch at the same shapes in the same session.
 *
 *     bench_cogvideox_forward [reps] [threads] [full]
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cogvideox_model.h"
#include "bench_common.h"
#include "clock.h"
#include "kern.h"
#include "wan_synth.h"

static int run_case(const struct cogvideox_config *c, const struct cogvideox_shape *sh, int reps,
                    int threads, double peak)
{
    struct df_err err = {0};
    kern_backend_t be;
    if (kern_backend_create("cpu", threads, &be, &err) < 0) {
        fprintf(stderr, "bench_cogvideox_forward: %s\n", err.msg);
        return 1;
    }
    struct wan_synth ws = {.seed = 1};
    struct cogvideox_tensor_source src = {wan_synth_read, &ws};
    struct cogvideox_model *m = NULL;
    const size_t lat = (size_t)c->in_channels * sh->frames * sh->height * sh->width;
    float *latent = bench_filled(lat, 7, 1.0f),
          *text = bench_filled((size_t)sh->text_len * c->text_dim, 8, 1.0f);
    float *out = bench_filled(lat, 9, 1.0f);
    int rc = cogvideox_model_create(be, c, &src, &m, &err);
    if (rc == 0)
        rc = cogvideox_model_reserve(m, sh, &err);
    double best[4] = {INFINITY, INFINITY, INFINITY, INFINITY};
    for (int r = 0; rc == 0 && r <= reps; r++) { /* r == 0 is the warm-up */
        double t0 = df_clock_s();
        rc = cogvideox_model_embed(m, sh, latent, 500.0f, 0.0f, text, &err);
        double t1 = df_clock_s();
        if (rc == 0)
            rc = cogvideox_model_blocks(m, &err);
        if (rc == 0)
            rc = kern_sync(be, &err);
        double t2 = df_clock_s();
        if (rc == 0)
            rc = cogvideox_model_head(m, out, &err);
        double t3 = df_clock_s();
        double dt[4] = {t1 - t0, t2 - t1, t3 - t2, t3 - t0};
        for (int i = 0; r > 0 && i < 4; i++)
            best[i] = dt[i] < best[i] ? dt[i] : best[i];
    }
    if (rc < 0) {
        fprintf(stderr, "bench_cogvideox_forward: %s\n", err.msg);
    } else {
        long long N = cogvideox_model_seq_len(c, sh, &err);
        double gflop = cogvideox_model_flops(c, sh) / 1e9, gfs = gflop / best[3];
        printf("cogvideox2b-2L %d layers, dim %d (%dx%d), ffn %d, latent %dx%dx%d, %lld tokens "
               "(%d text + %lld video)\n",
               c->num_layers, c->dim, c->num_heads, c->head_dim, c->ffn_dim, sh->frames,
               sh->height, sh->width, N, sh->text_len, N - sh->text_len);
        printf("      forward %9.1f ms (embed %.1f, blocks %.1f, head %.1f)  %7.2f GFLOP  "
               "%6.1f GFLOP/s  %5.1f%% of sgemm peak\n",
               best[3] * 1e3, best[0] * 1e3, best[1] * 1e3, best[2] * 1e3, gflop, gfs,
               100.0 * gfs / peak);
    }
    free(latent), free(text), free(out);
    cogvideox_model_free(m);
    kern_backend_free(be);
    return rc < 0;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 2;
    int threads = argc > 2 ? atoi(argv[2]) : 0;
    const int full = argc > 3 && strcmp(argv[3], "full") == 0;
    if (reps < 1)
        reps = 1;
    int cores = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    double peak = bench_sgemm_peak(2048, cores);
    printf("OpenBLAS sgemm 2048^3, %d threads: %.1f GFLOP/s (peak reference)\n", cores, peak);
    /* CogVideoX-2B's config.json, two of its 30 layers */
    struct cogvideox_config c = {
        .num_layers = 2, .num_heads = 30, .head_dim = 64, .dim = 1920, .ffn_dim = 7680,
        .in_channels = 16, .out_channels = 16, .time_embed_dim = 512, .text_dim = 4096,
        .patch = 2, .flip_sin_to_cos = 1, .sample_width = 90, .sample_height = 60,
        .sample_frames = 49, .temporal_compression = 4, .max_text_len = 226,
        .attention_bias = 1, .patch_bias = 1, .norm_affine = 1, .pos = COGVIDEOX_POS_SINCOS,
        .norm_eps = 1e-5f, .spatial_interp = 1.875, .temporal_interp = 1.0};
    struct cogvideox_shape sh = {.frames = 13, .height = full ? 60 : 20, .width = full ? 90 : 30,
                                 .text_len = 226};
    return run_case(&c, &sh, reps, threads, peak);
}
