/*
 * cmd_token.c -- `ditfarm token create NAME [--read-only] | list | revoke NAME`:
 * the bearer tokens of ditfarmd's HTTP API (daemon/http/http_auth.h).
 *
 * Tokens live hashed in the store (<state-dir>/ditfarmd.db), written here
 * directly, so a token can be made before the daemon starts; the running
 * daemon sees a new or revoked token at the next request.  `create` prints
 * the token once, alone on stdout (for `TOKEN=$(ditfarm token create ci)`).
 */
#include "cli.h"
#include "ctl.h"
#include "http_auth.h"
#include "paths.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: ditfarm token create NAME [--read-only] [--state-dir DIR]\n"
                 "       ditfarm token list [--json] [--state-dir DIR]\n"
                 "       ditfarm token revoke NAME [--state-dir DIR]\n\n"
                 "Bearer tokens for ditfarmd's HTTP API (docs/api.md).  `create` prints the new\n"
                 "token once on stdout; only its SHA-256 is kept.  Operator tokens (the default)\n"
                 "may submit, cancel, retry and reprioritise; --read-only tokens only read.\n");
}

/* Open the token tables of the store in dir (made when missing). */
static int open_auth(const char *dir, authdb_t **a, struct df_err *err)
{
    char path[PATH_MAX + 16];
    store_t *st = NULL;
    DF_TRY(paths_mkdirs(dir, err));
    snprintf(path, sizeof(path), "%s/ditfarmd.db", dir);
    DF_TRY(store_open(path, &st, err)); /* creates or checks the store's own schema */
    store_close(st);
    return authdb_open(path, 1, a, err);
}

static int list(authdb_t *a, int json, struct df_err *err)
{
    struct auth_token *t = NULL;
    size_t n = 0;
    DF_TRY(authdb_token_list(a, &t, &n, err));
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (!json)
        printf("%-24s %-10s %s\n", "NAME", "SCOPE", "CREATED");
    for (size_t i = 0; i < n; i++) {
        char when[32];
        time_t c = (time_t)t[i].created;
        struct tm tm;
        gmtime_r(&c, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", t[i].name);
            cJSON_AddStringToObject(o, "scope", auth_scope_name(t[i].scope));
            cJSON_AddStringToObject(o, "created", when);
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%-24s %-10s %s\n", t[i].name, auth_scope_name(t[i].scope), when);
        }
    }
    if (json) {
        char *text = cJSON_Print(arr);
        printf("%s\n", text ? text : "[]");
        free(text);
        cJSON_Delete(arr);
    }
    free(t);
    return 0;
}

int cmd_token(int argc, char **argv, const struct cli_ctx *ctx)
{
    (void)ctx;
    enum { O_STATE = 256, O_RO, O_JSON, O_HELP };
    static const struct option longs[] = {
        {"state-dir", required_argument, 0, O_STATE},
        {"read-only", no_argument, 0, O_RO},
        {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    const char *state_dir = NULL;
    int ro = 0, json = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case O_STATE:
            state_dir = optarg;
            break;
        case O_RO:
            ro = 1;
            break;
        case O_JSON:
            json = 1;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("token", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("token", "expected create NAME, list or revoke NAME");
    const char *verb = argv[optind];
    int want = strcmp(verb, "list") == 0 ? 1 : 2;
    if (strcmp(verb, "create") != 0 && strcmp(verb, "list") != 0 && strcmp(verb, "revoke") != 0)
        return cli_usage_error("token", "unknown action '%s' (create, list, revoke)", verb);
    if (argc - optind != want)
        return cli_usage_error("token", "%s takes %s", verb, want == 1 ? "no NAME" : "one NAME");
    if (ro && strcmp(verb, "create") != 0)
        return cli_usage_error("token", "--read-only goes with create");
    char dir[PATH_MAX];
    struct df_err err = {0};
    authdb_t *a = NULL;
    int rc = 0;
    if ((rc = ctl_state_dir(state_dir, dir, sizeof(dir), &err)) < 0 ||
        (rc = open_auth(dir, &a, &err)) < 0) {
        fprintf(stderr, "ditfarm token: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    if (strcmp(verb, "list") == 0) {
        rc = list(a, json, &err);
    } else if (strcmp(verb, "revoke") == 0) {
        rc = authdb_token_revoke(a, argv[optind + 1], &err);
        if (rc == 0)
            fprintf(stderr, "ditfarm token: revoked %s\n", argv[optind + 1]);
    } else {
        char tok[AUTH_TOKEN_CAP];
        enum auth_scope sc = ro ? AUTH_SCOPE_READ : AUTH_SCOPE_OPERATOR;
        rc = authdb_token_create(a, argv[optind + 1], sc, time(NULL), tok, &err);
        if (rc == 0) {
            printf("%s\n", tok);
            fprintf(stderr, "ditfarm token: created %s (%s); it is shown only this once\n",
                    argv[optind + 1], auth_scope_name(sc));
        }
    }
    authdb_close(a);
    if (rc < 0) {
        fprintf(stderr, "ditfarm token: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
