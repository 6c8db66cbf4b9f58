/* test_model_geom.c -- model geometry: the shipped configs, diffusers folders,
 * legal sizes with "nearest" messages, token grids, parameter count, FLOPs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "model_geom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIGS DF_SOURCE_DIR "/configs"

static struct model_geom load(const char *name)
{
    struct model_geom g;
    struct df_err err = {0};
    int rc = model_geom_load(name, CONFIGS, &g, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    return g;
}

static void test_wan_1_3b(void **state)
{
    (void)state;
    struct model_geom g = load("wan2.1-t2v-1.3b");
    assert_string_equal(g.name, "wan2.1-t2v-1.3b");
    assert_string_equal(g.family, "wan2.1");
    assert_string_equal(g.path, "");
    assert_int_equal(g.num_layers, 30);
    assert_int_equal(g.num_heads, 12);
    assert_int_equal(g.head_dim, 128);
    assert_int_equal(g.hidden, 1536);
    assert_int_equal(g.ffn_dim, 8960);
    assert_int_equal(g.in_channels, 16);
    assert_int_equal(g.out_channels, 16);
    assert_int_equal(g.text_dim, 4096);
    assert_int_equal(g.text_len, 512);
    assert_int_equal(g.freq_dim, 256);
    assert_int_equal(g.patch[0], 1);
    assert_int_equal(g.patch[2], 2);
    assert_int_equal(g.vae_stride[0], 4);
    assert_int_equal(g.vae_stride[1], 8);
    assert_int_equal(g.joint_text, 0);
    /* diffusers WanTransformer3DModel, Wan2.1-T2V-1.3B: sum of numel. */
    assert_int_equal(model_geom_params(&g), 1418996800LL);

    struct model_grid grid;
    struct df_err err = {0};
    assert_int_equal(model_geom_grid(&g, 832, 480, 81, &grid, &err), 0);
    assert_int_equal(grid.latent[0], 21);
    assert_int_equal(grid.latent[1], 60);
    assert_int_equal(grid.latent[2], 104);
    assert_int_equal(grid.tokens[0], 21);
    assert_int_equal(grid.tokens[1], 30);
    assert_int_equal(grid.tokens[2], 52);
    assert_int_equal(grid.seq_len, 32760);
    /* 283.0 TFLOP per branch and step at 480p, 81 frames. */
    double f = model_geom_forward_flops(&g, grid.seq_len);
    assert_true(f > 283.0e12 && f < 283.01e12);
}

static void test_wan_14b(void **state)
{
    (void)state;
    struct model_geom g = load("wan2.1-t2v-14b");
    assert_int_equal(g.num_layers, 40);
    assert_int_equal(g.num_heads, 40);
    assert_int_equal(g.hidden, 5120);
    assert_int_equal(g.ffn_dim, 13824);
    assert_int_equal(model_geom_params(&g), 14288491584LL);
    struct model_grid grid;
    struct df_err err = {0};
    assert_int_equal(model_geom_grid(&g, 1280, 720, 81, &grid, &err), 0);
    assert_int_equal(grid.seq_len, 21 * 45 * 80);
}

static void test_cogvideox(void **state)
{
    (void)state;
    struct model_geom g = load("cogvideox-2b");
    assert_string_equal(g.family, "cogvideox");
    assert_int_equal(g.num_heads, 30);
    assert_int_equal(g.head_dim, 64);
    assert_int_equal(g.hidden, 1920);
    assert_int_equal(g.text_len, 226);
    assert_int_equal(g.joint_text, 1);
    struct model_grid grid;
    struct df_err err = {0};
    assert_int_equal(model_geom_grid(&g, 720, 480, 49, &grid, &err), 0);
    assert_int_equal(grid.latent[0], 13);
    assert_int_equal(grid.tokens[1], 30);
    assert_int_equal(grid.tokens[2], 45);
    assert_int_equal(grid.seq_len, 13 * 30 * 45 + 226); /* text joins the sequence */
    int64_t p = model_geom_params(&g);
    assert_true(p > 1.6e9 && p < 1.8e9); /* "2B": 1.69B published */
}

/* CogVideoX 2B/5B: the VAE decodes an even latent frame count L to 4L frames
 * (diffusers AutoencoderKLCogVideoX: 3 -> 9, 4 -> 16, 5 -> 17, 6 -> 24), so
 * only 8k+1 frames give the video asked for; the rest are refused at
 * validate time with the nearest accepted counts. */
static void test_cogvideox_frames(void **state)
{
    (void)state;
    struct df_err err = {0};
    const char *models[] = {"cogvideox-2b", "cogvideox-5b"};
    for (int i = 0; i < 2; i++) {
        struct model_geom g = load(models[i]);
        for (int f = 1; f <= 49; f += 8)
            assert_int_equal(model_geom_check_frames(&g, f, &err), 0);
        assert_int_equal(model_geom_check_frames(&g, 13, &err), DF_E_INVAL);
        char want[200];
        snprintf(want, sizeof(want),
                 "frames 13 is not of the form 8k+1 (model '%s': its VAE decodes 4 latent "
                 "frames to 16 frames); nearest: 9 or 17",
                 models[i]);
        assert_string_equal(err.msg, want);
        struct model_grid grid;
        assert_int_equal(model_geom_grid(&g, 720, 480, 45, &grid, &err), DF_E_INVAL);
    }
    struct model_geom g = load("cogvideox-5b");
    assert_int_equal(model_geom_check_frames(&g, 10, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "frames 10 is not of the form 8k+1 (model 'cogvideox-5b'); "
                                 "nearest: 9 or 17");
    assert_int_equal(model_geom_check_frames(&g, 5, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "frames 5 is not of the form 8k+1 (model 'cogvideox-5b': its "
                                 "VAE decodes 2 latent frames to 8 frames); nearest: 1 or 9");
}

static void test_tiny(void **state)
{
    (void)state;
    struct model_geom g = load("tiny");
    assert_int_equal(g.num_layers, 2);
    assert_int_equal(g.hidden, 64);
    assert_int_equal(g.num_heads, 4);
    assert_int_equal(g.head_dim, 16);
    assert_int_equal(g.ffn_dim, 128);
    assert_int_equal(g.text_dim, 64);
    assert_int_equal(g.text_len, 16);
    /* path: resolves next to the yaml file, whether or not it exists yet. */
    assert_string_equal(g.path, CONFIGS "/models/tiny");
    assert_int_equal(model_geom_params(&g), 163584);
    struct model_grid grid;
    struct df_err err = {0};
    assert_int_equal(model_geom_grid(&g, 64, 64, 9, &grid, &err), 0);
    assert_int_equal(grid.seq_len, 48);
    /* Hand count: 2 layers x (8sh^2 + 4s^2h + 4shf + 4sh^2 + 4lh^2 + 4slh) + embeddings. */
    assert_true(model_geom_forward_flops(&g, 48) == 11010048.0);
}

static void test_size_messages(void **state)
{
    (void)state;
    struct model_geom g = load("wan2.1-t2v-1.3b");
    struct df_err err = {0};
    assert_int_equal(model_geom_check_width(&g, 830, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "width 830 is not a multiple of 16 (model 'wan2.1-t2v-1.3b': "
                                 "VAE stride 8 x patch 2); nearest: 816 or 832");
    assert_int_equal(model_geom_check_height(&g, 8, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "height 8 is not a multiple of 16 (model 'wan2.1-t2v-1.3b': "
                                 "VAE stride 8 x patch 2); nearest: 16");
    assert_int_equal(model_geom_check_frames(&g, 80, &err), DF_E_INVAL);
    assert_string_equal(err.msg,
                        "frames 80 is not of the form 4k+1 (model 'wan2.1-t2v-1.3b'); nearest: "
                        "77 or 81");
    assert_int_equal(model_geom_check_frames(&g, 0, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "frames 0 must be positive");
    assert_int_equal(model_geom_check_frames(&g, 1, &err), 0); /* a single image */
    assert_int_equal(model_geom_check_frames(&g, 81, &err), 0);
    struct model_grid grid;
    assert_int_equal(model_geom_grid(&g, 832, 480, 80, &grid, &err), DF_E_INVAL);
    /* A temporal patch of 2 needs an even number of latent frames. */
    g.patch[0] = 2;
    assert_int_equal(model_geom_check_frames(&g, 9, &err), DF_E_INVAL);
    assert_string_equal(err.msg,
                        "frames 9 is not of the form 8k+5 (model 'wan2.1-t2v-1.3b'); nearest: "
                        "5 or 13");
    assert_int_equal(model_geom_check_frames(&g, 13, &err), 0);
    assert_int_equal(model_geom_check_frames(&g, 2, &err), DF_E_INVAL);
    assert_string_equal(err.msg, "frames 2 is not of the form 8k+5 (model 'wan2.1-t2v-1.3b'); "
                                 "nearest: 5");
}

static void test_unknown_model(void **state)
{
    (void)state;
    struct model_geom g;
    struct df_err err = {0};
    assert_int_equal(model_geom_load("wan2.1-t2v-1.3", CONFIGS, &g, &err), DF_E_NOTFOUND);
    assert_string_equal(err.msg, "unknown model 'wan2.1-t2v-1.3' (did you mean "
                                 "'wan2.1-t2v-1.3b'?); known models: cogvideox-2b cogvideox-5b "
                                 "cogvideox1.5-5b tiny "
                                 "wan2.1-t2v-1.3b wan2.1-t2v-14b");
    assert_int_equal(model_geom_load("../etc", CONFIGS, &g, &err), DF_E_NOTFOUND);
    assert_int_equal(model_geom_load("a b", CONFIGS, &g, &err), DF_E_INVAL);
    assert_int_equal(model_geom_load("tiny", NULL, &g, &err), DF_E_NOTFOUND);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_diffusers_folder(void **state)
{
    (void)state;
    struct model_geom g = load(DF_TEST_DATA "/manifest/wan-mini");
    assert_string_equal(g.name, "wan-mini");
    assert_string_equal(g.family, "wan2.1");
    assert_string_equal(g.path, DF_TEST_DATA "/manifest/wan-mini");
    assert_int_equal(g.num_heads, 2);
    assert_int_equal(g.head_dim, 32);
    assert_int_equal(g.hidden, 64);
    assert_int_equal(g.num_layers, 3);
    assert_int_equal(g.ffn_dim, 96);
    assert_int_equal(g.text_dim, 32);
    assert_int_equal(g.text_len, 512);
    assert_int_equal(g.vae_stride[0], 4); /* 2^(two true temperal_downsample) */
    assert_int_equal(g.vae_stride[1], 8); /* 2^3 */

    /* A folder without vae/config.json keeps 4,8,8; a VAE config can change it. */
    char dir[] = "/tmp/df_test_geom_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[512];
    snprintf(p, sizeof(p), "%s/transformer", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/transformer/config.json", dir);
    write_file(p, "{\"num_attention_heads\": 4, \"attention_head_dim\": 8, \"num_layers\": 1,"
                  " \"ffn_dim\": 16, \"in_channels\": 16, \"out_channels\": 16,"
                  " \"text_dim\": 8, \"freq_dim\": 256, \"patch_size\": [1, 2, 2]}");
    struct model_geom h;
    struct df_err err = {0};
    assert_int_equal(model_geom_load(dir, NULL, &h, &err), 0);
    assert_int_equal(h.vae_stride[0], 4);
    assert_int_equal(h.vae_stride[2], 8);
    snprintf(p, sizeof(p), "%s/vae", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/vae/config.json", dir);
    write_file(p, "{\"temperal_downsample\": [false, false, true]}");
    assert_int_equal(model_geom_load(dir, NULL, &h, &err), 0);
    assert_int_equal(h.vae_stride[0], 2);
    assert_int_equal(h.vae_stride[1], 8);
    /* Broken configs are errors that name the file. */
    write_file(p, "{not json");
    assert_int_equal(model_geom_load(dir, NULL, &h, &err), DF_E_PARSE);
    assert_non_null(strstr(err.msg, "vae/config.json: not a JSON object"));
    unlink(p);
    snprintf(p, sizeof(p), "%s/vae", dir);
    rmdir(p);
    snprintf(p, sizeof(p), "%s/transformer/config.json", dir);
    write_file(p, "{\"num_attention_heads\": 4}");
    assert_int_equal(model_geom_load(dir, NULL, &h, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "transformer/config.json: missing or non-positive 'num_layers'"));
    unlink(p);
    snprintf(p, sizeof(p), "%s/transformer", dir);
    rmdir(p);
    assert_int_equal(model_geom_load(dir, NULL, &h, &err), DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "is not a diffusers model folder"));
    rmdir(dir);
}

static void test_bad_yaml_geometry(void **state)
{
    (void)state;
    char path[] = "/tmp/df_test_geom_XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    close(fd);
    struct model_geom g;
    struct df_err err = {0};
    write_file(path, "num_layers: 2\nnum_heads: 4\nhead_dim: 16\nffn_dim: 8\nin_channels: 16\n"
                     "text_dim: 8\npatchh: [1, 2, 2]\n");
    assert_int_equal(model_geom_load(path, NULL, &g, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, ":7:1: patchh: unknown key 'patchh' (did you mean 'patch'?)"));
    write_file(path, "num_layers: 2\nnum_heads: 4\nhead_dim: 16\nhidden: 60\nffn_dim: 8\n"
                     "in_channels: 16\ntext_dim: 8\n");
    assert_int_equal(model_geom_load(path, NULL, &g, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "hidden 60 != num_heads 4 x head_dim 16"));
    write_file(path, "num_layers: 2\nvae_stride: [4, 8]\n");
    assert_int_equal(model_geom_load(path, NULL, &g, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "vae_stride: expected 3 integers (t, h, w), got 2"));
    write_file(path, "num_layers: [\n");
    assert_int_equal(model_geom_load(path, NULL, &g, &err), DF_E_PARSE);
    /* A minimal file gets Wan defaults for the rest; the name is the file's. */
    write_file(path, "num_layers: 2\nnum_heads: 4\nhead_dim: 16\nffn_dim: 8\nin_channels: 16\n"
                     "text_dim: 8\n");
    assert_int_equal(model_geom_load(path, NULL, &g, &err), 0);
    assert_int_equal(g.out_channels, 16);
    assert_int_equal(g.hidden, 64);
    assert_int_equal(g.text_len, 512);
    assert_int_equal(g.vae_stride[0], 4);
    assert_true(strncmp(g.name, "df_test_geom_", 13) == 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wan_1_3b),        cmocka_unit_test(test_wan_14b),
        cmocka_unit_test(test_cogvideox),       cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_cogvideox_frames),
        cmocka_unit_test(test_size_messages),   cmocka_unit_test(test_unknown_model),
        cmocka_unit_test(test_diffusers_folder), cmocka_unit_test(test_bad_yaml_geometry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
