/*
 * depsched.h -- the one `after:` scheduler: which shots may run, which must
 * wait, which never will, and in what order.  `ditfarm render` (runs shots
 * one after another), `ditfarm sbatch` (submits dependencies first, so their
 * job ids exist) and ditfarmd (releases waiting shots) all ask it, so a shot
 * waits for the same things however it is rendered.
 *
 * The caller keeps one node per shot with its state; dependencies name shots
 * by id within the same group (a manifest).  An id no node has, or a node
 * outside the selection (DEP_STATE_IGNORED), does not hold anything up.
 *
 *     struct dep_node n[3] = {{.id = "a"}, {.id = "b", .after = b_after, .n_after = 1}, ...};
 *     int i;
 *     while ((i = depsched_next(n, 3, &blocked)) >= 0) { run(i); n[i].state = ok ? DONE : FAILED; }
 */
#ifndef DF_DEPSCHED_H
#define DF_DEPSCHED_H

#include <stddef.h>
#include <stdint.h>

enum dep_state {
    DEP_STATE_PENDING, /* not started: waits for its dependencies */
    DEP_STATE_ACTIVE,  /* submitted or running */
    DEP_STATE_DONE,    /* finished: its dependants may go */
    DEP_STATE_FAILED,  /* failed, cancelled or skipped: its dependants never go */
    DEP_STATE_IGNORED, /* not selected: counts as done for the others */
    DEP_STATE_COUNT
};

struct dep_node {
    const char *id;
    int64_t group;           /* dependencies resolve within one group (a manifest) */
    int priority;            /* higher goes first among ready nodes */
    const char *const *after; /* ids this node waits for; n_after of them */
    size_t n_after;
    enum dep_state state;
};

/* What one node's dependencies say. */
struct dep_check {
    int n_deps;  /* dependencies that name a node */
    int n_done;  /* of them done (or ignored) */
    int blocker; /* index of a failed dependency, or -1 */
};

/* One node per shot of m, in manifest order, all pending (group 0).  out has
 * m->n_shots entries; they point into m. */
struct manifest;
void depsched_from_manifest(const struct manifest *m, struct dep_node *out);

/* The dependencies of node i. */
struct dep_check depsched_check(const struct dep_node *n, size_t count, size_t i);

/* 1 when node i is pending and every dependency is done (or ignored). */
int depsched_ready(const struct dep_node *n, size_t count, size_t i);

/* The next node to run: pending and ready, highest priority, then earliest
 * in the list.  Pending nodes with a failed dependency become FAILED first
 * (transitively); when skipped is not NULL each one's index is written there
 * in the order they were skipped, *n_skipped counting them.  Returns the
 * index, or -1 when nothing can run now. */
int depsched_next(struct dep_node *n, size_t count, int *skipped, size_t *n_skipped);

/* An order of the non-ignored nodes in which every dependency comes before
 * its dependants (list order among peers): fills order[] (count entries at
 * most) and returns how many.  Nodes on a cycle are left out (the manifest
 * loader refuses cycles). */
size_t depsched_order(const struct dep_node *n, size_t count, int *order);

#endif /* DF_DEPSCHED_H */
