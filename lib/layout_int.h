/*
 * layout_int.h -- internals shared by layout.c (enumeration and ranking),
 * layout_cost.c (the cost model) and layout_text.c (explanations, JSON).
 * Not part of the public interface: include layout.h instead.
 */
#ifndef DF_LAYOUT_INT_H
#define DF_LAYOUT_INT_H

#include "layout.h"

/* Check the request (geometry, grid, cluster, parameters) and resolve the
 * effective parameters: p or the device defaults, with c->mem_per_rank
 * overriding the capacity.  Returns 0 or DF_E_INVAL / DF_E_RANGE. */
int layout_check_request(const struct model_geom *g, const struct model_grid *grid,
                         const struct cluster_shape *c, const struct layout_params *p,
                         struct layout_params *eff, struct df_err *err);

/* Guidance branches of the request: 1 or 2. */
int layout_branches(const struct cluster_shape *c);

/* Why (cfg, u, r) cannot be placed ranks_per_node per node on cluster c, or
 * NULL when it can.  The result points to a static string. */
const char *layout_placement_rule(const struct model_geom *g, const struct cluster_shape *c,
                                  int cfg, int u, int r, int rpn);

/* Fill every field of `out` but the explanations for a layout that passed
 * layout_placement_rule(): the split, the placement flags and the cost.  The
 * request must have passed layout_check_request(); never fails. */
void layout_fill(const struct model_geom *g, const struct model_grid *grid,
                 const struct cluster_shape *c, const struct layout_params *p, int cfg, int u,
                 int r, int rpn, struct layout *out);

/* The explanation of why `best` wins (into best->why). */
void layout_explain_win(struct layout *best);

/* Why `alt` loses to `best`, without the degrees prefix ("ring passes K/V 3
 * times across nodes, ..."), into buf. */
void layout_explain_loss(const struct layout *best, const struct layout *alt, char *buf,
                         size_t cap);

/* Append printf-style text to buf[*len..cap) and advance *len; truncates
 * silently once full (explanations are best-effort text). */
void layout_addf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));


#endif /* DF_LAYOUT_INT_H */
