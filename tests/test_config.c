/* test_config.c -- daemon/config.c: the directive table, its parser, and
 * configs/ditfarmd.conf documenting every directive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static void test_defaults_follow_the_table(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    assert_int_equal(c.tick_ms, 200);
    assert_int_equal(c.max_attempts, 3);
    assert_string_equal(c.jobs_dir, "");
    for (const struct config_row *r = config_table; r->key; r++) {
        assert_true(r->type == CONFIG_TYPE_INT || r->type == CONFIG_TYPE_STRING);
        assert_non_null(r->help);
        assert_true(r->help[0] != '\0');
        if (r->type == CONFIG_TYPE_INT) {
            int v = *(const int *)(const void *)((const char *)&c + r->offset);
            assert_true(v >= r->lo && v <= r->hi);
            assert_int_equal(v, atoi(r->def));
        }
        for (const struct config_row *o = r + 1; o->key; o++)
            assert_string_not_equal(r->key, o->key);
    }
}

static void test_set_checks_type_and_bounds(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    struct df_err err = {0};
    assert_int_equal(config_set(&c, "tick-ms", "50", &err), 0);
    assert_int_equal(c.tick_ms, 50);
    assert_int_equal(config_set(&c, "tick-ms", "5", &err), DF_E_RANGE);
    assert_string_equal(err.msg, "tick-ms: 5 is out of range 10..10000");
    assert_int_equal(c.tick_ms, 50);
    assert_int_equal(config_set(&c, "tick-ms", "12x", &err), DF_E_INVAL);
    assert_int_equal(config_set(&c, "tick-ms", "", &err), DF_E_INVAL);
    assert_int_equal(config_set(&c, "no-such", "1", &err), DF_E_NOTFOUND);
    assert_string_equal(err.msg, "unknown directive 'no-such'");
    assert_int_equal(config_set(&c, "notify-url", "http://127.0.0.1:9/x", &err), 0);
    assert_string_equal(c.notify_url, "http://127.0.0.1:9/x");
    char big[2048];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(config_set(&c, "notify-url", big, &err), DF_E_RANGE);
}

static void test_file_errors_name_the_line(void **state)
{
    (void)state;
    char path[] = "/tmp/df-test-config.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n\n  tick-ms   300  \nmax-attempts 0\n", f);
    fclose(f);
    struct config c;
    config_defaults(&c);
    struct df_err err = {0};
    assert_int_equal(config_load_file(&c, path, &err), DF_E_RANGE);
    char want[256];
    snprintf(want, sizeof(want), "%s:4: max-attempts: 0 is out of range 1..100", path);
    assert_string_equal(err.msg, want);
    assert_int_equal(c.tick_ms, 300);
    unlink(path);
    assert_int_equal(config_load_file(&c, "/nonexistent/ditfarmd.conf", &err), DF_E_IO);
}

/* config_write's output is a config file giving back the same values. */
static void test_write_round_trips(void **state)
{
    (void)state;
    struct config c, back;
    config_defaults(&c);
    struct df_err err = {0};
    assert_int_equal(config_set(&c, "webhook-batch", "3", &err), 0);
    assert_int_equal(config_set(&c, "state-dir", "/var/lib/ditfarm", &err), 0);
    char path[] = "/tmp/df-test-config.XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    assert_int_equal(config_write(&c, f, &err), 0);
    fclose(f);
    config_defaults(&back);
    assert_int_equal(config_load_file(&back, path, &err), 0);
    unlink(path);
    assert_memory_equal(&c, &back, sizeof(c));
}

/* The shipped file parses and lists every directive of the table. */
static void test_shipped_file_documents_every_directive(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof(path), "%s/configs/ditfarmd.conf", DF_SOURCE_DIR);
    struct config c, def;
    config_defaults(&c);
    config_defaults(&def);
    struct df_err err = {0};
    assert_int_equal(config_load_file(&c, path, &err), 0);
    /* it states the defaults, except that it turns HTTP on for loopback */
    assert_int_equal(config_set(&def, "http-listen", "127.0.0.1:8470", NULL), 0);
    assert_memory_equal(&c, &def, sizeof(c));
    assert_int_equal(config_set(&def, "http_listen", "", NULL), 0); /* '_' == '-' in keys */
    assert_string_equal(def.http_listen, "");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    for (const struct config_row *r = config_table; r->key; r++) {
        char line[128];
        snprintf(line, sizeof(line), "\n%s ", r->key);
        if (!strstr(text, line))
            fail_msg("configs/ditfarmd.conf lacks directive %s", r->key);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_follow_the_table),
        cmocka_unit_test(test_set_checks_type_and_bounds),
        cmocka_unit_test(test_file_errors_name_the_line),
        cmocka_unit_test(test_write_round_trips),
        cmocka_unit_test(test_shipped_file_documents_every_directive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
