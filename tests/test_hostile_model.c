/* test_hostile_model.c -- hostile model files and numbers (issue 15): every
 * size read from a config.json, a tensor name, a VAE config or a manifest is
 * range-checked before any arithmetic, so each case below is a clear error
 * (and, under the ASan/UBSan build, no undefined behaviour on the way). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckd.h"
#include "manifest.h"
#include "model_geom.h"
#include "safetensors.h"
#include "vae.h"
#include "vae_synth.h"
#include "wan_config.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void expect(int rc, const struct df_err *err, int code, const char *part)
{
    if (rc != code || !strstr(err->msg, part))
        fail_msg("rc %d, message '%s'; expected %d and '%s'", rc, err->msg, code, part);
}

static void test_ckd(void **state)
{
    (void)state;
    int64_t r;
    assert_false(ckd_mul_i64(&r, INT64_MAX / 2, 2));
    assert_true(ckd_mul_i64(&r, INT64_MAX / 2 + 1, 2));
    const int64_t f[3] = {1 << 20, 1 << 20, 1 << 20};
    assert_true(ckd_prod_i64(&r, f, 3, (int64_t)1 << 59));
    assert_false(ckd_prod_i64(&r, f, 3, (int64_t)1 << 60));
    assert_true(r == (int64_t)1 << 60);
    const int64_t neg[2] = {-1, 4};
    assert_true(ckd_prod_i64(&r, neg, 2, INT64_MAX));
    int x;
    assert_true(ckd_double_to_int(1e20, 0, INT_MAX, &x));
    assert_true(ckd_double_to_int(2.5, 0, 10, &x));
    assert_true(ckd_double_to_int(NAN, 0, 10, &x));
    assert_true(ckd_double_to_int(-INFINITY, INT_MIN, INT_MAX, &x));
    assert_false(ckd_double_to_int(7, 0, 10, &x));
    assert_int_equal(x, 7);
    assert_true(ckd_double_to_i64(0x1p63, INT64_MIN, INT64_MAX, &r));
}

/* ---- model geometry from a diffusers folder ------------------------------------ */

static const struct {
    const char *transformer, *vae;
    int code;
    const char *msg;
} k_geom[] = {
    {"{\"num_attention_heads\": 1e8, \"attention_head_dim\": 1e8, \"num_layers\": 1, "
     "\"ffn_dim\": 16, \"in_channels\": 16}",
     NULL, DF_E_RANGE, "'num_heads' is not an integer in [1, 1024]"},
    {"{\"num_attention_heads\": 1024, \"attention_head_dim\": 4096, \"num_layers\": 1, "
     "\"ffn_dim\": 16, \"in_channels\": 16}",
     NULL, DF_E_RANGE, "'hidden' is not an integer in [1, 1048576]"},
    {"{\"num_attention_heads\": 4, \"attention_head_dim\": 8, \"num_layers\": 1, "
     "\"ffn_dim\": 16, \"in_channels\": 16, \"patch_size\": [1, 2e9, 2]}",
     NULL, DF_E_RANGE, "patch and vae_stride must be integers in [1, 64]"},
    {"{\"num_attention_heads\": 4, \"attention_head_dim\": 8, \"num_layers\": 1, "
     "\"ffn_dim\": 16, \"in_channels\": 16, \"patch_size\": [1, 1e300, 2]}",
     NULL, DF_E_RANGE, "patch and vae_stride"},
    {"{\"num_attention_heads\": 4, \"attention_head_dim\": 8, \"num_layers\": 1e300, "
     "\"ffn_dim\": 16, \"in_channels\": 16}",
     NULL, DF_E_RANGE, "'num_layers' is not an integer"},
    {"{\"num_attention_heads\": 4, \"attention_head_dim\": 8, \"num_layers\": 1, "
     "\"ffn_dim\": 16, \"in_channels\": 16}",
     "{\"temporal_compression_ratio\": 1e8}", DF_E_RANGE, "patch and vae_stride"},
    {"{\"_class_name\": \"CogVideoXTransformer3DModel\", \"num_attention_heads\": 1000000, "
     "\"attention_head_dim\": 1000000, \"num_layers\": 1, \"in_channels\": 16}",
     NULL, DF_E_RANGE, "is not an integer in"},
};

static void test_geom_hostile(void **state)
{
    (void)state;
    char dir[] = "/tmp/df_hostile_geom_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char t[700], v[700], tdir[600], vdir[600];
    snprintf(tdir, sizeof tdir, "%s/transformer", dir);
    snprintf(vdir, sizeof vdir, "%s/vae", dir);
    snprintf(t, sizeof t, "%s/config.json", tdir);
    snprintf(v, sizeof v, "%s/config.json", vdir);
    assert_int_equal(mkdir(tdir, 0755), 0);
    assert_int_equal(mkdir(vdir, 0755), 0);
    for (size_t i = 0; i < sizeof k_geom / sizeof k_geom[0]; i++) {
        write_file(t, k_geom[i].transformer);
        unlink(v);
        if (k_geom[i].vae)
            write_file(v, k_geom[i].vae);
        struct model_geom g;
        struct df_err err = {0};
        expect(model_geom_load(dir, NULL, &g, &err), &err, k_geom[i].code, k_geom[i].msg);
    }
    /* A legal geometry and hostile sizes: 64-bit arithmetic, clear errors. */
    write_file(t, "{\"num_attention_heads\": 4, \"attention_head_dim\": 8, \"num_layers\": 1, "
                  "\"ffn_dim\": 16, \"in_channels\": 16, \"patch_size\": [64, 64, 64]}");
    write_file(v, "{\"temporal_compression_ratio\": 64, \"block_out_channels\": [1, 2, 3, 4, 5, "
                  "6, 7]}");
    struct model_geom g;
    struct df_err err = {0};
    if (model_geom_load(dir, NULL, &g, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(g.vae_stride[0], 64);
    struct model_grid grid;
    expect(model_geom_grid(&g, INT_MAX, 4096, 4033, &grid, &err), &err, DF_E_INVAL,
           "nearest: 2147479552 or 2147483648");
    expect(model_geom_grid(&g, 4096, 4096, INT_MAX, &grid, &err), &err, DF_E_INVAL,
           "is not of the form 4096k+");
    unlink(t);
    unlink(v);
    rmdir(tdir);
    rmdir(vdir);
    rmdir(dir);
}

/* ---- Wan transformer config and weights ----------------------------------------- */

static const struct {
    const char *json;
    int code;
    const char *msg;
} k_wan[] = {
    {"{\"patch_size\": [1, 2e9, 2]}", DF_E_RANGE, "'patch_size'[1] must be an integer in [1, 64]"},
    {"{\"patch_size\": [1, 1e300, 2]}", DF_E_RANGE, "'patch_size'[1]"},
    {"{\"num_layers\": 1e300}", DF_E_PARSE, "key 'num_layers' must be an integer"},
    {"{\"num_layers\": 100000}", DF_E_RANGE, "key 'num_layers' = 100000 must be in [1, 4096]"},
    {"{\"in_channels\": 1048576, \"patch_size\": [64, 64, 64]}", DF_E_RANGE,
     "in_channels x prod(patch_size) exceeds"},
    {"{\"num_attention_heads\": 2048, \"attention_head_dim\": 1024}", DF_E_RANGE,
     "num_attention_heads * attention_head_dim too large"},
    {"{\"num_attention_heads\": 64, \"attention_head_dim\": 16384, \"ffn_dim\": 1048576}",
     DF_E_RANGE, "is beyond any model"},
};

static void test_wan_config_hostile(void **state)
{
    (void)state;
    char path[] = "/tmp/df_hostile_wan_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof k_wan / sizeof k_wan[0]; i++) {
        write_file(path, k_wan[i].json);
        struct wan_config c;
        struct df_err err = {0};
        expect(wan_config_load(path, &c, &err), &err, k_wan[i].code, k_wan[i].msg);
    }
    unlink(path);
}

/* A tensor `blocks.2147483647.x` (and one past every int) names a block no
 * model has: refused before it is counted. */
static void test_wan_block_index(void **state)
{
    (void)state;
    static const char *const names[] = {"blocks.2147483647.x", "blocks.99999999999999999999.x",
                                        "blocks.4096.x"};
    char path[] = "/tmp/df_hostile_blocks_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char cfg[] = "/tmp/df_hostile_blocks_cfg_XXXXXX";
    fd = mkstemp(cfg);
    assert_true(fd >= 0);
    close(fd);
    write_file(cfg, "{\"num_layers\": 1, \"num_attention_heads\": 2, \"attention_head_dim\": 6, "
                    "\"ffn_dim\": 8, \"text_dim\": 8, \"freq_dim\": 8}");
    struct wan_config c;
    struct df_err err = {0};
    assert_int_equal(wan_config_load(cfg, &c, &err), 0);
    const float one = 1.0f;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct safetensors_entry e = {.name = names[i], .dtype = SAFETENSORS_DTYPE_F32,
                                      .ndim = 1, .shape = {1}, .data = &one};
        assert_int_equal(safetensors_write(path, &e, 1, NULL, 0, &err), 0);
        struct safetensors *st = NULL;
        assert_int_equal(safetensors_open(path, &st, &err), 0);
        expect(wan_config_check_weights(&c, st, &err), &err, DF_E_INVAL,
               "has a block index beyond any model");
        safetensors_close(st);
    }
    unlink(path);
    unlink(cfg);
}

/* ---- VAE config ------------------------------------------------------------------ */

#define VAE_TAIL                                                                                  \
    "\"latents_mean\": [0], \"latents_std\": [1], \"z_dim\": 1"

static const struct {
    const char *json;
    int code;
    const char *msg;
} k_vae[] = {
    {"{\"dim_mult\": [-1, 2], \"temperal_downsample\": [true], " VAE_TAIL "}", DF_E_RANGE,
     "'dim_mult'[0] = -1 must be an integer in [1, 64]"},
    {"{\"dim_mult\": [1e300], \"temperal_downsample\": [], " VAE_TAIL "}", DF_E_RANGE,
     "'dim_mult'[0]"},
    {"{\"dim_mult\": [1, 2.5], \"temperal_downsample\": [true], " VAE_TAIL "}", DF_E_RANGE,
     "'dim_mult'[1] = 2.5"},
    {"{\"dim_mult\": [1], \"temperal_downsample\": [], \"base_dim\": 1e20, " VAE_TAIL "}",
     DF_E_PARSE, "'base_dim' must be an integer"},
    {"{\"dim_mult\": [1], \"temperal_downsample\": [], \"latents_mean\": [0], "
     "\"latents_std\": [1e39], \"z_dim\": 1}",
     DF_E_RANGE, "overflow a float"},
    {"{\"dim_mult\": [1, 1, 1, 1, 1, 1, 1, 1, 1], \"temperal_downsample\": [], " VAE_TAIL "}",
     DF_E_PARSE, "'dim_mult' has 9 entries, expected at most 8"},
    {"[1, 2]", DF_E_PARSE, "not a JSON object"},
};

static void test_vae_config_hostile(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof k_vae / sizeof k_vae[0]; i++) {
        struct vae_info info;
        struct df_err err = {0};
        expect(vae_config_parse(k_vae[i].json, strlen(k_vae[i].json), &info, &err), &err,
               k_vae[i].code, k_vae[i].msg);
    }
}

/* A demo VAE folder whose config says dim_mult [-1, ...]: vae_config_check
 * and vae_load refuse it from the config, before any weight is allocated. */
static void test_vae_negative_dim_mult(void **state)
{
    (void)state;
    char dir[] = "/tmp/df_hostile_vae_XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct df_err err = {0};
    struct vae_synth_opts o = {.base_dim = 4, .z_dim = 16, .num_res_blocks = 1, .seed = 7};
    assert_int_equal(vae_synth_write(dir, &o, &err), 0);
    struct vae_info info;
    assert_int_equal(vae_config_check(dir, &info, &err), 0);
    assert_int_equal(info.stride_s, 8);
    char path[600], buf[8192];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strstr(buf, "\"dim_mult\": [");
    assert_non_null(p);
    p += strlen("\"dim_mult\": [");
    memmove(p + 1, p, strlen(p) + 1); /* "[1, ..." -> "[-1, ..." */
    *p = '-';
    write_file(path, buf);
    expect(vae_config_check(dir, &info, &err), &err, DF_E_RANGE, "'dim_mult'[0] = -1");
    assert_non_null(strstr(err.msg, "VAE "));
    kern_backend_t be = NULL;
    assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
    struct vae *vae = NULL;
    expect(vae_load(be, dir, &vae, &err), &err, DF_E_RANGE, "'dim_mult'[0] = -1");
    assert_null(vae);
    kern_backend_free(be);
    unlink(path);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- safetensors: overlapping ranges, non-finite values -------------------------- */

static void write_raw_safetensors(const char *path, const char *header, size_t data_len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t n = strlen(header);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, n, f);
    for (size_t i = 0; i < data_len; i++)
        fputc(0, f);
    fclose(f);
}

static void test_safetensors_overlap(void **state)
{
    (void)state;
    static const char *const headers[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}",
    };
    char path[] = "/tmp/df_hostile_st_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        write_raw_safetensors(path, headers[i], 12);
        struct safetensors *st = NULL;
        struct df_err err = {0};
        expect(safetensors_open(path, &st, &err), &err, DF_E_PARSE, "overlap in the data section");
        assert_null(st);
    }
    /* adjacent and empty tensors are fine */
    write_raw_safetensors(path,
                          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                          12);
    struct safetensors *st = NULL;
    struct df_err err = {0};
    if (safetensors_open(path, &st, &err) < 0)
        fail_msg("%s", err.msg);
    safetensors_close(st);
    unlink(path);
}

static void test_safetensors_non_finite(void **state)
{
    (void)state;
    char path[] = "/tmp/df_hostile_nan_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const float vals[4] = {1.0f, NAN, 2.0f, INFINITY};
    static const enum safetensors_dtype dt[] = {SAFETENSORS_DTYPE_F32, SAFETENSORS_DTYPE_F16,
                                                SAFETENSORS_DTYPE_BF16};
    for (size_t i = 0; i < sizeof dt / sizeof dt[0]; i++) {
        struct safetensors_entry e = {.name = "blocks.0.w", .dtype = dt[i], .ndim = 2,
                                      .shape = {2, 2}, .data = vals};
        struct df_err err = {0};
        assert_int_equal(safetensors_write(path, &e, 1, NULL, 0, &err), 0);
        struct safetensors *st = NULL;
        assert_int_equal(safetensors_open(path, &st, &err), 0);
        float out[4];
        const int64_t shape[2] = {2, 2};
        expect(safetensors_read_f32(st, "blocks.0.w", 2, shape, out, &err), &err, DF_E_INVAL,
               "tensor 'blocks.0.w' holds 2 non-finite value(s) (NaN or Inf; first at index 1)");
        safetensors_close(st);
    }
    unlink(path);
}

/* ---- manifest numbers -------------------------------------------------------------- */

static void test_time_limit_overflow(void **state)
{
    (void)state;
    static const char *const limits[] = {"99999999999999999999-1", "1-99999999999999999999",
                                         "99999999999999999999", "-5-1", "1:99999999999999999999"};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "defaults: {model: tiny, prompt: p, width: 64, height: 64, frames: 9}\n"
                 "shots:\n  - id: a\n    resources: {time_limit: \"%s\"}\n",
                 limits[i]);
        struct manifest *m = NULL;
        struct diag_list dl = {0};
        struct df_err err = {0};
        int rc = manifest_load_buffer("t.yaml", text, strlen(text), DF_SOURCE_DIR "/configs", &m,
                                      &dl, &err);
        if (rc >= 0 || !strstr(err.msg, "time_limit"))
            fail_msg("%s: rc %d, '%s'", limits[i], rc, err.msg);
        assert_null(m);
        diag_list_clear(&dl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckd),
        cmocka_unit_test(test_geom_hostile),
        cmocka_unit_test(test_wan_config_hostile),
        cmocka_unit_test(test_wan_block_index),
        cmocka_unit_test(test_vae_config_hostile),
        cmocka_unit_test(test_vae_negative_dim_mult),
        cmocka_unit_test(test_safetensors_overlap),
        cmocka_unit_test(test_safetensors_non_finite),
        cmocka_unit_test(test_time_limit_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
