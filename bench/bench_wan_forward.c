/*
 * bench_wan_forward.c -- the Wan2.1 DiT forward on the CPU backend, against
 * the machine's own sgemm peak measured in the same run.
 *
 * Two models with synthetic weights generated in memory (wan_synth.h, no
 * files): the demo "tiny" geometry (configs/models/tiny), a mid-size one
 * (8 layers, hidden 512, 8 heads x 64, FFN 2048) and two blocks of the real
 * Wan2.1-1.3B (hidden 1536, 12 heads x 128, FFN 8960, 512 text tokens), both
 * on a 16x32x32 latent = 4096 tokens.  For each: best-of-N wall time of wan_model_forward(), split
 * into embed / blocks / head, and the achieved GFLOP/s (wan_model_flops():
 * the linears plus attention's QKᵀ and PV) as a fraction of OpenBLAS sgemm
 * on a 2048³ problem with all cores.  Record the printout in bench/RESULTS.md.
 *
 *     bench_wan_forward [reps] [threads]     (defaults: 2 reps, all cores)
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "clock.h"
#include "kern.h"
#include "wan_model.h"
#include "wan_synth.h"

struct bench_case {
    const char *name;
    struct wan_config cfg;
    struct wan_shape shape;
};

static void fill_derived(struct wan_config *c)
{
    c->dim = c->num_heads * c->head_dim;
    c->rope_dims[1] = c->rope_dims[2] = 2 * (c->head_dim / 6);
    c->rope_dims[0] = c->head_dim - 2 * c->rope_dims[1];
}

static int run_case(const struct bench_case *bc, int reps, int threads, double peak)
{
    struct df_err err = {0};
    kern_backend_t be;
    if (kern_backend_create("cpu", threads, &be, &err) < 0) {
        fprintf(stderr, "bench_wan_forward: %s\n", err.msg);
        return 1;
    }
    struct wan_synth ws = {.seed = 1};
    struct wan_tensor_source src = {wan_synth_read, &ws};
    struct wan_model *m = NULL;
    const struct wan_config *c = &bc->cfg;
    const struct wan_shape *sh = &bc->shape;
    size_t lat = (size_t)c->in_channels * sh->frames * sh->height * sh->width;
    size_t out_n = (size_t)c->out_channels * sh->frames * sh->height * sh->width;
    float *latent = bench_filled(lat, 7, 1.0f),
          *text = bench_filled((size_t)sh->text_len * c->text_dim, 8, 1.0f);
    float *out = bench_filled(out_n, 9, 1.0f);
    int rc = wan_model_create(be, c, &src, &m, &err);
    if (rc == 0)
        rc = wan_model_reserve(m, sh, &err);
    double best[4] = {INFINITY, INFINITY, INFINITY, INFINITY}; /* embed, blocks, head, total */
    for (int r = 0; rc == 0 && r <= reps; r++) { /* r == 0 is the warm-up */
        double t0 = df_clock_s();
        rc = wan_model_embed(m, sh, latent, 500.0f, text, &err);
        double t1 = df_clock_s();
        if (rc == 0)
            rc = wan_model_blocks(m, &err);
        if (rc == 0)
            rc = kern_sync(be, &err);
        double t2 = df_clock_s();
        if (rc == 0)
            rc = wan_model_head(m, out, &err);
        double t3 = df_clock_s();
        double dt[4] = {t1 - t0, t2 - t1, t3 - t2, t3 - t0};
        for (int i = 0; r > 0 && i < 4; i++)
            best[i] = dt[i] < best[i] ? dt[i] : best[i];
    }
    if (rc < 0) {
        fprintf(stderr, "bench_wan_forward: %s: %s\n", bc->name, err.msg);
    } else {
        long long S = wan_config_tokens(c, sh->frames, sh->height, sh->width, &err);
        double gflop = wan_model_flops(c, sh) / 1e9;
        double gfs = gflop / best[3];
        printf("%-5s %d layers, dim %d (%dx%d), ffn %d, latent %dx%dx%dx%d = %lld tokens, "
               "text %d\n",
               bc->name, c->num_layers, c->dim, c->num_heads, c->head_dim, c->ffn_dim,
               c->in_channels, sh->frames, sh->height, sh->width, S, sh->text_len);
        printf("      forward %9.1f ms (embed %.1f, blocks %.1f, head %.1f)  %7.2f GFLOP  "
               "%6.1f GFLOP/s  %5.1f%% of sgemm peak\n",
               best[3] * 1e3, best[0] * 1e3, best[1] * 1e3, best[2] * 1e3, gflop, gfs,
               100.0 * gfs / peak);
    }
    free(latent), free(text), free(out);
    wan_model_free(m);
    kern_backend_free(be);
    return rc < 0;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 2;
    int threads = argc > 2 ? atoi(argv[2]) : 0;
    if (reps < 1)
        reps = 1;
    int cores = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    double peak = bench_sgemm_peak(2048, cores);
    printf("OpenBLAS sgemm 2048^3, %d threads: %.1f GFLOP/s (peak reference)\n", cores, peak);

    struct bench_case cases[3] = {
        {"tiny",
         {.num_layers = 2, .num_heads = 4, .head_dim = 16, .ffn_dim = 128, .in_channels = 16,
          .out_channels = 16, .text_dim = 64, .freq_dim = 256, .patch = {1, 2, 2},
          .cross_attn_norm = 1, .rope_max_seq_len = 1024, .eps = 1e-6f},
         {.frames = 4, .height = 32, .width = 48, .text_len = 16}},
        {"mid",
         {.num_layers = 8, .num_heads = 8, .head_dim = 64, .ffn_dim = 2048, .in_channels = 16,
          .out_channels = 16, .text_dim = 1024, .freq_dim = 256, .patch = {1, 2, 2},
          .cross_attn_norm = 1, .rope_max_seq_len = 1024, .eps = 1e-6f},
         {.frames = 16, .height = 32, .width = 32, .text_len = 128}},
        /* Wan2.1-T2V-1.3B's blocks exactly (dim 1536, 12 x 128, FFN 8960,
         * umT5 text 4096 x 512), two of its 30, at 4096 tokens */
        {"wan1.3b-2L",
         {.num_layers = 2, .num_heads = 12, .head_dim = 128, .ffn_dim = 8960, .in_channels = 16,
          .out_channels = 16, .text_dim = 4096, .freq_dim = 256, .patch = {1, 2, 2},
          .cross_attn_norm = 1, .rope_max_seq_len = 1024, .eps = 1e-6f},
         {.frames = 16, .height = 32, .width = 32, .text_len = 512}},
    };
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        fill_derived(&cases[i].cfg);
        bad |= run_case(&cases[i], reps, threads, peak);
    }
    return bad;
}
