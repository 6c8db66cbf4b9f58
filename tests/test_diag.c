/* test_diag.c -- the diagnostics list: format, de-duplication, the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "diag.h"

#include <string.h>

static void test_diag_format_and_cap(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    diag_add(&dl, DIAG_SEVERITY_ERROR, "f.yaml", 3, 7, "shots[0].width", "bad %d", 5);
    diag_add(&dl, DIAG_SEVERITY_ERROR, "f.yaml", 3, 7, "shots[1].width", "bad %d", 5); /* dup */
    diag_add(&dl, DIAG_SEVERITY_WARNING, "", 0, 0, "", "note");
    assert_int_equal(dl.count, 2);
    assert_int_equal(dl.errors, 1);
    char line[DIAG_LINE_CAP];
    diag_format(&dl.items[0], line, sizeof(line));
    assert_string_equal(line, "f.yaml:3:7: error: shots[0].width: bad 5");
    diag_format(&dl.items[1], line, sizeof(line));
    assert_string_equal(line, "warning: note");
    for (int i = 0; i < DIAG_MAX + 50; i++)
        diag_add(&dl, DIAG_SEVERITY_ERROR, "f.yaml", i + 10, 1, "", "e");
    assert_int_equal(dl.count, DIAG_MAX);
    assert_int_equal(dl.dropped, 52);
    diag_list_clear(&dl);
    diag_list_clear(NULL);
    diag_add(NULL, DIAG_SEVERITY_ERROR, "", 0, 0, "", "ignored");
}

/* A value quoted from a manifest cannot start a new line or send ESC codes. */
static void test_diag_escapes_controls(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    diag_add(&dl, DIAG_SEVERITY_ERROR, "f.yaml", 6, 28, "shots[0].x\ny", "invalid name '%s'",
             "debug\n#SBATCH --uid=0 \x1b[31mred\x7f caf\xc3\xa9");
    char line[DIAG_LINE_CAP];
    diag_format(&dl.items[0], line, sizeof(line));
    assert_string_equal(line, "f.yaml:6:28: error: shots[0].x\\x0ay: invalid name "
                              "'debug\\x0a#SBATCH --uid=0 \\x1b[31mred\\x7f caf\xc3\xa9'");
    assert_null(strchr(line, '\n'));
    diag_list_clear(&dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diag_format_and_cap),
        cmocka_unit_test(test_diag_escapes_controls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
