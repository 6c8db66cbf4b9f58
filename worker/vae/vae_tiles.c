/*
 * vae_tiles.c -- tiled VAE decode over the ranks of a comm.
 *
 * ref: diffusers AutoencoderKLWan.tiled_decode, blend_v, blend_h
 * (models/autoencoders/autoencoder_kl_wan.py).  Tiles start every stride
 * latent pixels (range(0, h, stride)) and span up to tile pixels; each is
 * decoded on its own from a cleared feature cache.  diffusers then walks the
 * tiles in raster order and, in place, blends the tile above into the first
 * rows and the tile to the left into the first columns (linear ramps over
 * the overlap), then keeps the stride × stride corner of each tile.  The
 * neighbours it blends from are the already blended ones, so rank 0 does
 * the same walk in the same order on the same raw (unclamped) tiles.
 *
 * Protocol, in rounds of `size` tiles (tile t decoded by rank t % size):
 *   1. rank 0 posts a receive for each other rank's tile of the round;
 *   2. every rank decodes its tile (or, after a local failure, skips the
 *      work but still sends its buffer, so nobody waits for it);
 *   3. the other ranks send theirs to rank 0, which blends the round's
 *      tiles in order into the output video.
 * Then the ranks all-gather their results (code + message), so every rank
 * returns the same outcome, and rank 0 clamps and hands out the frames.
 *
 * Rank 0 keeps its tiles in n_cols + size slots, tile t in slot t % n_slots:
 * blending tile t reads tiles t − 1 and t − n_cols, so the tiles alive while
 * a round is received and blended span [first − n_cols, first + size).
 */
#include "vae_tiles.h"

#include "vae_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct vae_tile_opts vae_tile_opts_default(void)
{
    return (struct vae_tile_opts){.tile_h = 32, .tile_w = 32, .stride_h = 24, .stride_w = 24};
}

int vae_tiles_plan(const struct vae_tile_opts *o, int h, int w, struct vae_tile_plan *out,
                   struct df_err *err)
{
    DF_FAIL_IF(h < 1 || w < 1, err, DF_E_INVAL, "VAE tiles: bad latent size %dx%d", h, w);
    DF_FAIL_IF(o->tile_h < 1 || o->tile_w < 1 || o->stride_h < 1 || o->stride_w < 1, err,
               DF_E_INVAL, "VAE tiles: tile %dx%d and stride %dx%d must be positive", o->tile_h,
               o->tile_w, o->stride_h, o->stride_w);
    DF_FAIL_IF(o->stride_h > o->tile_h || o->stride_w > o->tile_w, err, DF_E_INVAL,
               "VAE tiles: stride %dx%d larger than the tile %dx%d would leave gaps", o->stride_h,
               o->stride_w, o->tile_h, o->tile_w);
    memset(out, 0, sizeof(*out));
    out->h = h, out->w = w, out->opts = *o;
    /* diffusers tiles only a latent larger than one tile. */
    out->tiled = h > o->tile_h || w > o->tile_w;
    out->n_rows = out->tiled ? (h + o->stride_h - 1) / o->stride_h : 1;
    out->n_cols = out->tiled ? (w + o->stride_w - 1) / o->stride_w : 1;
    out->n_tiles = out->n_rows * out->n_cols;
    return 0;
}

struct vae_tile vae_tiles_get(const struct vae_tile_plan *p, int index)
{
    struct vae_tile t = {.row = index / p->n_cols, .col = index % p->n_cols};
    if (!p->tiled) {
        t.h = p->h, t.w = p->w;
        return t;
    }
    t.y0 = t.row * p->opts.stride_h;
    t.x0 = t.col * p->opts.stride_w;
    t.h = p->h - t.y0 < p->opts.tile_h ? p->h - t.y0 : p->opts.tile_h;
    t.w = p->w - t.x0 < p->opts.tile_w ? p->w - t.x0 : p->opts.tile_w;
    return t;
}

int vae_tiles_owner(int index, int n_ranks)
{
    return index % n_ranks;
}

/* ---- state of one tiled decode --------------------------------------------- */

struct tiles {
    struct vae *vae;
    comm_t comm; /* NULL: alone */
    int rank, size;
    struct vae_tile_plan plan;
    const float *latent; /* [Z, T, h, w] */
    int T, frames, s;    /* latent frames, output frames, spatial up-scale */
    int H, W;            /* output frame size */
    float **slots;       /* decoded tiles [frames][3][th·s][tw·s] */
    int n_slots;
    float *video;       /* rank 0: [frames][3][H][W] */
    float *tile_latent; /* [Z, T, tile_h, tile_w] */
    int failed;         /* a decode here failed: skip the work, keep the protocol */
};

static size_t tile_floats(const struct tiles *c, const struct vae_tile *t)
{
    return (size_t)c->frames * 3 * ((size_t)t->h * c->s) * ((size_t)t->w * c->s);
}

static float *slot_of(const struct tiles *c, int index)
{
    return c->slots[index % c->n_slots];
}

static void tiles_free(struct tiles *c)
{
    for (int i = 0; c->slots && i < c->n_slots; i++)
        free(c->slots[i]);
    free(c->slots);
    free(c->video);
    free(c->tile_latent);
}

static int tiles_alloc(struct tiles *c, struct df_err *err)
{
    const struct vae_tile_opts *o = &c->plan.opts;
    int th = c->plan.h < o->tile_h ? c->plan.h : o->tile_h;
    int tw = c->plan.w < o->tile_w ? c->plan.w : o->tile_w;
    struct vae_tile biggest = {.h = th, .w = tw};
    c->n_slots = c->rank == 0 ? c->plan.n_cols + c->size : 1;
    if (c->n_slots > c->plan.n_tiles)
        c->n_slots = c->plan.n_tiles;
    c->slots = calloc((size_t)c->n_slots, sizeof(*c->slots));
    c->tile_latent = malloc((size_t)c->vae->info.z_dim * c->T * th * tw * sizeof(float));
    int ok = c->slots && c->tile_latent;
    for (int i = 0; ok && i < c->n_slots; i++)
        ok = (c->slots[i] = malloc(tile_floats(c, &biggest) * sizeof(float))) != NULL;
    if (ok && c->rank == 0)
        ok = (c->video = malloc((size_t)c->frames * 3 * c->H * c->W * sizeof(float))) != NULL;
    if (!ok)
        return df_err_set(err, DF_E_NOMEM,
                          "VAE tiles: out of memory for %d tiles of %dx%d (%d frames)", c->n_slots,
                          th * c->s, tw * c->s, c->frames);
    return 0;
}

/* ---- decoding one tile ------------------------------------------------------ */

struct tile_sink {
    float *buf; /* [frames][3][th][tw] */
    int frames, th, tw;
};

static int sink_frame(void *user, int index, const float *rgb, int height, int width,
                      struct df_err *err)
{
    struct tile_sink *k = user;
    DF_FAIL_IF(index >= k->frames || height != k->th || width != k->tw, err, DF_E_INTERNAL,
               "VAE tiles: unexpected frame %d (%dx%d) of a %d-frame %dx%d tile", index, height,
               width, k->frames, k->th, k->tw);
    size_t n = (size_t)3 * height * width;
    memcpy(k->buf + (size_t)index * n, rgb, n * sizeof(float));
    return 0;
}

static int decode_tile(struct tiles *c, int index, float *buf, struct df_err *err)
{
    const struct vae_tile t = vae_tiles_get(&c->plan, index);
    const int Z = c->vae->info.z_dim, h = c->plan.h, w = c->plan.w;
    for (int z = 0; z < Z; z++) /* the latent window, [Z, T, t.h, t.w] */
        for (int f = 0; f < c->T; f++)
            for (int y = 0; y < t.h; y++)
                memcpy(c->tile_latent + (((size_t)z * c->T + f) * t.h + y) * t.w,
                       c->latent + (((size_t)z * c->T + f) * h + t.y0 + y) * w + t.x0,
                       (size_t)t.w * sizeof(float));
    struct tile_sink k = {.buf = buf, .frames = c->frames, .th = t.h * c->s, .tw = t.w * c->s};
    int rc = vae_decode_raw(c->vae, c->tile_latent, c->T, t.h, t.w, 0, sink_frame, &k, err);
    if (rc < 0)
        df_err_prefix(err, "VAE tile %d (row %d, col %d)", index, t.row, t.col);
    return rc;
}

/* ---- blending on rank 0 ----------------------------------------------------- */

/* diffusers blend_v: the first e rows of b ramp from a's last e rows.
 * Weights are rounded to float as torch multiplies a float32 tensor by a
 * Python float. */
static void blend_v(const float *a, int ah, float *b, int bh, int width, int extent)
{
    int e = extent < ah ? extent : ah;
    e = e < bh ? e : bh;
    for (int y = 0; y < e; y++) {
        const float wa = (float)(1.0 - (double)y / e), wb = (float)((double)y / e);
        const float *ar = a + (size_t)(ah - e + y) * width;
        float *br = b + (size_t)y * width;
        for (int x = 0; x < width; x++)
            br[x] = ar[x] * wa + br[x] * wb;
    }
}

/* diffusers blend_h: the first e columns of b ramp from a's last e columns. */
static void blend_h(const float *a, int aw, float *b, int bw, int height, int extent)
{
    int e = extent < aw ? extent : aw;
    e = e < bw ? e : bw;
    for (int x = 0; x < e; x++) {
        const float wa = (float)(1.0 - (double)x / e), wb = (float)((double)x / e);
        for (int y = 0; y < height; y++) {
            float *bp = b + (size_t)y * bw + x;
            *bp = a[(size_t)y * aw + aw - e + x] * wa + *bp * wb;
        }
    }
}

/* Blend tile `index` with its (already blended) neighbours above and to the
 * left, then copy its stride × stride corner into the video. */
static void place_tile(struct tiles *c, int index)
{
    const struct vae_tile t = vae_tiles_get(&c->plan, index);
    const int s = c->s, bh = t.h * s, bw = t.w * s;
    const int ext_v = (c->plan.opts.tile_h - c->plan.opts.stride_h) * s;
    const int ext_h = (c->plan.opts.tile_w - c->plan.opts.stride_w) * s;
    float *b = slot_of(c, index);
    const size_t bplane = (size_t)bh * bw;
    if (t.row > 0) {
        const struct vae_tile up = vae_tiles_get(&c->plan, index - c->plan.n_cols);
        const float *a = slot_of(c, index - c->plan.n_cols);
        const size_t aplane = (size_t)up.h * s * bw; /* same column: same width */
        for (int p = 0; p < c->frames * 3; p++)
            blend_v(a + p * aplane, up.h * s, b + p * bplane, bh, bw, ext_v);
    }
    if (t.col > 0) {
        const struct vae_tile left = vae_tiles_get(&c->plan, index - 1);
        const float *a = slot_of(c, index - 1);
        const size_t aplane = (size_t)bh * left.w * s; /* same row: same height */
        for (int p = 0; p < c->frames * 3; p++)
            blend_h(a + p * aplane, left.w * s, b + p * bplane, bw, bh, ext_h);
    }
    const int oy = t.y0 * s, ox = t.x0 * s;
    int ch = c->plan.opts.stride_h * s < bh ? c->plan.opts.stride_h * s : bh;
    int cw = c->plan.opts.stride_w * s < bw ? c->plan.opts.stride_w * s : bw;
    ch = oy + ch > c->H ? c->H - oy : ch;
    cw = ox + cw > c->W ? c->W - ox : cw;
    const size_t vplane = (size_t)c->H * c->W;
    for (int p = 0; p < c->frames * 3; p++)
        for (int y = 0; y < ch; y++)
            memcpy(c->video + p * vplane + (size_t)(oy + y) * c->W + ox,
                   b + p * bplane + (size_t)y * bw, (size_t)cw * sizeof(float));
}

/* ---- the rounds ------------------------------------------------------------- */

/* One round: tiles first .. first + size − 1.  Local decode failures are
 * recorded in *local (first one wins) and do not stop the protocol; comm
 * failures are returned. */
static int run_round(struct tiles *c, int first, int *local, struct df_err *local_err,
                     struct df_err *err)
{
    const int n = c->plan.n_tiles, mine = first + c->rank;
    comm_req_t *rq = calloc((size_t)c->size, sizeof(*rq)); /* rank 0's receives */
    DF_FAIL_IF(!rq, err, DF_E_NOMEM, "VAE tiles: out of memory");
    int rc = 0;
    for (int q = 1; c->rank == 0 && q < c->size && first + q < n && rc == 0; q++) {
        const struct vae_tile t = vae_tiles_get(&c->plan, first + q);
        float *dst = slot_of(c, first + q);
        rc = comm_sendrecv_start(c->comm, dst, 0, q, dst, tile_floats(c, &t), q, &rq[q - 1], err);
    }
    float *buf = c->rank == 0 ? (mine < n ? slot_of(c, mine) : NULL) : c->slots[0];
    if (rc == 0 && mine < n && !c->failed) {
        int drc = decode_tile(c, mine, buf, local_err);
        if (drc < 0) {
            c->failed = 1;
            *local = drc;
        }
    }
    if (rc == 0 && c->rank != 0 && mine < n) {
        const struct vae_tile t = vae_tiles_get(&c->plan, mine);
        comm_req_t sq = NULL;
        rc = comm_sendrecv_start(c->comm, buf, tile_floats(c, &t), 0, buf, 0, 0, &sq, err);
        if (rc == 0)
            rc = comm_wait(sq, err);
    }
    for (int q = 1; c->rank == 0 && q < c->size; q++) /* wait even after an error: frees them */
        if (rq[q - 1]) {
            int wrc = comm_wait(rq[q - 1], rc == 0 ? err : NULL);
            rc = rc == 0 ? wrc : rc;
        }
    for (int i = first; rc == 0 && c->rank == 0 && !c->failed && i < first + c->size && i < n; i++)
        place_tile(c, i);
    free(rq);
    return rc;
}

/* Every rank learns every rank's result; returns the first failure (as the
 * failing rank's code, its message prefixed "rank K:") or 0. */
static int agree(struct tiles *c, int local, const struct df_err *local_err, struct df_err *err)
{
    struct result {
        int32_t rc;
        char msg[DF_ERR_MSG_CAP];
    } mine = {.rc = local}, *all = NULL;
    if (local < 0)
        memcpy(mine.msg, local_err->msg, sizeof(mine.msg));
    if (c->comm == NULL || c->size == 1)
        return local < 0 ? df_err_set(err, local, "%s", local_err->msg) : 0;
    all = calloc((size_t)c->size, sizeof(*all));
    DF_FAIL_IF(!all, err, DF_E_NOMEM, "VAE tiles: out of memory");
    int rc = comm_allgather_bytes(c->comm, &mine, sizeof(mine), all, err);
    for (int r = 0; rc == 0 && r < c->size; r++)
        if (all[r].rc < 0) {
            all[r].msg[DF_ERR_MSG_CAP - 1] = '\0';
            rc = df_err_set(err, all[r].rc, "rank %d: %s", r, all[r].msg);
        }
    free(all);
    return rc;
}

static int emit(struct tiles *c, vae_frame_fn on_frame, void *user, struct df_err *err)
{
    const size_t n = (size_t)3 * c->H * c->W;
    for (int f = 0; f < c->frames; f++) {
        float *frame = c->video + (size_t)f * n;
        for (size_t i = 0; i < n; i++)
            frame[i] = frame[i] < -1.0f ? -1.0f : frame[i] > 1.0f ? 1.0f : frame[i];
        DF_TRY(on_frame(user, f, frame, c->H, c->W, err));
    }
    return 0;
}

int vae_decode_tiled(struct vae *vae, comm_t comm, const float *latent, int T, int h, int w,
                     const struct vae_tile_opts *opts, vae_frame_fn on_frame, void *user,
                     struct df_err *err)
{
    DF_FAIL_IF(T < 1 || h < 1 || w < 1, err, DF_E_INVAL, "VAE tiles: bad latent size %dx%dx%d", T,
               h, w);
    DF_FAIL_IF(comm && comm_backend_of(comm) == COMM_BACKEND_NCCL, err, DF_E_UNSUPPORTED,
               "VAE tiles: the tiles travel in host memory; use a self or mpi comm, not nccl");
    struct tiles c = {.vae = vae, .comm = comm, .latent = latent, .T = T, .s = vae->info.stride_s};
    c.rank = comm ? comm_rank(comm) : 0;
    c.size = comm ? comm_size(comm) : 1;
    DF_TRY(vae_tiles_plan(opts, h, w, &c.plan, err));
    vae_output_size(vae, T, h, w, &c.frames, &c.H, &c.W);
    if (comm && c.size > 1) {
        int32_t same[8] = {
            T, h, w, opts->tile_h, opts->tile_w, opts->stride_h, opts->stride_w, vae->info.z_dim};
        int rc = comm_check_same(comm, same, sizeof(same), err);
        if (rc < 0) {
            df_err_prefix(err, "VAE tiles: latent size or tile options");
            return rc;
        }
    }
    if (!c.plan.tiled) /* one tile: a plain decode on rank 0 */
        return c.rank == 0 ? vae_decode(vae, latent, T, h, w, on_frame, user, err) : 0;

    /* Buffers first, and agreed on: the rounds need every rank's. */
    struct df_err local_err = {0};
    int local = tiles_alloc(&c, &local_err);
    int rc = agree(&c, local, &local_err, err);
    for (int first = 0; rc == 0 && first < c.plan.n_tiles; first += c.size)
        rc = run_round(&c, first, &local, &local_err, err);
    if (rc == 0)
        rc = agree(&c, local, &local_err, err);
    if (rc == 0 && c.rank == 0)
        rc = emit(&c, on_frame, user, err);
    tiles_free(&c);
    return rc;
}
