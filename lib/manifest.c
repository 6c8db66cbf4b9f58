/* manifest.c -- loading a manifest: read and parse the file and its includes,
 * merge `defaults:` into each shot, read every shot (manifest_shot.c), check
 * across shots (manifest_check.c).  Problems are collected, not returned one
 * by one: the user sees every error of the file in one run.
 *
 * Includes: `include: other.yaml` (or a list) is read first, relative to the
 * including file.  Its defaults lie under ours (ours win, deep merge) and its
 * shots come before ours; every shot then gets the combined defaults.  A file
 * on the current include chain may not be included again (cycle). */
#include "manifest_int.h"
#include "ident.h"
#include "paths.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_top_keys[] = {"name", "defaults", "shots", "include", NULL};

struct loader {
    struct mload ld;
    struct ytree **trees; /* every parsed file; nodes point into them */
    size_t n_trees, cap_trees;
    char *chain[MANIFEST_MAX_INCLUDE_DEPTH + 2]; /* real paths of the include chain */
    int depth;
    const struct ynode *defaults; /* combined so far */
    const struct ynode **shots;   /* unmerged shot nodes, in order */
    size_t n_shots, cap_shots;
    const struct ynode *name; /* top file's name:, or NULL */
    struct manifest *m;
    int parse_failed;
};

static int push_tree(struct loader *L, struct ytree *t)
{
    if (L->n_trees == L->cap_trees) {
        size_t ncap = L->cap_trees ? 2 * L->cap_trees : 4;
        struct ytree **v = realloc(L->trees, ncap * sizeof(*v));
        if (!v)
            return -1;
        L->trees = v;
        L->cap_trees = ncap;
    }
    L->trees[L->n_trees++] = t;
    return 0;
}

static int push_shot(struct loader *L, const struct ynode *n)
{
    if (L->n_shots == L->cap_shots) {
        size_t ncap = L->cap_shots ? 2 * L->cap_shots : 16;
        const struct ynode **v = realloc(L->shots, ncap * sizeof(*v));
        if (!v)
            return -1;
        L->shots = v;
        L->cap_shots = ncap;
    }
    L->shots[L->n_shots++] = n;
    return 0;
}

static int add_file(struct manifest *m, const char *path)
{
    char **v = realloc(m->files, (m->n_files + 1) * sizeof(*v));
    if (!v)
        return -1;
    m->files = v;
    if (!(v[m->n_files] = strdup(path)))
        return -1;
    m->n_files++;
    return 0;
}

/* The message of a df_err without a leading "path: " (the diag has the file). */
static const char *strip_path(const char *msg, const char *path)
{
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' ? msg + n + 2 : msg;
}

static int load_text(struct loader *L, const char *file, const char *data, size_t len);

/* Append to a NUL-terminated buffer, truncating (messages may be cut short). */
static void append(char *dst, size_t cap, const char *s)
{
    size_t o = strlen(dst);
    while (*s && o + 1 < cap)
        dst[o++] = *s++;
    dst[o] = '\0';
}

static void load_include(struct loader *L, const struct ynode *n, const char *dir)
{
    const char *rel;
    if (ynode_str(n, &rel, L->ld.diags) < 0)
        return;
    char path[PATH_MAX], real[PATH_MAX];
    struct df_err e = {0};
    if (paths_join(dir, rel, path, sizeof(path), &e) < 0) {
        ynode_diag(n, L->ld.diags, "%s", e.msg);
        return;
    }
    if (!realpath(path, real)) {
        ynode_diag(n, L->ld.diags, "included file not found: %s", path);
        return;
    }
    for (int i = 0; i < L->depth; i++)
        if (strcmp(L->chain[i], real) == 0) {
            char text[700] = "";
            for (int j = i; j < L->depth; j++) {
                append(text, sizeof(text), L->chain[j]);
                append(text, sizeof(text), " -> ");
            }
            append(text, sizeof(text), real);
            ynode_diag(n, L->ld.diags, "include cycle: %s", text);
            return;
        }
    if (L->depth > MANIFEST_MAX_INCLUDE_DEPTH) {
        ynode_diag(n, L->ld.diags, "includes nested deeper than %d files",
                   MANIFEST_MAX_INCLUDE_DEPTH);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    if (ytree_read_file(path, MANIFEST_MAX_BYTES, &buf, &len, &e) < 0) {
        ynode_diag(n, L->ld.diags, "cannot include %s: %s", path, strip_path(e.msg, path));
        return;
    }
    load_text(L, path, buf, len);
    free(buf);
}

static void load_includes(struct loader *L, const struct ynode *inc, const char *file)
{
    char dir[PATH_MAX];
    struct df_err e = {0};
    if (paths_dirname_abs(file, dir, sizeof(dir), &e) < 0) {
        ynode_diag(inc, L->ld.diags, "%s", e.msg);
        return;
    }
    if (inc->kind == YNODE_KIND_SEQ) {
        for (size_t i = 0; i < inc->n; i++)
            load_include(L, inc->items[i], dir);
    } else if (inc->kind == YNODE_KIND_SCALAR) {
        load_include(L, inc, dir);
    } else {
        ynode_diag(inc, L->ld.diags, "expected a file name or a list of file names, got a %s",
                   ynode_kind_name(inc->kind));
    }
}

/* Parse one file and fold it into the loader: includes, defaults, shots. */
static int load_text(struct loader *L, const char *file, const char *data, size_t len)
{
    struct diag_list *dl = L->ld.diags;
    struct ytree *t = NULL;
    struct df_err e = {0};
    if (ytree_parse(file, data, len, &t, dl, &e) < 0) {
        L->parse_failed = 1;
        if (!dl->count) /* out of memory before any diag */
            diag_add(dl, DIAG_SEVERITY_ERROR, file, 0, 0, "", "%s", e.msg);
        return -1;
    }
    if (push_tree(L, t) < 0) {
        ytree_free(t);
        return -1;
    }
    if (add_file(L->m, file) < 0)
        return -1;
    if (!L->ld.arena)
        L->ld.arena = t;
    const struct ynode *root = ytree_root(t);
    if (!root) {
        diag_add(dl, DIAG_SEVERITY_ERROR, file, 1, 1, "",
                 "empty manifest: expected a mapping with a 'shots:' list");
        return -1;
    }
    if (root->kind != YNODE_KIND_MAP) {
        ynode_diag(root, dl, "a manifest is a mapping with 'defaults:' and 'shots:', not a %s",
                   ynode_kind_name(root->kind));
        return -1;
    }
    for (size_t i = 0; i < root->n; i++) {
        const struct ynode *k = root->items[2 * i];
        int known = strncmp(k->str, "x-", 2) == 0;
        for (size_t j = 0; k_top_keys[j] && !known; j++)
            known = strcmp(k->str, k_top_keys[j]) == 0;
        if (!known) {
            const char *sug = ytree_suggest(k->str, k_top_keys);
            ynode_diag(k, dl, "unknown key '%.64s'%s%s%s", k->str, sug ? " (did you mean '" : "",
                       sug ? sug : "", sug ? "'?)" : "");
        }
    }
    if (L->depth == 0)
        L->name = ynode_get(root, "name");
    char real[PATH_MAX];
    L->chain[L->depth] = strdup(realpath(file, real) ? real : file);
    L->depth++;
    const struct ynode *inc = ynode_get(root, "include");
    if (!ynode_is_null(inc))
        load_includes(L, inc, file);
    L->depth--;
    free(L->chain[L->depth]);
    L->chain[L->depth] = NULL;

    const struct ynode *defs = ynode_get(root, "defaults");
    if (!ynode_is_null(defs) && ynode_expect(defs, YNODE_KIND_MAP, dl) == 0) {
        const struct ynode *merged = ytree_merge(L->ld.arena, L->defaults, defs, dl);
        if (merged)
            L->defaults = merged;
    }
    const struct ynode *shots = ynode_get(root, "shots");
    if (ynode_is_null(shots)) {
        if (L->depth == 0 && L->n_shots == 0)
            ynode_diag(root, dl, "missing required key 'shots' (a list of shots)");
        return 0;
    }
    if (ynode_expect(shots, YNODE_KIND_SEQ, dl) < 0)
        return -1;
    if (shots->n == 0 && L->depth == 0 && L->n_shots == 0)
        ynode_diag(shots, dl, "no shots: the list is empty");
    for (size_t i = 0; i < shots->n; i++)
        if (push_shot(L, shots->items[i]) < 0)
            return -1;
    return 0;
}

static void set_name(struct loader *L, const char *path)
{
    struct manifest *m = L->m;
    const char *s;
    if (L->name && !ynode_is_null(L->name) && ynode_str(L->name, &s, L->ld.diags) == 0) {
        if (!manifest_valid_id(s)) {
            char shown[80];
            ident_escape(s, shown, sizeof(shown));
            ynode_diag(L->name, L->ld.diags, "invalid manifest name '%s' (" MANIFEST_ID_RULE ")",
                       shown);
        }
        m->name = strdup(s);
        return;
    }
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    m->name = strdup(b);
    char *dot = m->name ? strrchr(m->name, '.') : NULL;
    if (dot && dot != m->name)
        *dot = '\0';
    /* a name from the file name follows the same rule as a written one: it
     * becomes a directory, a job name and a word in scripts */
    if (m->name && !manifest_valid_id(m->name)) {
        char shown[80];
        ident_escape(m->name, shown, sizeof(shown));
        diag_add(L->ld.diags, DIAG_SEVERITY_ERROR, path, 0, 0, "name",
                 "the file name gives the manifest name '%s', which is invalid (" MANIFEST_ID_RULE
                 "): add a `name:` or rename the file",
                 shown);
    }
}

static int build(struct loader *L, const char *path, const char *data, size_t len)
{
    struct manifest *m = L->m;
    char dir[PATH_MAX];
    struct df_err e = {0};
    if (!(m->path = strdup(path)))
        return -1;
    if (paths_dirname_abs(path, dir, sizeof(dir), &e) == 0)
        m->dir = strdup(dir);
    if (load_text(L, path, data, len) < 0 && L->parse_failed)
        return 0;
    set_name(L, path);
    if (!m->name || !m->dir)
        return -1;
    m->shots = calloc(L->n_shots ? L->n_shots : 1, sizeof(*m->shots));
    struct shot_src *srcs = calloc(L->n_shots ? L->n_shots : 1, sizeof(*srcs));
    if (!m->shots || !srcs) {
        free(srcs);
        return -1;
    }
    m->n_shots = L->n_shots;
    for (size_t i = 0; i < L->n_shots; i++) {
        const struct ynode *merged = ytree_merge(L->ld.arena, L->defaults, L->shots[i], L->ld.diags);
        if (!merged)
            break;
        manifest_shot_read(&L->ld, merged, &m->shots[i], &srcs[i]);
        /* An id is needed below; a shot without one gets none in messages. */
    }
    manifest_check_shots(&L->ld, m, srcs);
    free(srcs);
    /* shot.file points into a parse tree, freed at the end of the load: point
     * it at the manifest's own copy of the name instead. */
    for (size_t i = 0; i < m->n_shots; i++) {
        const char *f = m->shots[i].file;
        m->shots[i].file = m->path;
        for (size_t k = 0; f && k < m->n_files; k++)
            if (strcmp(m->files[k], f) == 0)
                m->shots[i].file = m->files[k];
    }
    return 0;
}

/* Messages in reading order: by file (in the order files first appear in the
 * list), then line and column.  Insertion sort: stable, and the list is short
 * (DIAG_MAX). */
static void sort_diags(struct diag_list *dl, size_t from)
{
    size_t n = dl->count - from;
    if (n < 2) /* also: items may be NULL, and NULL + 0 is undefined */
        return;
    size_t *rank = malloc(n * sizeof(*rank));
    if (!rank)
        return; /* unsorted is still correct */
    struct diag *v = dl->items + from;
    for (size_t i = 0; i < n; i++) {
        rank[i] = i;
        for (size_t k = 0; k < i; k++)
            if (strcmp(v[k].file, v[i].file) == 0) {
                rank[i] = rank[k];
                break;
            }
    }
    for (size_t i = 1; i < n; i++) {
        struct diag d = v[i];
        size_t r = rank[i], j = i;
        while (j > 0 && (rank[j - 1] > r ||
                         (rank[j - 1] == r && (v[j - 1].line > d.line ||
                                               (v[j - 1].line == d.line && v[j - 1].col > d.col))))) {
            v[j] = v[j - 1];
            rank[j] = rank[j - 1];
            j--;
        }
        v[j] = d;
        rank[j] = r;
    }
    free(rank);
}

static int finish(struct loader *L, const char *path, int rc, struct manifest **out,
                  struct diag_list *caller, struct df_err *err, size_t first_diag)
{
    struct diag_list *dl = L->ld.diags;
    sort_diags(dl, first_diag);
    for (size_t i = 0; i < L->n_trees; i++)
        ytree_free(L->trees[i]);
    free(L->trees);
    free(L->shots);
    if (rc < 0)
        diag_add(dl, DIAG_SEVERITY_ERROR, path, 0, 0, "", "out of memory");
    if (dl->errors == 0) {
        *out = L->m;
        if (dl != caller)
            diag_list_clear(dl);
        return 0;
    }
    manifest_free(L->m);
    char first[DIAG_LINE_CAP] = "";
    if (dl->count)
        diag_format(&dl->items[0], first, sizeof(first));
    int code = L->parse_failed ? DF_E_PARSE : (rc < 0 ? DF_E_NOMEM : DF_E_INVAL);
    df_err_set(err, code, "%s: %zu error%s (first: %s)", path, dl->errors,
               dl->errors == 1 ? "" : "s", first);
    if (dl != caller)
        diag_list_clear(dl);
    return code;
}

int manifest_load_buffer(const char *name, const char *data, size_t len, const char *configs_dir,
                         struct manifest **out, struct diag_list *diags, struct df_err *err)
{
    *out = NULL;
    struct diag_list local = {0};
    struct loader L = {.ld = {.configs_dir = configs_dir, .diags = diags ? diags : &local}};
    size_t errors_before = L.ld.diags->errors;
    if (!(L.m = calloc(1, sizeof(*L.m))))
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", name);
    if (len > MANIFEST_MAX_BYTES) {
        manifest_free(L.m);
        diag_add(diags, DIAG_SEVERITY_ERROR, name, 0, 0, "",
                 "file is %zu bytes, more than the %u-byte limit", len, MANIFEST_MAX_BYTES);
        return df_err_set(err, DF_E_RANGE, "%s: file is %zu bytes, more than the %u-byte limit",
                          name, len, MANIFEST_MAX_BYTES);
    }
    /* A caller's list may already hold other files' diagnostics. */
    L.ld.diags->errors -= errors_before;
    size_t first_diag = L.ld.diags->count;
    int rc = build(&L, name, data, len);
    rc = finish(&L, name, rc, out, diags, err, first_diag);
    if (diags)
        diags->errors += errors_before;
    return rc;
}

int manifest_load(const char *path, const char *configs_dir, struct manifest **out,
                  struct diag_list *diags, struct df_err *err)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    struct df_err e = {0};
    int rc = ytree_read_file(path, MANIFEST_MAX_BYTES, &buf, &len, &e);
    if (rc < 0) {
        diag_add(diags, DIAG_SEVERITY_ERROR, path, 0, 0, "", "cannot read the manifest: %s",
                 strip_path(e.msg, path));
        return df_err_set(err, rc, "%s", e.msg);
    }
    rc = manifest_load_buffer(path, buf, len, configs_dir, out, diags, err);
    free(buf);
    return rc;
}

void manifest_free(struct manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_shots; i++)
        manifest_shot_fini(&m->shots[i]);
    free(m->shots);
    for (size_t i = 0; i < m->n_files; i++)
        free(m->files[i]);
    free(m->files);
    free(m->path);
    free(m->name);
    free(m->dir);
    free(m);
}

int manifest_find_shot(const struct manifest *m, const char *id)
{
    for (size_t i = 0; m && id && i < m->n_shots; i++)
        if (m->shots[i].id && strcmp(m->shots[i].id, id) == 0)
            return (int)i;
    return -1;
}

int manifest_output_path(const struct manifest *m, const struct shot *s, const char *date,
                         char *dst, size_t dst_cap, struct df_err *err)
{
    size_t o = 0;
    char seed[24];
    snprintf(seed, sizeof(seed), "%" PRIu64, s->seed);
    for (const char *p = s->output.path; *p; p++) {
        const char *sub = NULL;
        size_t skip = 0;
        if (*p == '{') {
            static const char *const names[] = {"{shot}", "{seed}", "{manifest}", "{date}"};
            const char *vals[] = {s->id ? s->id : "", seed, m->name ? m->name : "",
                                  date ? date : ""};
            for (int i = 0; i < 4 && !sub; i++)
                if (strncmp(p, names[i], strlen(names[i])) == 0) {
                    sub = vals[i];
                    skip = strlen(names[i]) - 1;
                }
        }
        size_t n = sub ? strlen(sub) : 1;
        DF_FAIL_IF(o + n >= dst_cap, err, DF_E_RANGE, "shot '%s': output path longer than %zu",
                   s->id ? s->id : "?", dst_cap - 1);
        memcpy(dst + o, sub ? sub : p, n);
        o += n;
        p += skip;
    }
    DF_FAIL_IF(dst_cap == 0, err, DF_E_RANGE, "no room for the output path");
    dst[o] = '\0';
    return 0;
}

int shot_guided(const struct shot *s)
{
    return (float)s->guidance_scale > 1.0f;
}
