/*
 * vae_tiles.h -- the VAE decode cut into overlapping spatial tiles, spread
 * over the ranks of a comm (diffusers AutoencoderKLWan.tiled_decode).
 *
 * A latent larger than one tile is cut into tiles of tile_h × tile_w latent
 * pixels every stride_h / stride_w pixels (the last ones clipped at the
 * edge).  Each tile is an independent causal decode (vae_decode's
 * per-frame feature cache), so a rank's decoder memory is bounded by one
 * tile whatever the frame size.  Tile t goes to rank t % size; the decoded
 * tiles travel to rank 0, which blends the overlaps exactly as diffusers
 * does (linear ramps, above then left, in raster order), crops each tile to
 * its stride, clamps to [-1, 1] and hands the frames to the callback.  A
 * latent that fits one tile is decoded whole on rank 0 (diffusers does not
 * tile it either), and the other ranks return at once.
 *
 *     struct vae_tile_opts to = vae_tile_opts_default();   // 32/24 latent px
 *     vae_denormalize(vae, latent, T, h, w);                // on every rank
 *     rc = vae_decode_tiled(vae, world, latent, T, h, w, &to, on_frame, user, &err);
 *
 * Memory: a rank other than 0 holds one decoded tile (all its frames) at a
 * time; rank 0 also holds the output video [frames, 3, H, W] and the tiles
 * still needed for blending (one tile row plus one round of tiles).  The
 * frames are handed out after every tile is in, since frame 0 needs them all.
 *
 * Failure: every rank takes part in every round even after its own decode
 * failed, then the ranks exchange their results, so all of them return the
 * first failing rank's error (prefixed "rank K:") instead of one waiting on
 * another until the comm timeout.  Errors of the callback (rank 0, after the
 * exchange) are rank 0's alone.
 */
#ifndef DF_VAE_TILES_H
#define DF_VAE_TILES_H

#include "comm.h"
#include "vae.h"

/* Tile geometry in latent pixels.  diffusers' defaults are in sample pixels
 * (tile_sample_min 256, tile_sample_stride 192) and divide by the spatial
 * compression (8 for Wan2.1) to these. */
struct vae_tile_opts {
    int tile_h, tile_w;     /* tile size (32) */
    int stride_h, stride_w; /* distance between tile origins (24); overlap = tile − stride */
};

/* 32 × 32 tiles every 24 latent pixels. */
struct vae_tile_opts vae_tile_opts_default(void);

/* One tile: its place in the grid and its latent window. */
struct vae_tile {
    int row, col; /* grid position */
    int y0, x0;   /* top-left latent pixel */
    int h, w;     /* latent pixels (clipped at the bottom/right edge) */
};

struct vae_tile_plan {
    int tiled;          /* 0: the latent fits one tile and is decoded whole */
    int n_rows, n_cols; /* grid (1 × 1 when not tiled) */
    int n_tiles;        /* n_rows · n_cols */
    int h, w;           /* the latent */
    struct vae_tile_opts opts;
};

/* Plan the tiles of an h × w latent.  Returns 0, or DF_E_INVAL (sizes < 1,
 * stride > tile: tiles would leave gaps). */
int vae_tiles_plan(const struct vae_tile_opts *o, int h, int w, struct vae_tile_plan *out,
                   struct df_err *err);

/* Tile `index` (raster order, 0 <= index < n_tiles) of a plan. */
struct vae_tile vae_tiles_get(const struct vae_tile_plan *p, int index);

/* The rank that decodes tile `index` among n_ranks: index % n_ranks. */
int vae_tiles_owner(int index, int n_ranks);

/* Decode latent [z_dim, T, h, w] (already de-normalized, the same on every
 * rank) in tiles over `comm` (NULL: this process alone; otherwise a self or
 * mpi comm, whose buffers are host memory; collective over it).  on_frame
 * is called on rank 0 only, once per output frame in order, with frames
 * equal to diffusers' tiled decode.  Returns 0, DF_E_INVAL (bad sizes or
 * options, ranks that disagree on them), DF_E_UNSUPPORTED (an nccl comm),
 * DF_E_NOMEM, the comm's DF_E_TIMEOUT / DF_E_COMM, or another rank's or the
 * callback's code. */
int vae_decode_tiled(struct vae *vae, comm_t comm, const float *latent, int T, int h, int w,
                     const struct vae_tile_opts *opts, vae_frame_fn on_frame, void *user,
                     struct df_err *err);

#endif /* DF_VAE_TILES_H */
