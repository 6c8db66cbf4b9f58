/* test_http_auth.c -- daemon/http/http_auth.c: tokens are made once, stored
 * only as SHA-256, checked by hash (any other string, a revoked token, a
 * near miss are refused), named by the rules, listed with their scope; the
 * audit table keeps mutations newest first; a store without the tables has
 * no tokens. */
#include "http_auth.h"
#include "sha256.h"
#include "store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    char dir[64], db[96];
    authdb_t *a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/df-test-auth-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/ditfarmd.db", f->dir);
    store_t *st = NULL;
    assert_int_equal(store_open(f->db, &st, NULL), 0);
    store_close(st);
    assert_int_equal(authdb_open(f->db, 1, &f->a, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    authdb_close(f->a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_create_check_revoke(void **state)
{
    struct fx *f = *state;
    char op[AUTH_TOKEN_CAP], ro[AUTH_TOKEN_CAP];
    assert_int_equal(authdb_token_create(f->a, "ops", AUTH_SCOPE_OPERATOR, 100, op, NULL), 0);
    assert_int_equal(authdb_token_create(f->a, "viewer", AUTH_SCOPE_READ, 101, ro, NULL), 0);
    assert_int_equal(strlen(op), 4 + 64);
    assert_int_equal(strncmp(op, "dft_", 4), 0);
    assert_string_not_equal(op, ro);
    struct auth_token who;
    assert_int_equal(authdb_check(f->a, op, &who, NULL), 1);
    assert_string_equal(who.name, "ops");
    assert_int_equal(who.scope, AUTH_SCOPE_OPERATOR);
    assert_int_equal(authdb_check(f->a, ro, &who, NULL), 1);
    assert_int_equal(who.scope, AUTH_SCOPE_READ);
    char near[AUTH_TOKEN_CAP];
    snprintf(near, sizeof(near), "%s", op);
    near[10] = near[10] == 'a' ? 'b' : 'a';
    assert_int_equal(authdb_check(f->a, near, &who, NULL), 0);
    assert_int_equal(authdb_check(f->a, "", &who, NULL), 0);
    assert_int_equal(authdb_check(f->a, NULL, &who, NULL), 0);
    op[strlen(op) - 1] = '\0'; /* a prefix */
    assert_int_equal(authdb_check(f->a, op, &who, NULL), 0);
    struct df_err err = {0};
    char again[AUTH_TOKEN_CAP];
    assert_int_equal(authdb_token_create(f->a, "ops", AUTH_SCOPE_READ, 102, again, &err),
                     DF_E_INVAL);
    assert_non_null(strstr(err.msg, "a token named 'ops' exists"));
    assert_int_equal(authdb_token_revoke(f->a, "viewer", NULL), 0);
    assert_int_equal(authdb_check(f->a, ro, &who, NULL), 0);
    assert_int_equal(authdb_token_revoke(f->a, "viewer", &err), DF_E_NOTFOUND);
    struct auth_token *list = NULL;
    size_t n = 0;
    assert_int_equal(authdb_token_list(f->a, &list, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "ops");
    assert_int_equal(list[0].created, 100);
    free(list);
}

static void test_stored_hashed(void **state)
{
    struct fx *f = *state;
    char tok[AUTH_TOKEN_CAP];
    assert_int_equal(authdb_token_create(f->a, "ci", AUTH_SCOPE_READ, 1, tok, NULL), 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT hash FROM tokens WHERE name='ci'", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    const char *stored = (const char *)sqlite3_column_text(q, 0);
    struct sha256 h;
    uint8_t d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256_init(&h);
    sha256_update(&h, tok, strlen(tok));
    sha256_final(&h, d);
    sha256_hex(d, hex);
    assert_string_equal(stored, hex);
    assert_null(strstr(stored, tok + 4));
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(auth_name_ok("grafana-1.prod_x"));
    assert_false(auth_name_ok(""));
    assert_false(auth_name_ok("a b"));
    assert_false(auth_name_ok("x/y"));
    char longn[80];
    memset(longn, 'a', sizeof(longn) - 1);
    longn[sizeof(longn) - 1] = '\0';
    assert_false(auth_name_ok(longn));
    assert_string_equal(auth_scope_name(AUTH_SCOPE_READ), "read-only");
    assert_string_equal(auth_scope_name(AUTH_SCOPE_OPERATOR), "operator");
}

static void test_audit_newest_first(void **state)
{
    struct fx *f = *state;
    struct auth_audit e = {
        .at = 10, .token = "ops", .action = "cancel", .target = "m/a", .result = "ok"};
    assert_int_equal(authdb_audit_add(f->a, &e, NULL), 0);
    e.at = 11;
    snprintf(e.action, sizeof(e.action), "retry");
    snprintf(e.result, sizeof(e.result), "error");
    snprintf(e.detail, sizeof(e.detail), "nothing to do");
    assert_int_equal(authdb_audit_add(f->a, &e, NULL), 0);
    struct auth_audit *v = NULL;
    size_t n = 0;
    assert_int_equal(authdb_audit_list(f->a, 10, &v, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].action, "retry");
    assert_string_equal(v[0].detail, "nothing to do");
    assert_string_equal(v[1].action, "cancel");
    free(v);
}

static void test_store_without_tables(void **state)
{
    struct fx *f = *state;
    char db[128];
    snprintf(db, sizeof(db), "%s/other.db", f->dir);
    store_t *st = NULL;
    assert_int_equal(store_open(db, &st, NULL), 0);
    store_close(st);
    authdb_t *ro = NULL;
    assert_int_equal(authdb_open(db, 0, &ro, NULL), 0); /* read-only: creates nothing */
    struct auth_token who;
    assert_int_equal(authdb_check(ro, "dft_x", &who, NULL), 0);
    struct auth_audit *v = NULL;
    size_t n = 9;
    assert_int_equal(authdb_audit_list(ro, 5, &v, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(v);
    authdb_close(ro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_check_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_hashed, setup, teardown),
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_audit_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_without_tables, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
