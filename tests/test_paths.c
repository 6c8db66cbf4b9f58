/* test_paths.c -- the configs/ lookup order and the path helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIGS DF_SOURCE_DIR "/configs"

static void test_configs_dir(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    struct df_err err = {0};
    assert_int_equal(paths_configs_dir(CONFIGS, dir, sizeof(dir), &err), 0);
    assert_int_equal(paths_configs_dir(DF_TEST_DATA, dir, sizeof(dir), &err), DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "no models/ inside"));
    setenv("DITFARM_CONFIGS", CONFIGS, 1);
    assert_int_equal(paths_configs_dir(NULL, dir, sizeof(dir), &err), 0);
    unsetenv("DITFARM_CONFIGS");
    /* Fallback: the compiled-in source dir. */
    assert_int_equal(paths_configs_dir(NULL, dir, sizeof(dir), &err), 0);
    char want[PATH_MAX];
    assert_non_null(realpath(CONFIGS, want));
    assert_string_equal(dir, want);
}

static void test_join_and_dirname(void **state)
{
    (void)state;
    char out[PATH_MAX], small[8];
    struct df_err err = {0};
    assert_int_equal(paths_join("/a/b", "c.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/a/b/c.yaml");
    assert_int_equal(paths_join("/a/b", "./c.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/a/b/c.yaml");
    assert_int_equal(paths_join("/a/b", "/abs/x", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/abs/x");
    assert_int_equal(paths_join("/a/b", "long-name", small, sizeof(small), &err), DF_E_RANGE);
    assert_int_equal(paths_dirname_abs("/x/y/z.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/x/y");
    assert_int_equal(paths_dirname_abs("/z.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, "/");
    char cwd[PATH_MAX], want[PATH_MAX + 8];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(paths_dirname_abs("z.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, cwd);
    snprintf(want, sizeof(want), "%s/sub", cwd);
    assert_int_equal(paths_dirname_abs("sub/z.yaml", out, sizeof(out), &err), 0);
    assert_string_equal(out, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configs_dir),
        cmocka_unit_test(test_join_and_dirname),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
