/*
 * comm_groups.h -- the three groups of a USP layout, split from the world comm.
 *
 * World = cfg x ring x ulysses with ulysses innermost:
 *     world rank = cfg_idx*(ulysses*ring) + ring_idx*ulysses + uly_idx
 * so a ulysses group (the all-to-all one) is a run of consecutive ranks, which
 * Slurm's block distribution places on one node.  The ring group joins the
 * ranks with the same (cfg_idx, uly_idx); the cfg group those with the same
 * (ring_idx, uly_idx); the sp group is a whole CFG branch (ulysses*ring ranks,
 * same cfg_idx: gathers of the branch's latent).  Within each group ranks keep
 * their world order.  Colors match lib/layout.h's layout_comm_colors.
 *
 *     struct comm_groups g;
 *     comm_groups_open(world, 2, 4, 2, &g, &err);   // 16 ranks
 *     comm_alltoallv(g.ulysses, ...); comm_sendrecv_start(g.ring, ...);
 *     comm_groups_close(&g);
 */
#ifndef DF_COMM_GROUPS_H
#define DF_COMM_GROUPS_H

#include "comm.h"

struct comm_groups {
    int n_cfg, n_ulysses, n_ring;       /* the layout */
    int cfg_idx, ulysses_idx, ring_idx; /* this rank's coordinates */
    comm_t cfg;                         /* n_cfg ranks, named "cfg" */
    comm_t ulysses;                     /* n_ulysses ranks, named "ulysses" */
    comm_t ring;                        /* n_ring ranks, named "ring" */
    comm_t sp;                          /* n_ulysses*n_ring ranks, named "sp" */
};

/* World rank of coordinates (cfg_idx, ring_idx, uly_idx) in layout (u, r). */
int comm_groups_world_rank(int cfg_idx, int ring_idx, int uly_idx, int ulysses, int ring);

/* Split `world` into the four groups (collective over world).  Returns 0,
 * DF_E_INVAL (a factor < 1, or cfg*ulysses*ring != world size; message names
 * both) or a split's error.  On failure *g holds no comms. */
int comm_groups_open(comm_t world, int cfg, int ulysses, int ring, struct comm_groups *g,
                     struct df_err *err);

/* Close the four comms (a zeroed g is fine). */
void comm_groups_close(struct comm_groups *g);

#endif /* DF_COMM_GROUPS_H */
