/* test_ytree.c -- the YAML tree: typed reads (ranges, overflow, strictness),
 * null handling, anchors and `<<` merges, deep merge, limits, key paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ytree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct ytree *parse(const char *text, struct diag_list *dl)
{
    struct ytree *t = NULL;
    struct df_err err = {0};
    int rc = ytree_parse("t.yaml", text, strlen(text), &t, dl, &err);
    if (rc < 0)
        assert_null(t);
    return t;
}

static void test_ints(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    struct ytree *t = parse("a: 42\nb: -7\nc: 1_000\nd: 9223372036854775807\n"
                            "e: -9223372036854775808\nf: 9223372036854775808\n"
                            "g: 18446744073709551616\nh: '5'\ni: 5.0\nj: 0x10\nk: +3\nl: +\n",
                            &dl);
    assert_non_null(t);
    const struct ynode *r = ytree_root(t);
    int64_t v;
    assert_int_equal(ynode_int(ynode_get(r, "a"), 0, 100, &v, &dl), 0);
    assert_int_equal(v, 42);
    assert_int_equal(ynode_int(ynode_get(r, "b"), -10, 0, &v, &dl), 0);
    assert_int_equal(v, -7);
    assert_int_equal(ynode_int(ynode_get(r, "c"), 0, 10000, &v, &dl), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(ynode_int(ynode_get(r, "d"), INT64_MIN, INT64_MAX, &v, &dl), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(ynode_int(ynode_get(r, "e"), INT64_MIN, INT64_MAX, &v, &dl), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(ynode_int(ynode_get(r, "k"), 0, 10, &v, &dl), 0);
    assert_int_equal(v, 3);
    assert_int_equal(dl.count, 0);
    assert_int_equal(ynode_int(ynode_get(r, "a"), 0, 10, &v, &dl), -1);
    assert_string_equal(dl.items[0].msg, "42 is out of range (allowed: 0 to 10)");
    assert_string_equal(dl.items[0].path, "a");
    assert_int_equal(dl.items[0].line, 1);
    assert_int_equal(dl.items[0].col, 4);
    assert_int_equal(ynode_int(ynode_get(r, "f"), INT64_MIN, INT64_MAX, &v, &dl), -1);
    assert_int_equal(ynode_int(ynode_get(r, "g"), INT64_MIN, INT64_MAX, &v, &dl), -1);
    assert_int_equal(ynode_int(ynode_get(r, "h"), 0, 10, &v, &dl), -1);
    assert_int_equal(ynode_int(ynode_get(r, "i"), 0, 10, &v, &dl), -1);
    assert_int_equal(ynode_int(ynode_get(r, "j"), 0, 100, &v, &dl), -1);
    assert_int_equal(ynode_int(ynode_get(r, "l"), 0, 100, &v, &dl), -1);
    assert_int_equal(ynode_int(NULL, 0, 100, &v, &dl), -1);
    assert_string_equal(dl.items[1].msg,
                        "9223372036854775808 is out of range (allowed: -9223372036854775808 to "
                        "9223372036854775807)");
    assert_string_equal(dl.items[3].msg, "expected an integer, got a quoted string '5'");
    assert_string_equal(dl.items[4].msg, "expected an integer, got '5.0'");
    assert_string_equal(dl.items[7].msg, "expected an integer, got nothing");
    ytree_free(t);
    diag_list_clear(&dl);
}

static void test_doubles_and_bools(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    struct ytree *t = parse("a: 0.5\nb: 3\nc: 1e-3\nd: .inf\ne: nan\nf: 0x1p3\ng: 1e400\n"
                            "h: yes\ni: off\nj: maybe\nk: 'true'\n",
                            &dl);
    const struct ynode *r = ytree_root(t);
    double d;
    int b;
    assert_int_equal(ynode_double(ynode_get(r, "a"), 0, 1, &d, &dl), 0);
    assert_true(d == 0.5);
    assert_int_equal(ynode_double(ynode_get(r, "b"), 0, 10, &d, &dl), 0);
    assert_true(d == 3.0);
    assert_int_equal(ynode_double(ynode_get(r, "c"), 0, 1, &d, &dl), 0);
    assert_true(d == 1e-3);
    assert_int_equal(dl.count, 0);
    assert_int_equal(ynode_double(ynode_get(r, "d"), -1e300, 1e300, &d, &dl), -1);
    assert_int_equal(ynode_double(ynode_get(r, "e"), -1e300, 1e300, &d, &dl), -1);
    assert_int_equal(ynode_double(ynode_get(r, "f"), -1e300, 1e300, &d, &dl), -1);
    assert_int_equal(ynode_double(ynode_get(r, "g"), -1e300, 1e300, &d, &dl), -1);
    assert_string_equal(dl.items[3].msg, "1e400 is out of range (allowed: -1e+300 to 1e+300)");
    assert_int_equal(ynode_bool(ynode_get(r, "h"), &b, &dl), 0);
    assert_int_equal(b, 1);
    assert_int_equal(ynode_bool(ynode_get(r, "i"), &b, &dl), 0);
    assert_int_equal(b, 0);
    assert_int_equal(ynode_bool(ynode_get(r, "j"), &b, &dl), -1);
    assert_int_equal(ynode_bool(ynode_get(r, "k"), &b, &dl), -1);
    ytree_free(t);
    diag_list_clear(&dl);
}

static void test_nulls_strings_paths(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    struct ytree *t = parse("a:\nb: ~\nc: null\nd: 'null'\nlist:\n  - x\n  - {k: [1, 2]}\n", &dl);
    const struct ynode *r = ytree_root(t);
    assert_true(ynode_is_null(ynode_get(r, "a")));
    assert_true(ynode_is_null(ynode_get(r, "b")));
    assert_true(ynode_is_null(ynode_get(r, "c")));
    assert_false(ynode_is_null(ynode_get(r, "d"))); /* quoted: the string "null" */
    assert_true(ynode_is_null(ynode_get(r, "nope")));
    const char *s;
    assert_int_equal(ynode_str(ynode_get(r, "d"), &s, &dl), 0);
    assert_string_equal(s, "null");
    const struct ynode *list = ynode_get(r, "list");
    assert_int_equal(list->kind, YNODE_KIND_SEQ);
    assert_int_equal(list->n, 2);
    assert_string_equal(list->items[0]->path, "list[0]");
    const struct ynode *k = ynode_get(list->items[1], "k");
    assert_string_equal(k->path, "list[1].k");
    assert_string_equal(k->items[1]->path, "list[1].k[1]");
    assert_int_equal(k->items[1]->line, 7);
    assert_int_equal(k->items[1]->col, 13);
    assert_int_equal(ynode_expect(k, YNODE_KIND_MAP, &dl), -1);
    assert_string_equal(dl.items[0].msg, "expected a mapping, got a list");
    ytree_free(t);
    diag_list_clear(&dl);
}

static void test_merge_keys(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    struct ytree *t = parse("a: &a {x: 1, y: 1}\n"
                            "b: &b {y: 2, z: 2}\n"
                            "c: {<<: [*a, *b], x: 3}\n"
                            "d: {<<: 5}\n",
                            &dl);
    assert_null(t); /* `<<: 5` is an error */
    assert_int_equal(dl.count, 1);
    assert_string_equal(dl.items[0].msg, "'<<' merges a mapping or a list of mappings, not a string");
    diag_list_clear(&dl);
    t = parse("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc: {<<: [*a, *b], x: 3}\n", &dl);
    const struct ynode *c = ynode_get(ytree_root(t), "c");
    assert_int_equal(c->n, 3);
    assert_string_equal(ynode_get(c, "x")->str, "3"); /* explicit wins */
    assert_string_equal(ynode_get(c, "y")->str, "1"); /* first merged map wins */
    assert_string_equal(ynode_get(c, "z")->str, "2");
    ytree_free(t);
}

static void test_deep_merge(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    struct ytree *t = parse("base: {a: 1, o: {p: 1, q: 1}, l: [1, 2]}\n"
                            "over: {o: {q: 2, r: 2}, l: [3], n: 4, a: ~}\n",
                            &dl);
    const struct ynode *m =
        ytree_merge(t, ynode_get(ytree_root(t), "base"), ynode_get(ytree_root(t), "over"), &dl);
    assert_non_null(m);
    assert_string_equal(ynode_get(m, "a")->str, "1"); /* null keeps the base */
    const struct ynode *o = ynode_get(m, "o");
    assert_string_equal(ynode_get(o, "p")->str, "1");
    assert_string_equal(ynode_get(o, "q")->str, "2");
    assert_string_equal(ynode_get(o, "r")->str, "2");
    assert_int_equal(ynode_get(m, "l")->n, 1); /* lists replace */
    assert_string_equal(ynode_get(m, "n")->str, "4");
    assert_string_equal(m->path, "over"); /* messages point at the override */
    assert_null(ytree_merge(t, NULL, NULL, &dl));
    ytree_free(t);
}

static void test_limits_and_errors(void **state)
{
    (void)state;
    struct diag_list dl = {0};
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 199);
    deep[399] = '\0';
    assert_null(parse(deep, &dl));
    assert_string_equal(dl.items[0].msg, "nesting deeper than 64 levels");
    assert_int_equal(dl.items[0].col, 65);
    diag_list_clear(&dl);
    assert_null(parse("a: 1\na: 2\n", &dl));
    assert_string_equal(dl.items[0].msg, "duplicate key 'a' (first at line 1)");
    diag_list_clear(&dl);
    assert_null(parse("{[1]: 2}\n", &dl));
    assert_string_equal(dl.items[0].msg, "mapping keys must be plain strings, not a sequence");
    diag_list_clear(&dl);
    assert_null(parse("a: *nope\n", &dl));
    diag_list_clear(&dl);
    /* Empty input: a tree with no root. */
    struct ytree *t = parse("", &dl);
    assert_non_null(t);
    assert_null(ytree_root(t));
    ytree_free(t);
    /* Many nodes: the cap stops the parse. */
    size_t n = (size_t)YTREE_MAX_NODES + 10;
    char *big = malloc(2 * n + 3);
    big[0] = '[';
    for (size_t i = 0; i < n; i++) {
        big[1 + 2 * i] = '1';
        big[2 + 2 * i] = ',';
    }
    big[2 * n] = ']';
    big[2 * n + 1] = '\0';
    assert_null(parse(big, &dl));
    free(big);
    assert_non_null(strstr(dl.items[0].msg, "document too large"));
    diag_list_clear(&dl);
    ytree_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ints),        cmocka_unit_test(test_doubles_and_bools),
        cmocka_unit_test(test_nulls_strings_paths), cmocka_unit_test(test_merge_keys),
        cmocka_unit_test(test_deep_merge),  cmocka_unit_test(test_limits_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
