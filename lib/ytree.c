/* ytree.c -- YAML events to a located, immutable tree (see ytree.h).
 *
 * The builder keeps a stack of open containers; each finished node is handed
 * to the container on top.  Limits are checked as events arrive, so deep or
 * huge inputs stop early instead of exhausting memory or the C stack (nothing
 * here recurses on input depth except ytree_merge, which is bounded by the
 * depth cap because it only follows mappings written in the file).  Reading
 * a built tree is ytree_read.c. */
#include "ytree.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* ---- arena ----------------------------------------------------------------- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

struct anchor {
    char *name;
    struct ynode *node;
};

struct ytree {
    struct chunk *chunks;
    struct ynode *root;
    const char *file;
    size_t work; /* nodes made + merge entries copied, against YTREE_MAX_NODES */
};

static void *arena_alloc(struct ytree *t, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct chunk *c = t->chunks;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = t->chunks;
        c->used = 0;
        c->cap = cap;
        t->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

static char *arena_strdup(struct ytree *t, const char *s, size_t len)
{
    char *p = arena_alloc(t, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void ytree_free(struct ytree *t)
{
    if (!t)
        return;
    for (struct chunk *c = t->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(t);
}

const struct ynode *ytree_root(const struct ytree *t)
{
    return t ? t->root : NULL;
}

static const char *const k_kind_names[] = {"null", "string", "sequence", "mapping"};
_Static_assert(sizeof(k_kind_names) / sizeof(k_kind_names[0]) == YNODE_KIND_COUNT,
               "every ynode_kind needs a name");

const char *ynode_kind_name(enum ynode_kind k)
{
    return (unsigned)k < YNODE_KIND_COUNT ? k_kind_names[k] : "?";
}

void ynode_diag(const struct ynode *n, struct diag_list *diags, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_add(diags, DIAG_SEVERITY_ERROR, n ? n->file : "", n ? n->line : 0, n ? n->col : 0,
             n ? n->path : "", "%s", msg);
}

/* ---- builder ---------------------------------------------------------------- */

struct frame {
    struct ynode *node;
    struct ynode **kids;
    size_t n, cap;
    char *anchor; /* heap copy, registered when the container closes */
};

struct builder {
    struct ytree *t;
    struct diag_list *diags;
    struct frame stack[YTREE_MAX_DEPTH + 1];
    int depth;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    int failed; /* a diag was added: stop */
};

static void fail_at(struct builder *b, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fail_at(struct builder *b, int line, int col, const char *path, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_add(b->diags, DIAG_SEVERITY_ERROR, b->t->file, line, col, path, "%s", msg);
    b->failed = 1;
}

static int count_work(struct builder *b, const yaml_mark_t *m)
{
    if (++b->t->work <= YTREE_MAX_NODES)
        return 0;
    fail_at(b, (int)m->line + 1, (int)m->column + 1, "",
            "document too large: more than %d nodes (aliases and merges included)",
            YTREE_MAX_NODES);
    return -1;
}

/* The key path of the next child of the top frame (key_text: the key itself
 * when the child is a mapping key). */
static const char *child_path(struct builder *b, const char *key_text)
{
    if (b->depth == 0)
        return "";
    struct frame *f = &b->stack[b->depth - 1];
    char buf[128];
    const char *parent = f->node->path;
    if (f->node->kind == YNODE_KIND_SEQ) {
        snprintf(buf, sizeof(buf), "%s[%zu]", parent, f->n);
    } else {
        const char *key = key_text;
        if (!key)
            key = (f->n % 2 == 1 && f->kids[f->n - 1]->kind == YNODE_KIND_SCALAR)
                      ? f->kids[f->n - 1]->str
                      : "?";
        snprintf(buf, sizeof(buf), "%s%s%s", parent, parent[0] ? "." : "", key);
    }
    return arena_strdup(b->t, buf, strlen(buf));
}

static struct ynode *new_node(struct builder *b, enum ynode_kind kind, const yaml_mark_t *m,
                              const char *path)
{
    if (count_work(b, m) < 0)
        return NULL;
    struct ynode *n = arena_alloc(b->t, sizeof(*n));
    if (!n || !path) {
        fail_at(b, (int)m->line + 1, (int)m->column + 1, "", "out of memory");
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->file = b->t->file;
    n->path = path;
    n->str = "";
    return n;
}

static int push_kid(struct builder *b, struct frame *f, struct ynode *n)
{
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 8;
        struct ynode **k = realloc(f->kids, ncap * sizeof(*k));
        if (!k) {
            fail_at(b, n->line, n->col, n->path, "out of memory");
            return -1;
        }
        f->kids = k;
        f->cap = ncap;
    }
    f->kids[f->n++] = n;
    return 0;
}

/* Hand a finished node to the open container, or make it the root. */
static int add_child(struct builder *b, struct ynode *n)
{
    if (b->depth == 0) {
        b->t->root = n;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == YNODE_KIND_MAP && f->n % 2 == 0 && n->kind != YNODE_KIND_SCALAR) {
        fail_at(b, n->line, n->col, f->node->path, "mapping keys must be plain strings, not a %s",
                ynode_kind_name(n->kind));
        return -1;
    }
    return push_kid(b, f, n);
}

static int add_anchor(struct builder *b, const char *name, struct ynode *n)
{
    if (!name)
        return 0;
    if (b->n_anchors == b->cap_anchors) {
        size_t ncap = b->cap_anchors ? b->cap_anchors * 2 : 8;
        struct anchor *a = realloc(b->anchors, ncap * sizeof(*a));
        if (!a)
            return -1;
        b->anchors = a;
        b->cap_anchors = ncap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -1;
    b->anchors[b->n_anchors].name = copy;
    b->anchors[b->n_anchors].node = n;
    b->n_anchors++;
    return 0;
}

static struct ynode *find_anchor(struct builder *b, const char *name)
{
    for (size_t i = b->n_anchors; i-- > 0;) /* the latest definition wins */
        if (strcmp(b->anchors[i].name, name) == 0)
            return b->anchors[i].node;
    return NULL;
}

static int is_null_text(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const yaml_mark_t *m = &ev->start_mark;
    if (strlen(v) != len) {
        fail_at(b, (int)m->line + 1, (int)m->column + 1, child_path(b, NULL),
                "NUL character inside a string");
        return -1;
    }
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (tag && strcmp(tag, YAML_STR_TAG) == 0)
        plain = 0;
    int is_key = b->depth > 0 && b->stack[b->depth - 1].node->kind == YNODE_KIND_MAP &&
                 b->stack[b->depth - 1].n % 2 == 0;
    enum ynode_kind kind = plain && !is_key && is_null_text(v) ? YNODE_KIND_NULL
                                                               : YNODE_KIND_SCALAR;
    struct ynode *n = new_node(b, kind, m, child_path(b, is_key ? v : NULL));
    if (!n)
        return -1;
    n->str = arena_strdup(b->t, v, len);
    n->quoted = !plain;
    if (!n->str)
        return -1;
    if (add_anchor(b, (const char *)ev->data.scalar.anchor, n) < 0)
        return -1;
    return add_child(b, n);
}

static int on_start(struct builder *b, const yaml_event_t *ev, enum ynode_kind kind)
{
    const yaml_mark_t *m = &ev->start_mark;
    if (b->depth >= YTREE_MAX_DEPTH) {
        fail_at(b, (int)m->line + 1, (int)m->column + 1, child_path(b, NULL),
                "nesting deeper than %d levels", YTREE_MAX_DEPTH);
        return -1;
    }
    if (b->depth > 0) {
        struct frame *top = &b->stack[b->depth - 1];
        if (top->node->kind == YNODE_KIND_MAP && top->n % 2 == 0) {
            fail_at(b, (int)m->line + 1, (int)m->column + 1, top->node->path,
                    "mapping keys must be plain strings, not a %s", ynode_kind_name(kind));
            return -1;
        }
    }
    struct ynode *n = new_node(b, kind, m, child_path(b, NULL));
    if (!n)
        return -1;
    const char *anchor = kind == YNODE_KIND_SEQ ? (const char *)ev->data.sequence_start.anchor
                                                : (const char *)ev->data.mapping_start.anchor;
    struct frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = n;
    if (anchor && !(f->anchor = strdup(anchor)))
        return -1;
    return 0;
}

static int cmp_key(const void *pa, const void *pb)
{
    const struct ynode *const *a = pa, *const *b = pb;
    int c = strcmp((*a)->str, (*b)->str);
    if (c)
        return c;
    /* Same key: keep file order so the later one is reported. */
    return ((*a)->line - (*b)->line) ? (*a)->line - (*b)->line : (*a)->col - (*b)->col;
}

static int key_in(struct ynode **sorted, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(sorted[mid]->str, key);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Close a mapping: refuse duplicate keys, expand `<<` merge keys (explicit
 * keys win; among merged mappings the first listed wins). */
static int finish_map(struct builder *b, struct frame *f)
{
    size_t n = f->n / 2;
    struct ynode **keys = malloc((n ? n : 1) * sizeof(*keys));
    struct ynode **out = NULL;
    const struct ynode *merge = NULL;
    size_t n_keys = 0, n_out = 0;
    int rc = -1;
    if (!keys)
        goto done;
    for (size_t i = 0; i < n; i++) {
        struct ynode *k = f->kids[2 * i];
        if (!k->quoted && strcmp(k->str, "<<") == 0)
            merge = f->kids[2 * i + 1];
        else
            keys[n_keys++] = k;
    }
    qsort(keys, n_keys, sizeof(*keys), cmp_key);
    for (size_t i = 1; i < n_keys; i++)
        if (strcmp(keys[i]->str, keys[i - 1]->str) == 0) {
            fail_at(b, keys[i]->line, keys[i]->col, keys[i]->path,
                    "duplicate key '%s' (first at line %d)", keys[i]->str, keys[i - 1]->line);
            goto done;
        }
    const struct ynode *srcs_one[1];
    const struct ynode *const *srcs = NULL;
    size_t n_srcs = 0;
    if (merge && merge->kind == YNODE_KIND_MAP) {
        srcs_one[0] = merge;
        srcs = srcs_one;
        n_srcs = 1;
    } else if (merge && merge->kind == YNODE_KIND_SEQ) {
        srcs = (const struct ynode *const *)merge->items;
        n_srcs = merge->n;
    } else if (merge) {
        fail_at(b, merge->line, merge->col, merge->path,
                "'<<' merges a mapping or a list of mappings, not a %s",
                ynode_kind_name(merge->kind));
        goto done;
    }
    size_t cap = f->n;
    for (size_t s = 0; s < n_srcs; s++) {
        if (srcs[s]->kind != YNODE_KIND_MAP) {
            fail_at(b, srcs[s]->line, srcs[s]->col, srcs[s]->path,
                    "'<<' merges mappings, not a %s", ynode_kind_name(srcs[s]->kind));
            goto done;
        }
        cap += 2 * srcs[s]->n;
    }
    out = arena_alloc(b->t, (cap ? cap : 1) * sizeof(*out));
    if (!out)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (f->kids[2 * i + 1] != merge || f->kids[2 * i]->quoted ||
            strcmp(f->kids[2 * i]->str, "<<") != 0) {
            out[n_out++] = f->kids[2 * i];
            out[n_out++] = f->kids[2 * i + 1];
        }
    for (size_t s = 0; s < n_srcs; s++)
        for (size_t i = 0; i < srcs[s]->n; i++) {
            struct ynode *k = srcs[s]->items[2 * i];
            int seen = key_in(keys, n_keys, k->str);
            for (size_t j = 2 * n_keys; !seen && j < n_out; j += 2) /* earlier merged maps */
                seen = strcmp(out[j]->str, k->str) == 0;
            if (seen)
                continue;
            yaml_mark_t m = {.line = (size_t)k->line - 1, .column = (size_t)k->col - 1};
            if (count_work(b, &m) < 0)
                goto done;
            out[n_out++] = k;
            out[n_out++] = srcs[s]->items[2 * i + 1];
        }
    f->node->items = out;
    f->node->n = n_out / 2;
    rc = 0;
done:
    free(keys);
    return rc;
}

static int on_end(struct builder *b)
{
    struct frame *f = &b->stack[b->depth - 1];
    struct ynode *n = f->node;
    int rc = 0;
    if (n->kind == YNODE_KIND_MAP) {
        rc = finish_map(b, f);
    } else {
        n->items = arena_alloc(b->t, (f->n ? f->n : 1) * sizeof(*n->items));
        if (!n->items)
            rc = -1;
        else if (f->n)
            memcpy(n->items, f->kids, f->n * sizeof(*n->items));
        n->n = f->n;
    }
    if (rc == 0 && f->anchor)
        rc = add_anchor(b, f->anchor, n);
    free(f->kids);
    free(f->anchor);
    b->depth--;
    return rc < 0 ? rc : add_child(b, n);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const yaml_mark_t *m = &ev->start_mark;
    struct ynode *n = find_anchor(b, name);
    if (!n) {
        fail_at(b, (int)m->line + 1, (int)m->column + 1, child_path(b, NULL),
                "unknown alias '*%s' (anchors must be defined, with '&%s', before use)", name,
                name);
        return -1;
    }
    if (count_work(b, m) < 0)
        return -1;
    if (b->depth > 0 && b->stack[b->depth - 1].node->kind == YNODE_KIND_MAP &&
        b->stack[b->depth - 1].n % 2 == 0 && n->kind != YNODE_KIND_SCALAR) {
        fail_at(b, (int)m->line + 1, (int)m->column + 1, b->stack[b->depth - 1].node->path,
                "mapping keys must be plain strings, not a %s", ynode_kind_name(n->kind));
        return -1;
    }
    return add_child(b, n);
}

/* ---- libyaml errors, in words a user can act on ---------------------------- */

static void offset_to_pos(const char *data, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (data[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static void report_yaml_error(struct builder *b, const yaml_parser_t *p, const char *data,
                              size_t len)
{
    const char *problem = p->problem ? p->problem : "unknown problem";
    int line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_to_pos(data, len, p->problem_offset, &line, &col);
        if ((strstr(problem, "UTF-8") || strstr(problem, "UTF-16")) && p->problem_value >= 0)
            fail_at(b, line, col, "",
                    "not valid UTF-8 text (%s: byte 0x%02X at offset %zu); save the file as "
                    "UTF-8",
                    problem, (unsigned)(p->problem_value & 0xff), p->problem_offset);
        else if (strstr(problem, "UTF-8") || strstr(problem, "UTF-16"))
            fail_at(b, line, col, "",
                    "not valid UTF-8 text (%s at offset %zu); save the file as UTF-8", problem,
                    p->problem_offset);
        else if (strstr(problem, "control characters"))
            fail_at(b, line, col, "",
                    "control character 0x%02X at offset %zu is not allowed in YAML (is this a "
                    "binary file?)",
                    (unsigned)(p->problem_value & 0xff), p->problem_offset);
        else
            fail_at(b, line, col, "", "cannot read the text: %s", problem);
        return;
    }
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    size_t idx = p->problem_mark.index;
    if ((idx < len && data[idx] == '\t') || strstr(problem, "tab")) {
        fail_at(b, line, col, "", "tab character: YAML indentation must use spaces, not tabs");
        return;
    }
    if (p->context)
        fail_at(b, line, col, "", "YAML syntax error: %s (%s at line %d)", problem, p->context,
                (int)p->context_mark.line + 1);
    else
        fail_at(b, line, col, "", "YAML syntax error: %s", problem);
}

static void builder_cleanup(struct builder *b)
{
    for (int i = 0; i < b->depth; i++) {
        free(b->stack[i].kids);
        free(b->stack[i].anchor);
    }
    for (size_t i = 0; i < b->n_anchors; i++)
        free(b->anchors[i].name);
    free(b->anchors);
}

static int handle_event(struct builder *b, const yaml_event_t *ev, int *docs)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1) {
            fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "",
                    "more than one YAML document ('---') in the file; put all shots in one");
            return -1;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, YNODE_KIND_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, YNODE_KIND_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    default:
        return 0;
    }
}

int ytree_parse(const char *file, const char *data, size_t len, struct ytree **out,
                struct diag_list *diags, struct df_err *err)
{
    *out = NULL;
    struct ytree *t = calloc(1, sizeof(*t));
    if (!t)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", file);
    t->file = arena_strdup(t, file, strlen(file));
    struct builder b = {.t = t, .diags = diags};
    yaml_parser_t p;
    if (!t->file || !yaml_parser_initialize(&p)) {
        ytree_free(t);
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", file);
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    int docs = 0, done = 0;
    while (!done && !b.failed) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            report_yaml_error(&b, &p, data, len);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        if (handle_event(&b, &ev, &docs) < 0 && !b.failed)
            fail_at(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, "",
                    "out of memory");
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    builder_cleanup(&b);
    if (b.failed) {
        ytree_free(t);
        return df_err_set(err, DF_E_PARSE, "%s: not a valid YAML document", file);
    }
    *out = t;
    return 0;
}

int ytree_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len,
                    struct df_err *err)
{
    *out = NULL;
    *out_len = 0;
    /* stat before open: opening a FIFO would block. Regular files only. */
    struct stat st;
    if (stat(path, &st) < 0)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "%s", path);
    if (S_ISDIR(st.st_mode))
        return df_err_set(err, DF_E_IO, "%s: is a directory, not a file", path);
    if (!S_ISREG(st.st_mode))
        return df_err_set(err, DF_E_IO, "%s: not a regular file", path);
    if ((uintmax_t)st.st_size > max_bytes)
        return df_err_set(err, DF_E_RANGE, "%s: file is %jd bytes, more than the %zu-byte limit",
                          path, (intmax_t)st.st_size, max_bytes);
    FILE *f = fopen(path, "rb");
    if (!f)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "%s", path);
    size_t want = (size_t)st.st_size;
    char *buf = malloc(want + 2);
    if (!buf) {
        fclose(f);
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
    }
    /* One byte more than stat said, to notice a file that grew meanwhile. */
    size_t n = fread(buf, 1, want + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return df_err_set(err, DF_E_IO, "%s: read failed", path);
    }
    if (n > max_bytes) {
        free(buf);
        return df_err_set(err, DF_E_RANGE, "%s: file is more than the %zu-byte limit", path,
                          max_bytes);
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

/* ---- merge ------------------------------------------------------------------- */

static const struct ynode *merge_rec(struct ytree *t, const struct ynode *base,
                                     const struct ynode *over, struct diag_list *diags, int depth)
{
    if (!base || base->kind != YNODE_KIND_MAP)
        return over;
    if (!over)
        return base;
    if (over->kind != YNODE_KIND_MAP)
        return over; /* a scalar or list replaces the default; null means "default" below */
    if (depth > YTREE_MAX_DEPTH)
        return over;
    size_t cap = 2 * (base->n + over->n);
    struct ynode **items = arena_alloc(t, (cap ? cap : 1) * sizeof(*items));
    struct ynode *m = arena_alloc(t, sizeof(*m));
    t->work += base->n + over->n + 1;
    if (!items || !m || t->work > YTREE_MAX_NODES) {
        ynode_diag(over, diags, "merging defaults: document too large (more than %d nodes)",
                   YTREE_MAX_NODES);
        return NULL;
    }
    *m = *over;
    size_t k = 0;
    for (size_t i = 0; i < base->n; i++) {
        const struct ynode *key = base->items[2 * i];
        const struct ynode *ov = ynode_get(over, key->str);
        const struct ynode *v = base->items[2 * i + 1];
        if (ov && ov->kind != YNODE_KIND_NULL) {
            v = merge_rec(t, v, ov, diags, depth + 1);
            if (!v)
                return NULL;
            key = NULL; /* take the key from `over` so messages point at the shot */
            for (size_t j = 0; j < over->n; j++)
                if (strcmp(over->items[2 * j]->str, base->items[2 * i]->str) == 0)
                    key = over->items[2 * j];
        }
        items[k++] = (struct ynode *)key;
        items[k++] = (struct ynode *)v;
    }
    for (size_t j = 0; j < over->n; j++)
        if (!ynode_get(base, over->items[2 * j]->str)) {
            items[k++] = over->items[2 * j];
            items[k++] = over->items[2 * j + 1];
        }
    m->items = items;
    m->n = k / 2;
    return m;
}

const struct ynode *ytree_merge(struct ytree *t, const struct ynode *base,
                                const struct ynode *over, struct diag_list *diags)
{
    return merge_rec(t, base, over, diags, 0);
}
