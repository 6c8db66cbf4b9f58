/*
 * ytree.h -- a YAML document as a small located tree, built from libyaml's
 * event API, plus typed accessors that report problems as diagnostics.
 *
 * Why not libyaml's document API: we need hard limits while parsing (depth,
 * node count, merge work) so hostile input cannot exhaust the stack or memory,
 * every node must carry its file and key path for messages, and `<<` merge
 * keys must be expanded.  Aliases share the anchored node (nodes are
 * immutable and live in one arena), so they cost nothing to copy.
 *
 *     struct ytree *t = NULL;
 *     if (ytree_parse("shots.yaml", buf, len, &t, &diags, &err) < 0) ...
 *     const struct ynode *shots = ynode_get(ytree_root(t), "shots");
 *     int64_t w;
 *     if (ynode_int(ynode_get(shot, "width"), 16, 8192, &w, &diags) == 0) ...
 *     ytree_free(t);
 *
 * Scalars keep their text; a plain (unquoted) scalar may be read as a number
 * or a boolean, a quoted one only as a string.  `~`, `null` and an empty
 * plain value are null.
 */
#ifndef DF_YTREE_H
#define DF_YTREE_H

#include "diag.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>

#define YTREE_MAX_DEPTH 64        /* nesting levels */
#define YTREE_MAX_NODES 1000000   /* nodes, plus entries copied by merges */

enum ynode_kind {
    YNODE_KIND_NULL,
    YNODE_KIND_SCALAR,
    YNODE_KIND_SEQ,
    YNODE_KIND_MAP,
    YNODE_KIND_COUNT
};
/* "null", "string", "sequence", "mapping". */
const char *ynode_kind_name(enum ynode_kind k);

struct ynode {
    enum ynode_kind kind;
    int line, col;        /* 1-based start of the node */
    const char *file;     /* owned by the tree */
    const char *path;     /* key path where the node is written: "shots[2].output" */
    const char *str;      /* scalar text ("" for null) */
    int quoted;           /* scalar was quoted or a block scalar: a string, never a number */
    size_t n;             /* sequence items, or mapping entries */
    struct ynode **items; /* sequence: items[i]; mapping: items[2i] key, items[2i+1] value */
};

struct ytree;

/* Parse one YAML document.  `file` names the input in messages.  Returns 0 and
 * a tree (caller frees with ytree_free), or DF_E_PARSE with the problem in
 * `diags` (file:line:col) and err.  An empty input gives a NULL root. */
int ytree_parse(const char *file, const char *data, size_t len, struct ytree **out,
                struct diag_list *diags, struct df_err *err);

/* Read a whole regular file, refusing more than max_bytes before reading it.  Returns
 * 0 and a NUL-terminated buffer the caller frees, or DF_E_NOTFOUND, DF_E_IO,
 * DF_E_RANGE (too big). */
int ytree_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len,
                    struct df_err *err);

void ytree_free(struct ytree *t);

/* The document's root node, NULL for an empty document. */
const struct ynode *ytree_root(const struct ytree *t);

/* A new mapping node in the tree's arena: `base`'s entries with `over`'s on
 * top, mappings merged recursively (deep merge).  Either may be NULL.  Returns
 * NULL (and a diag at `over`) when the merge work cap is reached. */
const struct ynode *ytree_merge(struct ytree *t, const struct ynode *base,
                                const struct ynode *over, struct diag_list *diags);

/* Value of `key` in a mapping, or NULL (also when `map` is no mapping). */
const struct ynode *ynode_get(const struct ynode *map, const char *key);

/* ---- typed reads: 0 on success; -1 after adding a diag at the node -------- */

/* Null or absent. */
int ynode_is_null(const struct ynode *n);
/* Need a mapping / sequence; the message names what the key should hold. */
int ynode_expect(const struct ynode *n, enum ynode_kind kind, struct diag_list *diags);
int ynode_int(const struct ynode *n, int64_t lo, int64_t hi, int64_t *out,
              struct diag_list *diags);
int ynode_double(const struct ynode *n, double lo, double hi, double *out,
                 struct diag_list *diags);
int ynode_bool(const struct ynode *n, int *out, struct diag_list *diags);
/* Any scalar as text (numbers too: `prompt: 42` is "42"). */
int ynode_str(const struct ynode *n, const char **out, struct diag_list *diags);

/* Add a diag located at node n (its file, line, col and key path). */
void ynode_diag(const struct ynode *n, struct diag_list *diags, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Levenshtein distance, capped: returns a value > cap as soon as it exceeds cap. */
int ytree_edit_distance(const char *a, const char *b, int cap);
/* The candidate closest to `word` (NULL-terminated list), or NULL when none is
 * close enough to be a plausible typo. */
const char *ytree_suggest(const char *word, const char *const *candidates);

#endif /* DF_YTREE_H */
