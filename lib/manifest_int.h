/*
 * manifest_int.h -- internals shared by the manifest files: the loader
 * (manifest.c), the per-shot schema (manifest_shot.c), cross-shot checks
 * (manifest_check.c) and the normalized form (manifest_json.c).
 */
#ifndef DF_MANIFEST_INT_H
#define DF_MANIFEST_INT_H

#include "manifest.h"
#include "ident.h"
#include "ytree.h"

/* Where a shot came from, kept while loading for located messages. */
struct shot_src {
    const struct ynode *node;  /* the merged shot mapping */
    const struct ynode *id;    /* value of id:, or NULL */
    const struct ynode *after; /* value of after:, or NULL */
    int ok;                    /* the shot read without errors */
};

#define MLOAD_GEOM_CACHE 8

struct mload {
    const char *configs_dir;
    struct diag_list *diags;
    struct ytree *arena; /* merges allocate here */
    /* configs/models geometries already read: most manifests name one or two
     * models for many shots. */
    struct model_geom geom_cache[MLOAD_GEOM_CACHE];
    int n_geom_cache;
};

/* Read one merged shot mapping into *out (zeroed by the caller); every problem
 * goes to ld->diags.  Returns 0, or -1 when the shot has errors. */
int manifest_shot_read(struct mload *ld, const struct ynode *node, struct shot *out,
                       struct shot_src *src);

/* Free what a shot owns (not the shot itself). */
void manifest_shot_fini(struct shot *s);

/* Cross-shot checks: duplicate ids, unknown `after:` ids, dependency cycles. */
void manifest_check_shots(struct mload *ld, const struct manifest *m,
                          const struct shot_src *srcs);

/* 1 for a valid id or name: [A-Za-z0-9_.-], 1..63 characters, not starting
 * with '.' or '-' (ids become file and directory names: no "..", no options). */
#define MANIFEST_ID_RULE IDENT_RULE /* one rule: lib/ident.h */
int manifest_valid_id(const char *s);

#endif /* DF_MANIFEST_INT_H */
