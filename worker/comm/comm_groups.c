/* comm_groups.c -- split the world into the cfg, ulysses, ring and sp groups
 * (rank order and why: comm_groups.h). */
#include "comm_groups.h"

#include <string.h>

int comm_groups_world_rank(int cfg_idx, int ring_idx, int uly_idx, int ulysses, int ring)
{
    return cfg_idx * (ulysses * ring) + ring_idx * ulysses + uly_idx;
}

int comm_groups_open(comm_t world, int cfg, int ulysses, int ring, struct comm_groups *g,
                     struct df_err *err)
{
    memset(g, 0, sizeof *g);
    DF_FAIL_IF(cfg < 1 || ulysses < 1 || ring < 1, err, DF_E_INVAL,
               "comm groups: layout cfg=%d ulysses=%d ring=%d has a factor below 1", cfg, ulysses,
               ring);
    DF_FAIL_IF((long)cfg * ulysses * ring != comm_size(world), err, DF_E_INVAL,
               "comm groups: layout cfg=%d x ulysses=%d x ring=%d = %ld ranks, but the world "
               "has %d",
               cfg, ulysses, ring, (long)cfg * ulysses * ring, comm_size(world));
    int w = comm_rank(world);
    int ur = ulysses * ring;
    g->n_cfg = cfg;
    g->n_ulysses = ulysses;
    g->n_ring = ring;
    g->cfg_idx = w / ur;
    g->ring_idx = (w % ur) / ulysses;
    g->ulysses_idx = w % ulysses;
    /* Colors: the coordinates that stay fixed inside the group. */
    int rc = comm_split(world, g->cfg_idx * ring + g->ring_idx, g->ulysses_idx, &g->ulysses, err);
    if (rc == 0)
        rc = comm_split(world, g->cfg_idx * ulysses + g->ulysses_idx, g->ring_idx, &g->ring, err);
    if (rc == 0)
        rc = comm_split(world, w % ur, g->cfg_idx, &g->cfg, err);
    if (rc == 0)
        rc = comm_split(world, g->cfg_idx, w % ur, &g->sp, err);
    if (rc < 0) {
        df_err_prefix(err, "comm groups (cfg=%d ulysses=%d ring=%d)", cfg, ulysses, ring);
        comm_groups_close(g);
        return rc;
    }
    comm_set_name(g->ulysses, "ulysses");
    comm_set_name(g->ring, "ring");
    comm_set_name(g->cfg, "cfg");
    comm_set_name(g->sp, "sp");
    return 0;
}

void comm_groups_close(struct comm_groups *g)
{
    if (g == NULL)
        return;
    comm_close(g->sp);
    comm_close(g->cfg);
    comm_close(g->ring);
    comm_close(g->ulysses);
    g->sp = g->cfg = g->ring = g->ulysses = NULL;
}
