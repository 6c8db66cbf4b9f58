/* test_safetensors.c -- worker/model/safetensors.c: header validation, bad files,
 * shards, dtype conversion, lookups and the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"

/* Every file in tests/data/bad/safetensors/ with its code and message part. */
static const struct {
    const char *file;
    int code;
    const char *msg;
} bad_files[] = {
    {"truncated.safetensors", DF_E_PARSE, "truncated: 5 bytes"},
    {"header_beyond_file.safetensors", DF_E_PARSE, "header length 1000 exceeds the file (66 bytes)"},
    {"bad_json.safetensors", DF_E_PARSE, "header is not a JSON object"},
    {"header_not_object.safetensors", DF_E_PARSE, "header is not a JSON object"},
    {"offsets_out_of_range.safetensors", DF_E_PARSE,
     "tensor 'w': data_offsets [0, 8] outside the data section (4 bytes)"},
    {"offsets_reversed.safetensors", DF_E_PARSE, "tensor 'w': data_offsets [4, 0] outside"},
    {"unknown_dtype.safetensors", DF_E_PARSE, "tensor 'w': unknown dtype 'F7'"},
    {"size_mismatch.safetensors", DF_E_PARSE,
     "tensor 'w': F32 shape needs 12 bytes but data_offsets span 8"},
    {"negative_dim.safetensors", DF_E_PARSE, "tensor 'w': shape[0] is not a non-negative integer"},
    {"huge_shape.safetensors", DF_E_PARSE, "tensor 'w': shape larger than the file's data"},
    {"offsets_not_pair.safetensors", DF_E_PARSE, "tensor 'w': 'data_offsets' must be [begin, end]"},
    {"duplicate_name.safetensors", DF_E_PARSE, "tensor 'w' appears twice"},
    {"missing_dtype.safetensors", DF_E_PARSE, "tensor 'w': missing string 'dtype'"},
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/bad/safetensors/%s", DF_TEST_DATA, bad_files[i].file);
        struct safetensors *st = (void *)1;
        struct df_err err = {0};
        int rc = safetensors_open(path, &st, &err);
        if (rc != bad_files[i].code || !strstr(err.msg, bad_files[i].msg) ||
            !strstr(err.msg, bad_files[i].file))
            fail_msg("%s: rc %d, message '%s', expected %d '%s'", bad_files[i].file, rc, err.msg,
                     bad_files[i].code, bad_files[i].msg);
        assert_null(st);
    }
    struct safetensors *st;
    struct df_err err = {0};
    assert_int_equal(safetensors_open("/nonexistent/x.safetensors", &st, &err), DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/x.safetensors: open"));
}

static void test_roundtrip_dtypes(void **state)
{
    (void)state;
    char path[] = "/tmp/test_safetensors.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    float a[6] = {1.0f, -2.5f, 3.140625f, 0.0f, 65504.0f, -1e-3f};
    float b[3] = {0.1f, 1e20f, -7.0f};
    float c = 42.0f;
    struct safetensors_entry e[] = {
        {.name = "a.f32", .dtype = SAFETENSORS_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "a.f16", .dtype = SAFETENSORS_DTYPE_F16, .ndim = 2, .shape = {3, 2}, .data = a},
        {.name = "b.bf16", .dtype = SAFETENSORS_DTYPE_BF16, .ndim = 1, .shape = {3}, .data = b},
        {.name = "scalar", .dtype = SAFETENSORS_DTYPE_F32, .ndim = 0, .data = &c},
    };
    const char *meta[] = {"format", "pt"};
    struct df_err err = {0};
    assert_int_equal(safetensors_write(path, e, 4, meta, 1, &err), 0);

    struct safetensors *st;
    assert_int_equal(safetensors_open(path, &st, &err), 0);
    assert_int_equal(safetensors_count(st), 4);
    assert_string_equal(safetensors_at(st, 0)->name, "a.f16"); /* name order */
    assert_null(safetensors_at(st, 4));
    float got[6];
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s3[1] = {3};
    assert_int_equal(safetensors_read_f32(st, "a.f32", 2, s23, got, &err), 0);
    assert_memory_equal(got, a, sizeof a);
    assert_int_equal(safetensors_read_f32(st, "a.f16", 2, s32, got, &err), 0);
    for (int i = 0; i < 6; i++) /* all exactly representable in f16 but the last */
        assert_true(fabsf(got[i] - a[i]) <= fabsf(a[i]) * 1e-3f);
    assert_true(got[4] == 65504.0f);
    assert_int_equal(safetensors_read_f32(st, "b.bf16", 1, s3, got, &err), 0);
    for (int i = 0; i < 3; i++)
        assert_true(fabsf(got[i] - b[i]) <= fabsf(b[i]) * 4e-3f);
    const struct safetensors_tensor *t = safetensors_find(st, "scalar");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    assert_int_equal(safetensors_read_f32(st, "scalar", 0, NULL, got, &err), 0);
    assert_true(got[0] == 42.0f);

    /* Shape and name errors, with the file's path. */
    char want[800];
    assert_int_equal(safetensors_read_f32(st, "a.f32", 2, s32, got, &err), DF_E_INVAL);
    snprintf(want, sizeof want, "%s: tensor 'a.f32' has shape [2, 3], expected [3, 2]", path);
    assert_string_equal(err.msg, want);
    assert_int_equal(safetensors_read_f32(st, "nope", 1, s3, got, &err), DF_E_NOTFOUND);
    snprintf(want, sizeof want, "%s: tensor 'nope' not found", path);
    assert_string_equal(err.msg, want);
    assert_int_equal(safetensors_to_f32(t, got, 2, &err), DF_E_INVAL);
    safetensors_close(st);

    /* The writer refuses duplicate names and dtypes it cannot produce. */
    struct safetensors_entry dup[] = {e[0], e[0]};
    assert_int_equal(safetensors_write(path, dup, 2, NULL, 0, &err), DF_E_INVAL);
    struct safetensors_entry i64 = e[0];
    i64.dtype = SAFETENSORS_DTYPE_I64;
    assert_int_equal(safetensors_write(path, &i64, 1, NULL, 0, &err), DF_E_INVAL);
    unlink(path);
}

static void test_scalar_conversions(void **state)
{
    (void)state;
    assert_true(safetensors_f16_to_f32(0x3c00) == 1.0f);
    assert_true(safetensors_f16_to_f32(0xc000) == -2.0f);
    assert_true(safetensors_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(safetensors_f16_to_f32(0x0001) == 0x1p-24f); /* smallest subnormal */
    assert_true(safetensors_f16_to_f32(0x8000) == 0.0f && signbit(safetensors_f16_to_f32(0x8000)));
    assert_true(isinf(safetensors_f16_to_f32(0x7c00)));
    assert_true(isnan(safetensors_f16_to_f32(0x7e00)));
    assert_true(safetensors_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(safetensors_bf16_to_f32(0xc2f7) == -123.5f);
    assert_int_equal(safetensors_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(safetensors_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(safetensors_f32_to_f16(1e6f), 0x7c00);
    assert_int_equal(safetensors_f32_to_f16(0x1p-24f), 0x0001);
    /* every f16 round-trips through f32 */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue; /* nan payloads */
        assert_int_equal(safetensors_f32_to_f16(safetensors_f16_to_f32((uint16_t)h)), h);
    }
    enum safetensors_dtype d;
    assert_int_equal(safetensors_dtype_from_name("BF16", &d), 0);
    assert_int_equal(d, SAFETENSORS_DTYPE_BF16);
    assert_int_equal(safetensors_dtype_from_name("bf16", &d), DF_E_NOTFOUND);
    assert_string_equal(safetensors_dtype_name(SAFETENSORS_DTYPE_F8_E4M3), "F8_E4M3");
    assert_string_equal(safetensors_dtype_name(SAFETENSORS_DTYPE_COUNT), "?");
    assert_int_equal(safetensors_dtype_size(SAFETENSORS_DTYPE_F64), 8);
}

static void test_sharded_fixture(void **state)
{
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/wan/d/transformer", DF_TEST_DATA);
    struct safetensors *st;
    struct df_err err = {0};
    assert_int_equal(safetensors_open_model(dir, "diffusion_pytorch_model", &st, &err), 0);
    /* tensors from all three shards */
    const struct safetensors_tensor *a = safetensors_find(st, "proj_out.weight");
    const struct safetensors_tensor *b = safetensors_find(st, "blocks.0.attn1.to_q.weight");
    const struct safetensors_tensor *c = safetensors_find(st, "blocks.1.ffn.net.2.bias");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(strstr(a->path, "-of-00003.safetensors") != NULL);
    int64_t shape[1] = {7};
    assert_int_equal(safetensors_get(st, "missing.weight", 1, shape, &a, &err), DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "(and 2 other shards): tensor 'missing.weight' not found"));
    safetensors_close(st);

    assert_int_equal(safetensors_open_model(dir, "no_such_model", &st, &err), DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "no no_such_model.safetensors nor"));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_bad_index(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_safetensors_idx.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char idx[600], shard[600];
    snprintf(idx, sizeof idx, "%s/m.safetensors.index.json", dir);
    snprintf(shard, sizeof shard, "%s/m-1.safetensors", dir);
    float v = 1.0f;
    struct safetensors_entry e = {.name = "x", .dtype = SAFETENSORS_DTYPE_F32, .ndim = 1,
                                  .shape = {1}, .data = &v};
    struct df_err err = {0};
    assert_int_equal(safetensors_write(shard, &e, 1, NULL, 0, &err), 0);
    struct safetensors *st;

    write_file(idx, "{\"weight_map\": {\"x\": \"m-1.safetensors\", \"y\": \"m-2.safetensors\"}}");
    assert_int_equal(safetensors_open_model(dir, "m", &st, &err), DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "m-2.safetensors: open"));

    write_file(idx, "{\"weight_map\": {\"x\": \"m-1.safetensors\", \"y\": \"m-1.safetensors\"}}");
    assert_int_equal(safetensors_open_model(dir, "m", &st, &err), DF_E_PARSE);
    assert_non_null(strstr(err.msg, "tensor 'y' is mapped to m-1.safetensors but missing there"));

    write_file(idx, "{\"weight_map\": {\"x\": \"../m-1.safetensors\"}}");
    assert_int_equal(safetensors_open_model(dir, "m", &st, &err), DF_E_PARSE);
    assert_non_null(strstr(err.msg, "not a plain file name"));

    write_file(idx, "{\"weights\": {}}");
    assert_int_equal(safetensors_open_model(dir, "m", &st, &err), DF_E_PARSE);
    assert_non_null(strstr(err.msg, "\"weight_map\""));

    write_file(idx, "{\"weight_map\": {\"x\": \"m-1.safetensors\"}}");
    assert_int_equal(safetensors_open_model(dir, "m", &st, &err), 0);
    assert_int_equal(safetensors_count(st), 1);
    safetensors_close(st);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_roundtrip_dtypes),
        cmocka_unit_test(test_scalar_conversions),
        cmocka_unit_test(test_sharded_fixture),
        cmocka_unit_test(test_bad_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
