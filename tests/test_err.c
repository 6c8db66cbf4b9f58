/* test_err.c -- lib/err.c: codes, names, messages, prefixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "err.h"

static void test_set_and_name(void **state)
{
    (void)state;
    struct df_err err = {0};
    int rc = df_err_set(&err, DF_E_PARSE, "%s:%d:%d: bad", "a.yaml", 3, 7);
    assert_int_equal(rc, DF_E_PARSE);
    assert_int_equal(err.code, DF_E_PARSE);
    assert_string_equal(err.msg, "a.yaml:3:7: bad");
    assert_string_equal(df_strerror(DF_E_PARSE), "parse error");
    assert_string_equal(df_strerror(DF_OK), "success");
    assert_string_equal(df_strerror(-999), "unknown error");
    assert_string_equal(df_strerror(5), "unknown error");
}

static void test_prefix_keeps_message(void **state)
{
    (void)state;
    struct df_err err = {0};
    df_err_set(&err, DF_E_IO, "open x failed");
    df_err_prefix(&err, "shot %d", 3);
    assert_string_equal(err.msg, "shot 3: open x failed");
}

static void test_errno_suffix(void **state)
{
    (void)state;
    struct df_err err = {0};
    errno = ENOENT;
    df_err_errno(&err, DF_E_IO, "open %s", "/nope");
    assert_string_equal(err.msg, "open /nope: No such file or directory");
}

static void test_null_err_is_fine(void **state)
{
    (void)state;
    assert_int_equal(df_err_set(NULL, DF_E_INVAL, "x"), DF_E_INVAL);
    df_err_prefix(NULL, "y");
    df_err_clear(NULL);
}

static int try_chain(struct df_err *err)
{
    DF_TRY(df_err_set(err, DF_E_RANGE, "inner"));
    return 0;
}

static void test_try_forwards(void **state)
{
    (void)state;
    struct df_err err = {0};
    assert_int_equal(try_chain(&err), DF_E_RANGE);
    assert_string_equal(err.msg, "inner");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_name),
        cmocka_unit_test(test_prefix_keeps_message),
        cmocka_unit_test(test_errno_suffix),
        cmocka_unit_test(test_null_err_is_fine),
        cmocka_unit_test(test_try_forwards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
