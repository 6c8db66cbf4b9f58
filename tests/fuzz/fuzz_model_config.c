/*
 * fuzz_model_config.c -- libFuzzer target for the model configuration readers.
 * The first byte picks the reader, the rest is its input:
 *   0: a diffusers folder's geometry (lib/model_geom.c): transformer/config.json,
 *      then after a NUL byte vae/config.json (absent without one); a loaded
 *      geometry then goes through the grid, parameter and FLOP arithmetic;
 *   1: the Wan transformer config.json (wan_config.c), then its tensor list
 *      (every shape the loader would allocate) and a token count;
 *   2: the VAE config.json (vae_load.c, vae_config_parse);
 *   3: a configs/models/<name>.yaml geometry (lib/model_geom.c);
 *   4: the CogVideoX transformer config.json (cogvideox_config.c);
 *   5: the CogVideoX VAE config.json (cogvideox_vae_config_check).
 * Seeds: tests/fuzz/corpus/model_config (one file per reader, first byte set).
 */
#include "fuzz_util.h"

#include "cogvideox_config.h"
#include "cogvideox_vae.h"
#include "model_geom.h"
#include "vae.h"
#include "wan_config.h"
#include "wan_weights.h"

#include <limits.h>

static void check_geom(const struct model_geom *g)
{
    if (g->hidden != g->num_heads * g->head_dim)
        abort();
    static const int sizes[][3] = {{832, 480, 81}, {64, 64, 9}, {INT_MAX, INT_MAX, INT_MAX},
                                   {1, 1, 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct model_grid grid;
        struct df_err err = {0};
        if (model_geom_grid(g, sizes[i][0], sizes[i][1], sizes[i][2], &grid, &err) == 0 &&
            grid.seq_len <= 0)
            abort();
    }
    (void)model_geom_params(g);
    (void)model_geom_forward_flops(g, 32760);
}

static void diffusers_folder(const uint8_t *d, size_t n)
{
    char dir[256], t[300], v[300];
    fuzz_path(dir, sizeof dir, "m");
    snprintf(t, sizeof t, "%s/transformer", dir);
    snprintf(v, sizeof v, "%s/vae", dir);
    mkdir(dir, 0700), mkdir(t, 0700), mkdir(v, 0700);
    strcat(t, "/config.json");
    strcat(v, "/config.json");
    size_t n1, n2;
    const uint8_t *vae = fuzz_split(d, n, 0, &n1, &n2);
    fuzz_write(t, d, n1);
    if (vae)
        fuzz_write(v, vae, n2);
    else
        unlink(v);
    struct model_geom g;
    struct df_err err = {0};
    if (model_geom_load(dir, NULL, &g, &err) == 0)
        check_geom(&g);
}

static int count_shape(const char *name, int ndim, const int64_t *shape, void *ctx)
{
    (void)name;
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0)
            abort(); /* a checked config gives positive sizes only */
    ++*(int *)ctx;
    return 0;
}

static void wan(const uint8_t *d, size_t n)
{
    char path[300];
    fuzz_path(path, sizeof path, "wan_config.json");
    fuzz_write(path, d, n);
    struct wan_config c;
    struct df_err err = {0};
    if (wan_config_load(path, &c, &err) < 0)
        return;
    int count = 0;
    (void)wan_weights_foreach(&c, count_shape, &count);
    (void)wan_config_tokens(&c, 21 * c.patch[0], 30 * c.patch[1], 52 * c.patch[2], &err);
}

static void yaml(const uint8_t *d, size_t n)
{
    char path[300];
    fuzz_path(path, sizeof path, "g.yaml");
    fuzz_write(path, d, n);
    struct model_geom g;
    struct df_err err = {0};
    if (model_geom_load(path, NULL, &g, &err) == 0)
        check_geom(&g);
}

static void cogvideox(const uint8_t *d, size_t n)
{
    char path[300];
    fuzz_path(path, sizeof path, "cog_config.json");
    fuzz_write(path, d, n);
    struct cogvideox_config c;
    struct df_err err = {0};
    (void)cogvideox_config_load(path, &c, &err);
}

static void cogvideox_vae(const uint8_t *d, size_t n)
{
    char dir[256], path[300];
    fuzz_path(dir, sizeof dir, "cvae");
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/config.json", dir);
    fuzz_write(path, d, n);
    struct cogvideox_vae_info info;
    struct df_err err = {0};
    (void)cogvideox_vae_config_check(dir, &info, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (data[0] % 6) {
    case 0:
        diffusers_folder(d, n);
        break;
    case 1:
        wan(d, n);
        break;
    case 2: {
        struct vae_info info;
        struct df_err err = {0};
        if (vae_config_parse((const char *)d, n, &info, &err) == 0 &&
            (info.n_stages < 1 || info.stride_s < 1 || info.stride_t < 1))
            abort();
        break;
    }
    case 3:
        yaml(d, n);
        break;
    case 4:
        cogvideox(d, n);
        break;
    default:
        cogvideox_vae(d, n);
        break;
    }
    return 0;
}
