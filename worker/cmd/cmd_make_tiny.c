/* cmd_make_tiny.c -- `ditfarm-worker make-tiny [--family wan|cogvideox] MODEL_DIR
 * [--seed N] [--force]`.  Wan (the default):
 * write the synthetic transformer weights of a Wan-shaped demo model
 * (wan_synth.h) next to its committed MODEL_DIR/transformer/config.json, a
 * small synthetic Wan2.1 VAE into MODEL_DIR/vae (vae_synth.h), and a tiny
 * tokenizer/ + umT5 text_encoder/ of the transformer's text_dim (t5_synth.h).
 * scripts/setup runs it for configs/models/tiny when the weights are absent;
 * an existing weights file is kept unless --force.  --family cogvideox writes
 * a whole tiny CogVideoX-5B-shaped folder, config files included
 * (tiny_cogvideox.h), always. */
#include "log.h"
#include "t5_synth.h"
#include "tiny_cogvideox.h"
#include "wan_config.h"
#include "vae_synth.h"
#include "wan_synth.h"
#include "worker_exit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char k_usage[] =
    "usage: ditfarm-worker make-tiny [--family wan|cogvideox] MODEL_DIR [--seed N] [--force]\n";

static int make_cogvideox(const char *dir, unsigned long long seed, struct df_log *log)
{
    struct df_err err = {0};
    if (tiny_cogvideox_write(dir, seed, &err) < 0) {
        DF_ERROR(log, "make-tiny: %s", err.msg);
        return WORKER_EXIT_FAILED;
    }
    printf("wrote %s: a tiny CogVideoX-5B-shaped folder (synthetic, seed %llu)\n", dir, seed);
    return WORKER_EXIT_DONE;
}

int cmd_make_tiny(int argc, char **argv, struct df_log *log)
{
    const char *dir = NULL;
    unsigned long long seed = 0;
    int force = 0, cog = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--family") == 0 && i + 1 < argc &&
            (!strcmp(argv[i + 1], "wan") || !strcmp(argv[i + 1], "cogvideox"))) {
            cog = !strcmp(argv[++i], "cogvideox");
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            char *end;
            seed = strtoull(argv[++i], &end, 0);
            if (*end) {
                fprintf(stderr, "make-tiny: --seed wants an integer, got '%s'\n", argv[i]);
                return WORKER_EXIT_USAGE;
            }
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "%s", k_usage);
            return WORKER_EXIT_USAGE;
        }
    }
    if (!dir) {
        fprintf(stderr, "%s", k_usage);
        return WORKER_EXIT_USAGE;
    }
    if (cog)
        return make_cogvideox(dir, seed, log);
    char tdir[4096], weights[4200], vdir[4096], vweights[4200];
    snprintf(tdir, sizeof tdir, "%s/transformer", dir);
    snprintf(weights, sizeof weights, "%s/diffusion_pytorch_model.safetensors", tdir);
    snprintf(vdir, sizeof vdir, "%s/vae", dir);
    snprintf(vweights, sizeof vweights, "%s/diffusion_pytorch_model.safetensors", vdir);
    struct df_err err = {0};
    if (!force && access(weights, F_OK) == 0) {
        printf("kept %s (exists; --force rewrites it)\n", weights);
    } else if (wan_synth_write(tdir, seed, &err) < 0) {
        DF_ERROR(log, "make-tiny: %s", err.msg);
        return WORKER_EXIT_FAILED;
    } else {
        printf("wrote %s (synthetic, seed %llu)\n", weights, seed);
    }
    /* base width 8: the demo decodes 64x64 clips in a fraction of a second */
    struct vae_synth_opts vo = {.base_dim = 8, .z_dim = 16, .num_res_blocks = 1, .seed = seed};
    if (!force && access(vweights, F_OK) == 0) {
        printf("kept %s (exists; --force rewrites it)\n", vweights);
    } else if (vae_synth_write(vdir, &vo, &err) < 0) {
        DF_ERROR(log, "make-tiny: %s", err.msg);
        return WORKER_EXIT_FAILED;
    } else {
        printf("wrote %s (synthetic, seed %llu)\n", vweights, seed);
    }
    char teweights[4200], cfg[4200];
    snprintf(teweights, sizeof teweights, "%s/text_encoder/model.safetensors", dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", tdir);
    struct wan_config wc;
    if (!force && access(teweights, F_OK) == 0) {
        printf("kept %s (exists; --force rewrites it)\n", teweights);
    } else if (wan_config_load(cfg, &wc, &err) < 0 ||
               t5_synth_write(dir, wc.text_dim, seed, &err) < 0) {
        DF_ERROR(log, "make-tiny: %s", err.msg);
        return WORKER_EXIT_FAILED;
    } else {
        printf("wrote %s and %s/tokenizer (synthetic umT5 of width %d, seed %llu)\n", teweights,
               dir, wc.text_dim, seed);
    }
    return WORKER_EXIT_DONE;
}
