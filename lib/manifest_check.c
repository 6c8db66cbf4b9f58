/* manifest_check.c -- checks across shots: unique ids, `after:` naming real
 * shots, no dependency cycles, no two shots writing the same output. */
#include "manifest_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct id_ref {
    const char *id;
    size_t idx;
};

static int cmp_ref(const void *a, const void *b)
{
    const struct id_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static long find_id(const struct id_ref *refs, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(refs[mid].id, id);
        if (c == 0) {
            while (mid > 0 && strcmp(refs[mid - 1].id, id) == 0)
                mid--;
            return (long)refs[mid].idx;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static const struct ynode *after_item(const struct shot_src *src, size_t j)
{
    const struct ynode *a = src->after;
    return a && a->kind == YNODE_KIND_SEQ && j < a->n ? a->items[j] : a;
}

/* Depth-first search without recursion (a manifest may chain thousands of
 * shots).  deps[i] lists shot indices; -1 entries are skipped. */
static void find_cycles(struct mload *ld, const struct manifest *m, const struct shot_src *srcs,
                        long **deps)
{
    size_t n = m->n_shots;
    unsigned char *color = calloc(n, 1); /* 0 new, 1 on the path, 2 done */
    size_t *stack = malloc(n * sizeof(*stack)), *next = calloc(n, sizeof(*next));
    if (!color || !stack || !next)
        goto done;
    for (size_t root = 0; root < n; root++) {
        if (color[root])
            continue;
        size_t sp = 0;
        stack[sp++] = root;
        color[root] = 1;
        while (sp) {
            size_t u = stack[sp - 1];
            if (next[u] == m->shots[u].n_after) {
                color[u] = 2;
                sp--;
                continue;
            }
            size_t j = next[u]++;
            long v = deps[u][j];
            if (v < 0 || color[v] == 2)
                continue;
            if (color[v] == 0) {
                color[v] = 1;
                stack[sp++] = (size_t)v;
                continue;
            }
            /* v is on the path: the cycle is stack[k..sp-1] -> v. */
            char text[600] = "";
            size_t k = sp;
            while (k > 0 && stack[k - 1] != (size_t)v)
                k--;
            for (size_t i = k - 1; i < sp; i++)
                snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s -> ",
                         m->shots[stack[i]].id);
            snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s", m->shots[v].id);
            ynode_diag(after_item(&srcs[u], j), ld->diags, "dependency cycle: %s", text);
            color[v] = 2; /* report each cycle once */
        }
    }
done:
    free(color);
    free(stack);
    free(next);
}

static void check_outputs(struct mload *ld, const struct manifest *m, const struct shot_src *srcs)
{
    size_t n = m->n_shots;
    char (*paths)[1024] = malloc((n ? n : 1) * sizeof(*paths));
    struct id_ref *refs = malloc((n ? n : 1) * sizeof(*refs));
    size_t nr = 0;
    if (!paths || !refs)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (m->shots[i].output.path &&
            manifest_output_path(m, &m->shots[i], "DATE", paths[i], sizeof(paths[i]), NULL) == 0) {
            refs[nr].id = paths[i];
            refs[nr++].idx = i;
        }
    qsort(refs, nr, sizeof(*refs), cmp_ref); /* same path, then file order */
    for (size_t i = 1; i < nr; i++)
        if (strcmp(refs[i].id, refs[i - 1].id) == 0) {
            size_t me = refs[i].idx, first = refs[i - 1].idx;
            while (i + 1 < nr && strcmp(refs[i + 1].id, refs[i].id) == 0)
                i++; /* one message per colliding group */
            const char *a = m->shots[me].id, *b = m->shots[first].id;
            if (a && b && strcmp(a, b) == 0)
                continue; /* a duplicate id, already reported */
            const struct ynode *at = ynode_get(ynode_get(srcs[me].node, "output"), "path");
            ynode_diag(at ? at : srcs[me].node, ld->diags,
                       "output path '%s' is also the output of shot '%s' (put {shot} in the "
                       "template)",
                       paths[me], m->shots[first].id ? m->shots[first].id : "?");
        }
done:
    free(paths);
    free(refs);
}

void manifest_check_shots(struct mload *ld, const struct manifest *m, const struct shot_src *srcs)
{
    size_t n = m->n_shots;
    struct id_ref *refs = malloc((n ? n : 1) * sizeof(*refs));
    long **deps = calloc(n ? n : 1, sizeof(*deps));
    const char **ids = calloc(n + 1, sizeof(*ids));
    size_t nr = 0;
    if (!refs || !deps || !ids)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (m->shots[i].id) {
            refs[nr].id = m->shots[i].id;
            refs[nr++].idx = i;
            ids[i] = m->shots[i].id;
        }
    qsort(refs, nr, sizeof(*refs), cmp_ref);
    for (size_t i = 1; i < nr; i++)
        if (strcmp(refs[i].id, refs[i - 1].id) == 0) {
            const struct shot *first = &m->shots[refs[i - 1].idx];
            const struct ynode *at = srcs[refs[i].idx].id;
            if (at && first->file == at->file)
                ynode_diag(at, ld->diags, "duplicate shot id '%s' (first used at line %d)",
                           refs[i].id, first->line);
            else
                ynode_diag(at, ld->diags, "duplicate shot id '%s' (first used at %s:%d)",
                           refs[i].id, first->file, first->line);
        }
    /* ids[] for suggestions: only the non-NULL prefix matters to ytree_suggest. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (m->shots[i].id)
            ids[k++] = m->shots[i].id;
    ids[k] = NULL;
    int deps_ok = 1;
    for (size_t i = 0; i < n; i++) {
        const struct shot *s = &m->shots[i];
        if (!(deps[i] = malloc((s->n_after ? s->n_after : 1) * sizeof(**deps)))) {
            deps_ok = 0;
            break;
        }
        for (size_t j = 0; j < s->n_after; j++) {
            long v = s->after[j] ? find_id(refs, nr, s->after[j]) : -1;
            deps[i][j] = v;
            if (v >= 0 && (size_t)v == i) {
                ynode_diag(after_item(&srcs[i], j), ld->diags,
                           "shot '%s' cannot run after itself", s->id ? s->id : "?");
                deps[i][j] = -1;
            } else if (v < 0 && s->after[j]) {
                const char *sug = ytree_suggest(s->after[j], ids);
                ynode_diag(after_item(&srcs[i], j), ld->diags,
                           "no shot with id '%.64s'%s%s%s", s->after[j],
                           sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
            }
        }
    }
    if (deps_ok)
        find_cycles(ld, m, srcs, deps);
    check_outputs(ld, m, srcs);
done:
    for (size_t i = 0; deps && i < n; i++)
        free(deps[i]);
    free(deps);
    free(refs);
    free(ids);
}
