/* test_depsched.c -- the one `after:` scheduler: readiness, priority, skips
 * that propagate, groups, and the submission order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "depsched.h"

static const char *const k_after_a[] = {"a"};
static const char *const k_after_b[] = {"b"};
static const char *const k_after_ac[] = {"a", "c"};

/* a; b after a; c (priority 5); d after b; e after a, c; in another group f after a */
static void nodes(struct dep_node *n)
{
    n[0] = (struct dep_node){.id = "a"};
    n[1] = (struct dep_node){.id = "b", .after = k_after_a, .n_after = 1};
    n[2] = (struct dep_node){.id = "c", .priority = 5};
    n[3] = (struct dep_node){.id = "d", .after = k_after_b, .n_after = 1};
    n[4] = (struct dep_node){.id = "e", .after = k_after_ac, .n_after = 2};
    n[5] = (struct dep_node){.id = "f", .group = 1, .after = k_after_a, .n_after = 1};
}

static void test_next(void **state)
{
    (void)state;
    struct dep_node n[6];
    nodes(n);
    int skipped[6];
    size_t n_sk = 0;
    assert_int_equal(depsched_next(n, 6, skipped, &n_sk), 2); /* priority first */
    n[2].state = DEP_STATE_DONE;
    assert_int_equal(depsched_next(n, 6, skipped, &n_sk), 0);
    /* f's "a" is in another group: none there, so f is ready too */
    assert_true(depsched_ready(n, 6, 5));
    n[0].state = DEP_STATE_FAILED;
    assert_int_equal(depsched_next(n, 6, skipped, &n_sk), 5);
    /* b and e need a; d needs b: all three are skipped, b before d */
    assert_int_equal(n_sk, 3);
    assert_int_equal(n[1].state, DEP_STATE_FAILED);
    assert_int_equal(n[3].state, DEP_STATE_FAILED);
    assert_int_equal(n[4].state, DEP_STATE_FAILED);
    assert_int_equal(depsched_check(n, 6, 3).blocker, 1);
    n[5].state = DEP_STATE_DONE;
    assert_int_equal(depsched_next(n, 6, NULL, NULL), -1);
}

static void test_order_and_ignored(void **state)
{
    (void)state;
    struct dep_node n[6];
    nodes(n);
    n[0].state = DEP_STATE_IGNORED; /* not selected: holds nothing up */
    int order[6];
    size_t k = depsched_order(n, 6, order);
    assert_int_equal(k, 5);
    int pos[6] = {-1, -1, -1, -1, -1, -1};
    for (size_t i = 0; i < k; i++)
        pos[order[i]] = (int)i;
    assert_int_equal(pos[0], -1);
    assert_true(pos[1] < pos[3]);
    assert_true(pos[2] < pos[4]);
    struct dep_check c = depsched_check(n, 6, 4);
    assert_int_equal(c.n_deps, 2);
    assert_int_equal(c.n_done, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_order_and_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
