/* test_shellq.c -- shell quoting, the identifier rule and argv-run programs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ident.h"
#include "shellq.h"
#include "subproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Quote s, let sh echo it back, compare: the quoting is right when the shell
 * sees exactly s. */
static void round_trip(const char *s)
{
    char q[1024], cmd[1200];
    struct df_err err = {0};
    assert_int_equal(shellq_quote(s, q, sizeof(q), &err), 0);
    snprintf(cmd, sizeof(cmd), "printf '%%s' %s", q);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    char *out = NULL;
    int status = -1;
    assert_int_equal(subproc_run(argv, SUBPROC_STDERR_MERGE, 5000, 4096, &out, &status, &err), 0);
    assert_int_equal(status, 0);
    assert_string_equal(out, s);
    free(out);
}

static void test_quote(void **state)
{
    (void)state;
    round_trip("plain");
    round_trip("");
    round_trip("x'$(touch PWNED)");
    round_trip("'''");
    round_trip("a b $HOME `id` \\ \" ; | & * ? ~ # !");
    char q[16];
    struct df_err err = {0};
    assert_int_equal(shellq_quote("a\nb", q, sizeof(q), &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "a\\x0ab"));
    assert_int_equal(shellq_quote("a\x7f", q, sizeof(q), &err), DF_E_INVAL);
    assert_int_equal(shellq_quote("0123456789abcdef", q, sizeof(q), &err), DF_E_RANGE);
    char list[32] = "x";
    assert_int_equal(shellq_append("it's", list, sizeof(list), &err), 0);
    assert_string_equal(list, "x 'it'\\''s'");
    assert_int_equal(shellq_append("a\rb", list, sizeof(list), &err), DF_E_INVAL);
    assert_string_equal(list, "x 'it'\\''s'"); /* unchanged on error */
}

static void test_ident(void **state)
{
    (void)state;
    const char *good[] = {"a", "shot-1", "A.b_c", "x..y", "0", NULL};
    const char *bad[] = {"", ".", "..", ".hidden", "-opt", "a/b", "a b", "a\nb", "x'$(y)",
                         "0123456789012345678901234567890123456789012345678901234567890123",
                         NULL};
    for (int i = 0; good[i]; i++)
        assert_true(ident_valid(good[i]));
    for (int i = 0; bad[i]; i++)
        assert_false(ident_valid(bad[i]));
    assert_false(ident_valid(NULL));
    struct df_err err = {0};
    assert_int_equal(ident_check("shot id", "a\nb", &err), DF_E_INVAL);
    assert_null(strchr(err.msg, '\n'));
    assert_non_null(strstr(err.msg, "invalid shot id 'a\\x0ab'"));
}

static void test_subproc(void **state)
{
    (void)state;
    struct df_err err = {0};
    char *out = NULL;
    int status = -1;
    /* an argument is one argument, whatever it holds */
    const char *argv[] = {"printf", "%s|", "a b", "$(touch /tmp/df_never)", NULL};
    assert_int_equal(subproc_run(argv, SUBPROC_STDERR_MERGE, 5000, 4096, &out, &status, &err), 0);
    assert_int_equal(status, 0);
    assert_string_equal(out, "a b|$(touch /tmp/df_never)|");
    free(out);
    /* a missing program is a clear error */
    const char *none[] = {"df-no-such-program", NULL};
    assert_int_equal(subproc_run(none, SUBPROC_STDERR_MERGE, 5000, 4096, &out, &status, &err),
                     DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "df-no-such-program"));
    /* the deadline kills */
    const char *slow[] = {"sleep", "10", NULL};
    assert_int_equal(subproc_run(slow, SUBPROC_STDERR_MERGE, 200, 4096, &out, &status, &err), 0);
    assert_int_equal(status, SUBPROC_TIMED_OUT);
    free(out);
    /* output beyond the cap is read and dropped; stderr can stay apart */
    const char *big[] = {"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo warn >&2", NULL};
    assert_int_equal(subproc_run(big, SUBPROC_STDERR_NULL, 5000, 1000, &out, &status, &err), 0);
    assert_int_equal(strlen(out), 1000);
    assert_null(strstr(out, "warn"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_ident),
        cmocka_unit_test(test_subproc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
