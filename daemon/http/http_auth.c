/* http_auth.c -- tokens and the audit log in the store file (see http_auth.h). */
#include "http_auth.h"

#include "sha256.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct authdb {
    sqlite3 *db;
    char path[4096];
};

/* Kept beside the store's own schema (store.c) and created on demand, so a
 * token can be made before the daemon ever ran. */
static const char auth_schema[] =
    "CREATE TABLE IF NOT EXISTS tokens(name TEXT PRIMARY KEY, hash TEXT NOT NULL,"
    "  scope TEXT NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit(id INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
    "  token TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,"
    "  result TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');";

static const char *const scope_names[] = {"read-only", "operator"};
_Static_assert(sizeof(scope_names) / sizeof(scope_names[0]) == AUTH_SCOPE_COUNT,
               "one name per scope");

const char *auth_scope_name(enum auth_scope s)
{
    return (unsigned)s < AUTH_SCOPE_COUNT ? scope_names[s] : "?";
}

static int db_fail(authdb_t *a, struct df_err *err, const char *what)
{
    return df_err_set(err, DF_E_IO, "%s: %s: %s", a->path, what, sqlite3_errmsg(a->db));
}

int authdb_open(const char *db_path, int writable, authdb_t **out, struct df_err *err)
{
    *out = NULL;
    authdb_t *a = calloc(1, sizeof(*a));
    if (!a)
        return df_err_set(err, DF_E_NOMEM, "out of memory");
    snprintf(a->path, sizeof(a->path), "%s", db_path);
    int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    int rc = 0;
    if (sqlite3_open_v2(db_path, &a->db, flags, NULL) != SQLITE_OK) {
        rc = db_fail(a, err, "cannot open");
    } else {
        sqlite3_busy_timeout(a->db, 2000);
        if (writable && sqlite3_exec(a->db, auth_schema, NULL, NULL, NULL) != SQLITE_OK)
            rc = db_fail(a, err, "create token tables");
    }
    if (rc < 0) {
        authdb_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void authdb_close(authdb_t *a)
{
    if (!a)
        return;
    sqlite3_close(a->db);
    free(a);
}

int auth_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n < AUTH_NAME_CAP &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static void hash_hex(const char *token, char hex[SHA256_HEX_LEN + 1])
{
    struct sha256 h;
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_init(&h);
    sha256_update(&h, token, strlen(token));
    sha256_final(&h, d);
    sha256_hex(d, hex);
}

int authdb_token_create(authdb_t *a, const char *name, enum auth_scope scope, int64_t now,
                        char *token, struct df_err *err)
{
    if (!auth_name_ok(name))
        return df_err_set(err, DF_E_INVAL, "token name '%.80s': use 1 to 63 of A-Z a-z 0-9 . _ -",
                          name);
    uint8_t raw[32];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return df_err_errno(err, DF_E_IO, "getrandom");
    char *p = token + snprintf(token, AUTH_TOKEN_CAP, "dft_");
    for (size_t i = 0; i < sizeof(raw); i++)
        p += snprintf(p, 3, "%02x", raw[i]);
    char hex[SHA256_HEX_LEN + 1];
    hash_hex(token, hex);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db,
                           "INSERT INTO tokens(name, hash, scope, created_at) VALUES(?,?,?,?)", -1,
                           &q, NULL) != SQLITE_OK)
        return db_fail(a, err, "prepare");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, auth_scope_name(scope), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, now);
    int step = sqlite3_step(q), rc = 0;
    if (step == SQLITE_CONSTRAINT)
        rc = df_err_set(err, DF_E_INVAL, "a token named '%s' exists (revoke it first)", name);
    else if (step != SQLITE_DONE)
        rc = db_fail(a, err, "insert token");
    sqlite3_finalize(q);
    if (rc < 0)
        memset(token, 0, AUTH_TOKEN_CAP);
    return rc;
}

int authdb_token_revoke(authdb_t *a, const char *name, struct df_err *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, "DELETE FROM tokens WHERE name=?", -1, &q, NULL) != SQLITE_OK)
        return db_fail(a, err, "prepare");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_fail(a, err, "delete token");
    sqlite3_finalize(q);
    if (rc == 0 && sqlite3_changes(a->db) != 1)
        rc = df_err_set(err, DF_E_NOTFOUND, "no token named '%s'", name);
    return rc;
}

static void col_text(sqlite3_stmt *q, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static enum auth_scope scope_from(const char *name)
{
    return strcmp(name, scope_names[AUTH_SCOPE_OPERATOR]) == 0 ? AUTH_SCOPE_OPERATOR
                                                               : AUTH_SCOPE_READ;
}

int authdb_token_list(authdb_t *a, struct auth_token **out, size_t *n, struct df_err *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, "SELECT name, scope, created_at FROM tokens ORDER BY name", -1,
                           &q, NULL) != SQLITE_OK)
        return db_fail(a, err, "prepare");
    size_t cap = 0;
    int rc = 0, step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            struct auth_token *g = realloc(*out, cap * sizeof(*g));
            if (!g) {
                rc = df_err_set(err, DF_E_NOMEM, "out of memory");
                break;
            }
            *out = g;
        }
        struct auth_token *t = &(*out)[(*n)++];
        char scope[32];
        col_text(q, 0, t->name, sizeof(t->name));
        col_text(q, 1, scope, sizeof(scope));
        t->scope = scope_from(scope);
        t->created = sqlite3_column_int64(q, 2);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(a, err, "list tokens");
    sqlite3_finalize(q);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* Equal without an early exit: the time depends on the length only. */
static int ct_equal(const char *x, const char *y, size_t n)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}

int authdb_check(authdb_t *a, const char *presented, struct auth_token *who, struct df_err *err)
{
    if (!presented || strlen(presented) >= AUTH_TOKEN_CAP)
        return 0;
    char hex[SHA256_HEX_LEN + 1];
    hash_hex(presented, hex);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, "SELECT name, hash, scope, created_at FROM tokens", -1, &q,
                           NULL) != SQLITE_OK) {
        /* a store whose token table was never made has no tokens */
        if (strstr(sqlite3_errmsg(a->db), "no such table"))
            return 0;
        return db_fail(a, err, "prepare");
    }
    int found = 0, step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        char stored[SHA256_HEX_LEN + 1], scope[32];
        col_text(q, 1, stored, sizeof(stored));
        int eq = strlen(stored) == SHA256_HEX_LEN && ct_equal(stored, hex, SHA256_HEX_LEN);
        if (eq && !found) {
            found = 1;
            col_text(q, 0, who->name, sizeof(who->name));
            col_text(q, 2, scope, sizeof(scope));
            who->scope = scope_from(scope);
            who->created = sqlite3_column_int64(q, 3);
        }
    }
    int rc = step == SQLITE_DONE ? found : db_fail(a, err, "read tokens");
    sqlite3_finalize(q);
    return rc;
}

int authdb_audit_add(authdb_t *a, const struct auth_audit *e, struct df_err *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db,
                           "INSERT INTO audit(at, token, action, target, result, detail)"
                           " VALUES(?,?,?,?,?,?)",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(a, err, "prepare");
    sqlite3_bind_int64(q, 1, e->at);
    sqlite3_bind_text(q, 2, e->token, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, e->action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, e->target, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, e->result, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, e->detail, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_fail(a, err, "insert audit");
    sqlite3_finalize(q);
    return rc;
}

int authdb_audit_list(authdb_t *a, int max, struct auth_audit **out, size_t *n, struct df_err *err)
{
    *out = NULL;
    *n = 0;
    if (max <= 0)
        return 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db,
                           "SELECT id, at, token, action, target, result, detail FROM audit"
                           " ORDER BY id DESC LIMIT ?",
                           -1, &q, NULL) != SQLITE_OK)
        return strstr(sqlite3_errmsg(a->db), "no such table") ? 0 : db_fail(a, err, "prepare");
    sqlite3_bind_int(q, 1, max);
    struct auth_audit *v = calloc((size_t)max, sizeof(*v));
    int rc = v ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory");
    while (rc == 0 && *n < (size_t)max && sqlite3_step(q) == SQLITE_ROW) {
        struct auth_audit *e = &v[(*n)++];
        e->id = sqlite3_column_int64(q, 0);
        e->at = sqlite3_column_int64(q, 1);
        col_text(q, 2, e->token, sizeof(e->token));
        col_text(q, 3, e->action, sizeof(e->action));
        col_text(q, 4, e->target, sizeof(e->target));
        col_text(q, 5, e->result, sizeof(e->result));
        col_text(q, 6, e->detail, sizeof(e->detail));
    }
    sqlite3_finalize(q);
    if (rc < 0) {
        free(v);
        *n = 0;
        return rc;
    }
    *out = v;
    return 0;
}
