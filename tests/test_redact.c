/* test_redact.c -- manifest_diags_redact: no text of a named file in replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "manifest.h"

#include <stdio.h>
#include <string.h>

static int any_has(const struct diag_list *dl, const char *text)
{
    for (size_t i = 0; i < dl->count; i++)
        if (strstr(dl->items[i].msg, text) || strstr(dl->items[i].path, text))
            return 1;
    return 0;
}

static void test_named_files_not_quoted(void **state)
{
    (void)state;
    const char *y = "name: r\nshots:\n"
                    "  - {id: a, model: /etc/passwd, prompt: x}\n"
                    "  - {id: b, model: tiny, prompt: x, steps: -3}\n";
    struct manifest *m = NULL;
    struct diag_list dl = {0};
    struct df_err err = {0};
    assert_true(manifest_load_buffer("r.yaml", y, strlen(y), DF_SOURCE_DIR "/configs", &m, &dl,
                                     &err) < 0);
    assert_true(any_has(&dl, "root:")); /* the loader's own words quote the file */
    manifest_diags_redact(&dl, "r.yaml");
    assert_false(any_has(&dl, "root:"));
    assert_true(any_has(&dl, "cannot be used"));
    /* a problem in the manifest itself keeps its words */
    assert_true(any_has(&dl, "out of range"));
    diag_list_clear(&dl);
    manifest_diags_redact(NULL, NULL);
    /* a diagnostic located in an included file is not repeated either */
    struct diag_list two = {0};
    diag_add(&two, DIAG_SEVERITY_ERROR, "/etc/shadow", 1, 1, "", "unknown key 'root:*:1'");
    diag_add(&two, DIAG_SEVERITY_ERROR, "r.yaml", 3, 5, "shots[0].steps", "bad steps");
    manifest_diags_redact(&two, "r.yaml");
    assert_false(any_has(&two, "root:"));
    assert_string_equal(two.items[0].file, "/etc/shadow");
    assert_string_equal(two.items[1].msg, "bad steps");
    diag_list_clear(&two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_files_not_quoted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
