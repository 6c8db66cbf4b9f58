/* ytree_read.c -- reading a built tree (see ytree.h): lookups, typed reads
 * whose diagnostics point at the node, and the "did you mean" suggestions.
 * Building the tree is ytree.c. */
#include "ytree.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- lookups and typed reads --------------------------------------------------- */

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
    if (!map || map->kind != YNODE_KIND_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->items[2 * i]->str, key) == 0)
            return map->items[2 * i + 1];
    return NULL;
}

int ynode_is_null(const struct ynode *n)
{
    return !n || n->kind == YNODE_KIND_NULL;
}

static const char *what(const struct ynode *n)
{
    return n->kind == YNODE_KIND_SCALAR ? (n->quoted ? "a quoted string" : "a string")
                                        : (n->kind == YNODE_KIND_SEQ ? "a list"
                                           : n->kind == YNODE_KIND_MAP ? "a mapping"
                                                                        : "null");
}

/* Short, printable excerpt of a scalar for messages. */
static const char *excerpt(const char *s, char *buf, size_t cap)
{
    size_t len = strlen(s);
    if (len < cap - 4) {
        snprintf(buf, cap, "%s", s);
    } else {
        snprintf(buf, cap, "%.*s...", (int)(cap - 4), s);
    }
    return buf;
}

int ynode_expect(const struct ynode *n, enum ynode_kind kind, struct diag_list *diags)
{
    if (n && n->kind == kind)
        return 0;
    const char *want = kind == YNODE_KIND_SEQ ? "list" : ynode_kind_name(kind);
    char ex[48];
    if (n && n->kind == YNODE_KIND_SCALAR)
        ynode_diag(n, diags, "expected a %s, got '%s'", want, excerpt(n->str, ex, sizeof(ex)));
    else
        ynode_diag(n, diags, "expected a %s, got %s", want, n ? what(n) : "nothing");
    return -1;
}

int ynode_int(const struct ynode *n, int64_t lo, int64_t hi, int64_t *out,
              struct diag_list *diags)
{
    char ex[48];
    if (!n || n->kind != YNODE_KIND_SCALAR || n->quoted) {
        ynode_diag(n, diags, "expected an integer, got %s%s%s%s", n ? what(n) : "nothing",
                   n && n->kind == YNODE_KIND_SCALAR ? " '" : "",
                   n && n->kind == YNODE_KIND_SCALAR ? excerpt(n->str, ex, sizeof(ex)) : "",
                   n && n->kind == YNODE_KIND_SCALAR ? "'" : "");
        return -1;
    }
    const char *s = n->str;
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s) {
        ynode_diag(n, diags, "expected an integer, got '%s'", excerpt(n->str, ex, sizeof(ex)));
        return -1;
    }
    uint64_t v = 0;
    int overflow = 0;
    for (; *s; s++) {
        if (*s == '_')
            continue;
        if (*s < '0' || *s > '9') {
            ynode_diag(n, diags, "expected an integer, got '%s'", excerpt(n->str, ex, sizeof(ex)));
            return -1;
        }
        if (v > (UINT64_MAX - 9) / 10)
            overflow = 1;
        else
            v = v * 10 + (uint64_t)(*s - '0');
    }
    int64_t r = 0;
    if (!overflow && !neg && v <= (uint64_t)INT64_MAX)
        r = (int64_t)v;
    else if (!overflow && neg && v <= (uint64_t)INT64_MAX)
        r = -(int64_t)v;
    else if (!overflow && neg && v == (uint64_t)INT64_MAX + 1)
        r = INT64_MIN;
    else
        overflow = 1;
    if (overflow || r < lo || r > hi) {
        ynode_diag(n, diags, "%s is out of range (allowed: %lld to %lld)",
                   excerpt(n->str, ex, sizeof(ex)), (long long)lo, (long long)hi);
        return -1;
    }
    *out = r;
    return 0;
}

int ynode_double(const struct ynode *n, double lo, double hi, double *out,
                 struct diag_list *diags)
{
    char ex[48];
    if (!n || n->kind != YNODE_KIND_SCALAR || n->quoted) {
        ynode_diag(n, diags, "expected a number, got %s%s%s%s", n ? what(n) : "nothing",
                   n && n->kind == YNODE_KIND_SCALAR ? " '" : "",
                   n && n->kind == YNODE_KIND_SCALAR ? excerpt(n->str, ex, sizeof(ex)) : "",
                   n && n->kind == YNODE_KIND_SCALAR ? "'" : "");
        return -1;
    }
    /* Decimal only: strtod would also take hex, "inf" and "nan". */
    const char *s = n->str;
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (!strchr("+-.eE", *p)) {
            digits = 0;
            break;
        }
    }
    char *end = NULL;
    errno = 0;
    double v = digits ? strtod(s, &end) : 0.0;
    if (!digits || !end || *end) {
        ynode_diag(n, diags, "expected a number, got '%s'", excerpt(n->str, ex, sizeof(ex)));
        return -1;
    }
    if (errno == ERANGE || !isfinite(v) || v < lo || v > hi) {
        ynode_diag(n, diags, "%s is out of range (allowed: %g to %g)",
                   excerpt(n->str, ex, sizeof(ex)), lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int ynode_bool(const struct ynode *n, int *out, struct diag_list *diags)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off", NULL};
    if (n && n->kind == YNODE_KIND_SCALAR && !n->quoted) {
        for (int i = 0; yes[i]; i++)
            if (strcmp(n->str, yes[i]) == 0)
                return *out = 1, 0;
        for (int i = 0; no[i]; i++)
            if (strcmp(n->str, no[i]) == 0)
                return *out = 0, 0;
    }
    char ex[48];
    ynode_diag(n, diags, "expected true or false, got %s%s%s%s", n ? what(n) : "nothing",
               n && n->kind == YNODE_KIND_SCALAR ? " '" : "",
               n && n->kind == YNODE_KIND_SCALAR ? excerpt(n->str, ex, sizeof(ex)) : "",
               n && n->kind == YNODE_KIND_SCALAR ? "'" : "");
    return -1;
}

int ynode_str(const struct ynode *n, const char **out, struct diag_list *diags)
{
    if (n && n->kind == YNODE_KIND_SCALAR) {
        *out = n->str;
        return 0;
    }
    ynode_diag(n, diags, "expected a string, got %s", n ? what(n) : "nothing");
    return -1;
}

/* ---- "did you mean" ------------------------------------------------------------ */

int ytree_edit_distance(const char *a, const char *b, int cap)
{
    /* Optimal string alignment: insert, delete, substitute, and swap two
     * neighbours ("widht" -> "width" is one edit, the commonest typo). */
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return cap + 1;
    int rows[3][65];
    int *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        int row_min = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            int d = sub < del ? sub : del;
            d = d < ins ? d : ins;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1;
            cur[j] = d;
            if (d < row_min)
                row_min = d;
        }
        if (row_min > cap)
            return cap + 1;
        int *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

const char *ytree_suggest(const char *word, const char *const *candidates)
{
    /* A third of the word's length, at least 1 and at most 3 edits. */
    int cap = (int)strlen(word) / 3;
    cap = cap < 1 ? 1 : (cap > 3 ? 3 : cap);
    const char *best = NULL;
    int best_d = cap + 1;
    for (size_t i = 0; candidates[i]; i++) {
        int d = ytree_edit_distance(word, candidates[i], cap);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}
