/*
 * http_auth.h -- API tokens and the audit log, two tables in the daemon's
 * store file (<state-dir>/ditfarmd.db):
 *
 *   tokens(name PRIMARY KEY, hash, scope, created_at)   -- SHA-256 of the token
 *   audit(id, at, token, action, target, result, detail) -- every mutation
 *
 * A token is "dft_" and 64 hex digits from the kernel's random source; only
 * its SHA-256 is stored, so the store never holds a usable secret and the
 * token is printed once, by `ditfarm token create`.  Checking compares the
 * presented token's hash with every stored hash in constant time (no early
 * exit), so timing says nothing about how much of a guess was right.
 *
 * The CLI writes tokens directly into the store (the daemon need not run);
 * the daemon's HTTP threads only read them, and the loop writes the audit.
 *
 *     authdb_t *a;
 *     authdb_open("/state/ditfarmd.db", 1, &a, &err);
 *     char tok[AUTH_TOKEN_CAP];
 *     authdb_token_create(a, "ci", AUTH_SCOPE_READ, now, tok, &err);  // print tok once
 *     struct auth_token who;
 *     if (authdb_check(a, presented, &who, &err) == 1) ... who.scope ...
 *     authdb_close(a);
 */
#ifndef DF_HTTP_AUTH_H
#define DF_HTTP_AUTH_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#define AUTH_TOKEN_CAP 80 /* "dft_" + 64 hex + NUL, with room */
#define AUTH_NAME_CAP 64

enum auth_scope {
    AUTH_SCOPE_READ,     /* "read-only": GET only */
    AUTH_SCOPE_OPERATOR, /* "operator": also submit, cancel, retry, priority */
    AUTH_SCOPE_COUNT
};
const char *auth_scope_name(enum auth_scope s);

typedef struct authdb authdb_t;

struct auth_token {
    char name[AUTH_NAME_CAP];
    enum auth_scope scope;
    int64_t created; /* unix time */
};

struct auth_audit {
    int64_t id, at;
    char token[AUTH_NAME_CAP];
    char action[32];  /* "submit", "cancel", "retry", "priority" */
    char target[160]; /* manifest or manifest/shot */
    char result[16];  /* "ok" or "error" */
    char detail[512]; /* the error, or what changed */
};

/* Open the tokens and audit tables of the store at db_path; writable creates
 * them when missing.  Returns 0, DF_E_IO. */
int authdb_open(const char *db_path, int writable, authdb_t **out, struct df_err *err);
void authdb_close(authdb_t *a);

/* 1 when name is 1..63 of [A-Za-z0-9._-]. */
int auth_name_ok(const char *name);
/* A new token `name`: token[AUTH_TOKEN_CAP] gets the secret.  Returns 0,
 * DF_E_INVAL (bad name, or a token of that name exists), DF_E_IO. */
int authdb_token_create(authdb_t *a, const char *name, enum auth_scope scope, int64_t now,
                        char *token, struct df_err *err);
/* Returns 0 or DF_E_NOTFOUND. */
int authdb_token_revoke(authdb_t *a, const char *name, struct df_err *err);
/* Every token, by name; *out malloc'd, caller frees. */
int authdb_token_list(authdb_t *a, struct auth_token **out, size_t *n, struct df_err *err);
/* Returns 1 and *who when `presented` is a live token, 0 when not, or DF_E_IO. */
int authdb_check(authdb_t *a, const char *presented, struct auth_token *who, struct df_err *err);

/* Record one mutation.  Returns 0 or DF_E_IO. */
int authdb_audit_add(authdb_t *a, const struct auth_audit *e, struct df_err *err);
/* The latest `max` rows, newest first; *out malloc'd, caller frees. */
int authdb_audit_list(authdb_t *a, int max, struct auth_audit **out, size_t *n, struct df_err *err);

#endif /* DF_HTTP_AUTH_H */
