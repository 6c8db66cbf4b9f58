/* render_par.c -- ranks, layout and groups of a shot's render (render_par.h). */
#include "render_par.h"

#include <stdlib.h>
#include <string.h>

/* A seed the worker drew itself (a manifest rendered without a controller)
 * differs from rank to rank: rank 0's wins. */
static int share_seed(struct render_par *p, struct job_contract *job, struct df_err *err)
{
    if (p->size == 1 || !job->shot.seed_random)
        return 0;
    uint64_t *all = malloc((size_t)p->size * sizeof(uint64_t));
    DF_FAIL_IF(!all, err, DF_E_NOMEM, "out of memory");
    int rc = comm_allgather(p->world, COMM_DTYPE_BYTE, &job->shot.seed, sizeof(uint64_t), all,
                            err);
    if (rc == 0) {
        job->shot.seed = all[0];
        job->hash = manifest_shot_hash(&job->shot);
    }
    free(all);
    return rc;
}

/* The layout for the world we got: the controller's plan when it fits, else
 * a plan for exactly this world (p->replanned says so). */
static int plan(struct render_par *p, const struct job_contract *job, int gpu, const int *force,
                struct df_err *err)
{
    const struct shot *s = &job->shot;
    /* every rank plans for exactly the ranks it was started with */
    int nodes = p->boot.info.n_nodes > 0 ? p->boot.info.n_nodes : 1;
    if (p->size % nodes != 0)
        nodes = 1;
    struct cluster_shape c = {.nodes = nodes, .ranks_per_node = p->size / nodes,
                              .device = gpu ? LAYOUT_DEVICE_GPU : LAYOUT_DEVICE_CPU,
                              .use_all = 1, .cfg_branches = job->guided ? 2 : 1,
                              .cfg_together = layout_shot_cfg_together(s)};
    const struct layout *pl = &job->lay;
    if (force)
        return layout_make(&s->geom, &s->grid, &c, NULL, force[0], force[1], force[2], 0,
                           &p->lay, err);
    if (job->planned) {
        layout_describe(pl, p->planned_desc, sizeof(p->planned_desc));
        if (pl->world == p->size &&
            layout_make(&s->geom, &s->grid, &c, NULL, pl->cfg, pl->ulysses, pl->ring, 0, &p->lay,
                        NULL) == 0)
            return 0;
        p->replanned = 1;
    }
    int n = 0;
    return job_contract_plan(s, &c, &p->lay, 1, &n, err);
}

/* GPU ranks move the attention's all-to-alls and ring passes on device
 * memory with a device-memory comm from the registry (NCCL; docs/gpu.md);
 * host data (latents, control) stays on the host comm.  DITFARM_NCCL=0, or a
 * build without one, keeps everything on the host comm, staged. */
static int open_device_groups(struct render_par *p, const struct comm_opts *co, struct df_err *err)
{
    const char *use = getenv("DITFARM_NCCL");
    enum comm_backend cb;
    if ((use != NULL && strcmp(use, "0") == 0) ||
        comm_backend_pick(COMM_MEM_DEVICE, p->size, &cb, NULL) < 0)
        return 0;
    int rc = comm_open(cb, &p->boot, co, &p->dev_world, err);
    if (rc < 0) {
        df_err_prefix(err, "%s for the GPU ranks (DITFARM_NCCL=0 stages through the host comm)",
                      comm_backend_name(cb));
        return rc;
    }
    comm_set_name(p->dev_world, "world-device");
    return comm_groups_open(p->dev_world, p->lay.cfg, p->lay.ulysses, p->lay.ring, &p->dg, err);
}

int render_par_open(struct render_par *p, struct job_contract *job, int gpu, int64_t row,
                    const int *force, struct df_err *err)
{
    memset(p, 0, sizeof(*p));
    p->row = row;
    DF_TRY(boot_init(&p->boot, err));
    p->rank = p->boot.info.rank;
    p->size = p->boot.info.size;
    struct comm_opts co = comm_opts_default();
    DF_TRY(comm_opts_from_env(&co, err));
    /* host data (latents, control) goes through a host-memory comm from the
     * registry; GPU ranks add a device-memory one for attention below */
    enum comm_backend cb;
    DF_TRY(comm_backend_pick(COMM_MEM_HOST, p->size, &cb, err));
    DF_TRY(comm_open(cb, &p->boot, &co, &p->world, err));
    comm_set_name(p->world, "world");
    DF_TRY(share_seed(p, job, err));
    DF_TRY(plan(p, job, gpu, force, err));
    const uint64_t agree = job->hash;
    struct {
        int cfg, u, r, world;
        int64_t seq, chunk;
        uint64_t agree;
    } id = {p->lay.cfg, p->lay.ulysses, p->lay.ring, p->lay.world, p->lay.seq_len,
            p->lay.chunk, agree};
    DF_TRY(comm_check_same(p->world, &id, sizeof(id), err));
    DF_TRY(layout_check_runnable(&p->lay, err)); /* the planner's rule (lib/layout.c) */
    DF_TRY(comm_groups_open(p->world, p->lay.cfg, p->lay.ulysses, p->lay.ring, &p->g, err));
    if (gpu && p->size > 1)
        DF_TRY(open_device_groups(p, &co, err));
    DF_TRY(layout_rank_coords(&p->lay, p->rank, &p->cfg_idx, &p->ring_idx, &p->uly_idx, err));
    DF_TRY(layout_token_range(&p->lay, p->rank, &p->tok_begin, &p->tok_count, err));
    p->rows_of = calloc((size_t)p->size, sizeof(int64_t));
    p->begin_of = calloc((size_t)p->size, sizeof(int64_t));
    p->cfg_of = calloc((size_t)p->size, sizeof(int));
    DF_FAIL_IF(!p->rows_of || !p->begin_of || !p->cfg_of, err, DF_E_NOMEM, "out of memory");
    for (int j = 0; j < p->size; j++) {
        int ci, ri, ui;
        int64_t b, cnt;
        DF_TRY(layout_rank_coords(&p->lay, j, &ci, &ri, &ui, err));
        DF_TRY(layout_token_range(&p->lay, j, &b, &cnt, err));
        p->begin_of[j] = b;
        p->rows_of[j] = cnt;
        p->cfg_of[j] = ci;
    }
    return 0;
}

void render_par_close(struct render_par *p)
{
    comm_groups_close(&p->dg);
    comm_close(p->dev_world);
    p->dev_world = NULL;
    comm_groups_close(&p->g);
    comm_close(p->world);
    boot_fini(&p->boot);
    free(p->rows_of);
    free(p->begin_of);
    free(p->cfg_of);
    p->world = NULL;
    p->rows_of = p->begin_of = NULL;
    p->cfg_of = NULL;
}

int render_par_swap_cfg(struct render_par *p, float *cond, float *uncond, size_t n,
                        struct df_err *err)
{
    if (p->lay.cfg != 2)
        return 0;
    /* cfg rank 0 computed cond, rank 1 uncond: send mine, receive the other */
    float *mine = p->cfg_idx == 0 ? cond : uncond;
    float *theirs = p->cfg_idx == 0 ? uncond : cond;
    comm_req_t req;
    int partner = 1 - p->cfg_idx;
    DF_TRY(comm_sendrecv_start(p->g.cfg, mine, n, partner, theirs, n, partner, &req, err));
    return comm_wait(req, err);
}

int render_par_gather_rows(struct render_par *p, const float *mine, float *all,
                           struct df_err *err)
{
    return render_par_gather_tokens(p, 0, mine, all, p->row, err);
}

int render_par_gather_tokens(struct render_par *p, int src_cfg, const float *mine, float *all,
                             int64_t width, struct df_err *err)
{
    size_t *counts = malloc((size_t)p->size * sizeof(size_t));
    size_t *displs = malloc((size_t)p->size * sizeof(size_t));
    int rc = 0;
    if (!counts || !displs) {
        rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        goto done;
    }
    for (int j = 0; j < p->size; j++) {
        counts[j] = p->cfg_of[j] == src_cfg ? (size_t)(p->rows_of[j] * width) : 0;
        displs[j] = (size_t)(p->begin_of[j] * width);
    }
    rc = comm_allgatherv(p->world, mine, counts[p->rank], all, counts, displs, err);
done:
    free(counts);
    free(displs);
    return rc;
}

int render_par_any(struct render_par *p, int flag, struct df_err *err)
{
    float v = flag ? 1.0f : 0.0f;
    DF_TRY(comm_allreduce(p->world, &v, &v, 1, COMM_OP_MAX, err));
    return v > 0.0f;
}

int render_par_share_string(struct render_par *p, char *buf, size_t cap, struct df_err *err)
{
    if (p->size == 1)
        return 0;
    char *all = malloc((size_t)p->size * cap);
    DF_FAIL_IF(!all, err, DF_E_NOMEM, "out of memory");
    buf[cap - 1] = '\0';
    int rc = comm_allgather_bytes(p->world, buf, cap, all, err);
    if (rc == 0)
        memcpy(buf, all, cap); /* rank 0's */
    free(all);
    return rc;
}

int render_par_share_bytes(struct render_par *p, void **buf, size_t *n, struct df_err *err)
{
    if (p->size == 1)
        return 0;
    uint64_t len = p->rank == 0 ? (uint64_t)*n : 0;
    uint64_t *lens = malloc((size_t)p->size * sizeof(uint64_t));
    DF_FAIL_IF(!lens, err, DF_E_NOMEM, "out of memory");
    int rc = comm_allgather_bytes(p->world, &len, sizeof(len), lens, err);
    len = lens[0];
    free(lens);
    DF_TRY(rc);
    /* every rank sends len bytes (only rank 0's matter) */
    char *mine = calloc(len ? len : 1, 1), *all = calloc((size_t)p->size * (len ? len : 1), 1);
    if (!mine || !all) {
        free(mine);
        free(all);
        return df_err_set(err, DF_E_NOMEM, "out of memory sharing %llu bytes",
                          (unsigned long long)len);
    }
    if (p->rank == 0 && len)
        memcpy(mine, *buf, len);
    rc = len ? comm_allgather_bytes(p->world, mine, len, all, err) : 0;
    free(mine);
    if (rc == 0 && p->rank != 0) {
        *buf = all; /* rank 0's bytes come first */
        *n = len;
        return 0;
    }
    free(all);
    return rc;
}
