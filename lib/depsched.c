/* depsched.c -- the `after:` scheduler (see depsched.h). */
#include "depsched.h"
#include "manifest.h"

#include <stdlib.h>
#include <string.h>

static int find(const struct dep_node *n, size_t count, int64_t group, const char *id)
{
    for (size_t k = 0; id && k < count; k++)
        if (n[k].group == group && n[k].id && strcmp(n[k].id, id) == 0)
            return (int)k;
    return -1;
}

void depsched_from_manifest(const struct manifest *m, struct dep_node *out)
{
    for (size_t i = 0; i < m->n_shots; i++) {
        const struct shot *s = &m->shots[i];
        out[i] = (struct dep_node){.id = s->id, .priority = s->priority,
                                   .after = (const char *const *)s->after, .n_after = s->n_after,
                                   .state = DEP_STATE_PENDING};
    }
}

struct dep_check depsched_check(const struct dep_node *n, size_t count, size_t i)
{
    struct dep_check c = {.blocker = -1};
    for (size_t k = 0; k < n[i].n_after; k++) {
        int d = find(n, count, n[i].group, n[i].after[k]);
        if (d < 0)
            continue;
        c.n_deps++;
        if (n[d].state == DEP_STATE_DONE || n[d].state == DEP_STATE_IGNORED)
            c.n_done++;
        else if (n[d].state == DEP_STATE_FAILED)
            c.blocker = d;
    }
    return c;
}

int depsched_ready(const struct dep_node *n, size_t count, size_t i)
{
    struct dep_check c = depsched_check(n, count, i);
    return n[i].state == DEP_STATE_PENDING && c.n_done == c.n_deps;
}

int depsched_next(struct dep_node *n, size_t count, int *skipped, size_t *n_skipped)
{
    if (n_skipped)
        *n_skipped = 0;
    /* a failure blocks its dependants, theirs, ...: repeat until stable */
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < count; i++)
            if (n[i].state == DEP_STATE_PENDING && depsched_check(n, count, i).blocker >= 0) {
                n[i].state = DEP_STATE_FAILED;
                if (skipped && n_skipped)
                    skipped[(*n_skipped)++] = (int)i;
                changed = 1;
            }
    }
    int best = -1;
    for (size_t i = 0; i < count; i++)
        if (depsched_ready(n, count, i) && (best < 0 || n[i].priority > n[best].priority))
            best = (int)i;
    return best;
}

size_t depsched_order(const struct dep_node *n, size_t count, int *order)
{
    size_t placed_n = 0;
    char *placed = calloc(count ? count : 1, 1);
    for (int progress = 1; progress && placed;) {
        progress = 0;
        for (size_t i = 0; i < count; i++) {
            if (placed[i] || n[i].state == DEP_STATE_IGNORED)
                continue;
            int ready = 1;
            for (size_t k = 0; k < n[i].n_after && ready; k++) {
                int d = find(n, count, n[i].group, n[i].after[k]);
                ready = d < 0 || n[d].state == DEP_STATE_IGNORED || placed[d];
            }
            if (ready)
                placed[i] = 1, order[placed_n++] = (int)i, progress = 1;
        }
    }
    free(placed);
    return placed_n;
}
