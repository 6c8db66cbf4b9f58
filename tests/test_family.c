/* test_family.c -- the model-family registry (worker/model/family.h): the
 * tiny Wan folder loads through its _class_name, the op table's forward is
 * the family's own, and unknown classes are refused naming the known ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_json.h"
#include "family.h"
#include "wan_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TINY DF_SOURCE_DIR "/configs/models/tiny"

static void test_registry(void **state)
{
    (void)state;
    assert_true(family_count() >= 1);
    assert_string_equal(family_name_at(0), "wan2.1");
    assert_string_equal(family_for_class("WanTransformer3DModel"), "wan2.1");
    assert_null(family_for_class("UNet2DConditionModel"));
    for (int i = 0; i < family_count(); i++) /* one line per family, no duplicates */
        for (int k = i + 1; k < family_count(); k++)
            assert_string_not_equal(family_class_at(i), family_class_at(k));
}

static void test_load_forward(void **state)
{
    (void)state;
    struct df_err err = {0};
    kern_backend_t be = NULL;
    assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
    family_model_t *fm = NULL;
    if (family_load(be, TINY, &fm, &err) < 0)
        fail_msg("%s (run scripts/setup: it makes the tiny weights)", err.msg);
    struct family_info fi;
    family_info(fm, &fi);
    assert_string_equal(fi.name, "wan2.1");
    assert_int_equal(fi.layout, FAMILY_LAYOUT_CTHW);
    assert_int_equal(fi.dim, 64);
    assert_int_equal(fi.in_channels, 16);
    assert_false(fi.text_in_sequence);
    assert_true(fi.has_time_embed);
    struct family_shape sh = {.frames = 3, .height = 8, .width = 8, .text_len = 16};
    assert_int_equal(family_tokens(fm, &sh, &err), 3 * 4 * 4);
    assert_true(family_flops(fm, &sh) > 0);
    assert_int_equal(family_reserve(fm, &sh, &err), 0);
    const size_t n = 16 * 3 * 8 * 8;
    float *lat = calloc(n, sizeof(float)), *a = calloc(n, sizeof(float)),
          *b = calloc(n, sizeof(float)), *text = calloc(16 * 64, sizeof(float));
    for (size_t i = 0; i < n; i++)
        lat[i] = (float)((i * 7919) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < 16 * 64; i++)
        text[i] = (float)(i % 13) / 13.0f;
    assert_int_equal(family_forward(fm, &sh, lat, 500.0f, text, a, &err), 0);
    /* the same as the family's own call */
    struct wan_model *wm = family_handle(fm);
    struct wan_shape ws = {.frames = 3, .height = 8, .width = 8, .text_len = 16};
    assert_int_equal(wan_model_forward(wm, &ws, lat, 500.0f, text, b, &err), 0);
    assert_memory_equal(a, b, n * sizeof(float));
    float *e = calloc(64, sizeof(float)), *e0 = calloc(6 * 64, sizeof(float));
    assert_int_equal(family_time_embed(fm, 500.0f, e, e0, &err), 0);
    assert_memory_equal(e, wan_model_temb(wm), 64 * sizeof(float));
    free(e), free(e0), free(lat), free(a), free(b), free(text);
    family_free(fm);
    kern_backend_free(be);
}

static void test_unknown_class(void **state)
{
    (void)state;
    char dir[] = "/tmp/df_test_family_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[256], path[300];
    snprintf(sub, sizeof(sub), "%s/transformer", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(path, sizeof(path), "%s/config.json", sub);
    FILE *f = fopen(path, "w");
    fputs("{\"_class_name\": \"UNet2DConditionModel\"}", f);
    fclose(f);
    struct df_err err = {0};
    kern_backend_t be = NULL;
    assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
    family_model_t *fm = NULL;
    assert_int_equal(family_load(be, dir, &fm, &err), DF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'UNet2DConditionModel' is not a family the render runs"));
    assert_non_null(strstr(err.msg, "WanTransformer3DModel"));
    /* and no class at all */
    f = fopen(path, "w");
    fputs("{\"num_layers\": 2}", f);
    fclose(f);
    assert_int_equal(family_load(be, dir, &fm, &err), DF_E_PARSE);
    assert_non_null(strstr(err.msg, "no string key '_class_name'"));
    kern_backend_free(be);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_load_forward),
        cmocka_unit_test(test_unknown_class),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
