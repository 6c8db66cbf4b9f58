/* cmd_vae_decode.c -- `ditfarm-worker vae-decode`: decode a latent with the
 * tiled VAE decode over every rank of the job, the way a render's last step
 * does; rank 0 writes the frames.  The multi-rank tests run it under mpirun.
 *
 *   ditfarm-worker vae-decode VAE_DIR LATENT.safetensors OUT.safetensors
 *       [--tiles TH,TW,SH,SW] [--backend cpu|cuda] [--threads N]
 *       [--ref REF.safetensors] [--tol X]
 *
 * LATENT holds "z" [1, z_dim, T, h, w] or [z_dim, T, h, w], already
 * de-normalized (as the parity fixtures store it).  Tile geometry in latent
 * pixels comes from --tiles, else from a "tiles" tensor in LATENT (the
 * fixtures carry one), else diffusers' defaults (32,32,24,24).  OUT gets
 * "sample" [1, 3, frames, H, W] float32.  --ref compares OUT's sample with
 * REF's "sample" (relative L2 <= tol, default 1e-4).  Rank 0 prints
 *   vae-decode ok size=N tiles=R×C frames=F HxW
 * and with --ref one "rel L2 ... max abs ..." line. */
#include "cmd_boot.h"
#include "comm.h"
#include "kern.h"
#include "log.h"
#include "safetensors.h"
#include "vae.h"
#include "vae_tiles.h"
#include "worker_exit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vd_args {
    const char *vae_dir, *latent, *out, *ref, *backend;
    int threads;
    int have_tiles;
    struct vae_tile_opts tiles;
    double tol;
};

static int usage(void)
{
    fprintf(stderr, "usage: ditfarm-worker vae-decode VAE_DIR LATENT.safetensors OUT.safetensors "
                    "[--tiles TH,TW,SH,SW] [--backend cpu|cuda] [--threads N] "
                    "[--ref REF.safetensors] [--tol X]\n");
    return -1;
}

static int parse_args(int argc, char **argv, struct vd_args *a)
{
    *a = (struct vd_args){.backend = "cpu", .tol = 1e-4};
    if (argc < 4)
        return usage();
    a->vae_dir = argv[1], a->latent = argv[2], a->out = argv[3];
    for (int i = 4; i < argc; i += 2) { /* every option takes one value */
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        struct vae_tile_opts *t = &a->tiles;
        if (v == NULL)
            return usage();
        if (strcmp(o, "--tiles") == 0) {
            char end = 0;
            if (sscanf(v, "%d,%d,%d,%d%c", &t->tile_h, &t->tile_w, &t->stride_h, &t->stride_w,
                       &end) != 4)
                return usage();
            a->have_tiles = 1;
        } else if (strcmp(o, "--backend") == 0) {
            a->backend = v;
        } else if (strcmp(o, "--threads") == 0) {
            a->threads = atoi(v);
        } else if (strcmp(o, "--ref") == 0) {
            a->ref = v;
        } else if (strcmp(o, "--tol") == 0) {
            a->tol = atof(v);
        } else {
            return usage();
        }
    }
    return 0;
}

/* Tensor `name` of `path` as fp32 (caller frees), its shape in *t. */
static int load_tensor(const char *path, const char *name, float **out,
                       struct safetensors_tensor *t, struct df_err *err)
{
    struct safetensors *st = NULL;
    DF_TRY(safetensors_open(path, &st, err));
    const struct safetensors_tensor *f = safetensors_find(st, name);
    int rc = 0;
    if (!f)
        rc = df_err_set(err, DF_E_NOTFOUND, "%s: no tensor '%s'", path, name);
    else if (!(*out = malloc((size_t)f->numel * sizeof(float))))
        rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory for '%s'", path, name);
    else if ((rc = safetensors_to_f32(f, *out, (size_t)f->numel, err)) == 0)
        *t = *f; /* shape only: name/path/data die with st */
    safetensors_close(st);
    return rc;
}

struct video {
    float *d; /* [3, frames, H, W] */
    int frames, H, W;
};

static int on_frame(void *user, int index, const float *rgb, int height, int width,
                    struct df_err *err)
{
    struct video *v = user;
    DF_FAIL_IF(index >= v->frames || height != v->H || width != v->W, err, DF_E_INTERNAL,
               "vae-decode: unexpected frame %d (%dx%d)", index, height, width);
    size_t hw = (size_t)height * width;
    for (int c = 0; c < 3; c++)
        memcpy(v->d + ((size_t)c * v->frames + index) * hw, rgb + c * hw, hw * sizeof(float));
    return 0;
}

static int compare(const struct vd_args *a, const struct video *v, struct df_err *err)
{
    float *ref = NULL;
    struct safetensors_tensor t;
    DF_TRY(load_tensor(a->ref, "sample", &ref, &t, err));
    size_t n = (size_t)3 * v->frames * v->H * v->W;
    int rc = 0;
    if ((size_t)t.numel != n) {
        rc = df_err_set(err, DF_E_INVAL, "%s: 'sample' has %lld values, the decode %zu", a->ref,
                        (long long)t.numel, n);
    } else {
        double num = 0, den = 0, worst = 0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)v->d[i] - ref[i];
            num += d * d;
            den += (double)ref[i] * ref[i];
            worst = fabs(d) > worst ? fabs(d) : worst;
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        printf("rel L2 %.3g max abs %.3g (tolerance %.3g)\n", rel, worst, a->tol);
        if (!(rel <= a->tol))
            rc = df_err_set(err, DF_E_INVAL, "vae-decode: rel L2 %.3g vs %s exceeds %.3g", rel,
                            a->ref, a->tol);
    }
    free(ref);
    return rc;
}

static int run(const struct vd_args *a, struct boot *b, struct df_err *err)
{
    struct comm_opts co = comm_opts_default();
    comm_t world = NULL;
    kern_backend_t be = NULL;
    struct vae *vae = NULL;
    float *z = NULL, *tiles = NULL;
    struct video v = {0};
    struct safetensors_tensor zt, tt;
    int rc = comm_opts_from_env(&co, err);
    if (rc == 0)
        rc =
            comm_open(b->info.size > 1 ? COMM_BACKEND_MPI : COMM_BACKEND_SELF, b, &co, &world, err);
    if (rc == 0)
        rc = kern_backend_create(a->backend, a->threads, &be, err);
    if (rc == 0)
        rc = vae_load(be, a->vae_dir, &vae, err);
    if (rc == 0)
        rc = load_tensor(a->latent, "z", &z, &zt, err);
    if (rc < 0)
        goto out;
    const int off = zt.ndim == 5 ? 1 : 0;
    if (zt.ndim != 4 + off || (off && zt.shape[0] != 1)) {
        rc = df_err_set(err, DF_E_INVAL, "%s: 'z' must be [1, z_dim, T, h, w] or [z_dim, T, h, w]",
                        a->latent);
        goto out;
    }
    const int T = (int)zt.shape[off + 1], h = (int)zt.shape[off + 2], w = (int)zt.shape[off + 3];
    struct vae_tile_opts to = vae_tile_opts_default();
    if (a->have_tiles) {
        to = a->tiles;
    } else if (load_tensor(a->latent, "tiles", &tiles, &tt, NULL) == 0 && tt.numel == 4) {
        to = (struct vae_tile_opts){(int)tiles[0], (int)tiles[1], (int)tiles[2], (int)tiles[3]};
    }
    vae_output_size(vae, T, h, w, &v.frames, &v.H, &v.W);
    if (comm_rank(world) == 0 &&
        !(v.d = malloc((size_t)3 * v.frames * v.H * v.W * sizeof(float)))) {
        rc = df_err_set(err, DF_E_NOMEM, "vae-decode: out of memory for the video");
        goto out;
    }
    if ((rc = vae_decode_tiled(vae, world, z, T, h, w, &to, on_frame, &v, err)) < 0 ||
        comm_rank(world) != 0)
        goto out;
    struct vae_tile_plan plan;
    vae_tiles_plan(&to, h, w, &plan, NULL);
    struct safetensors_entry e = {
        "sample", SAFETENSORS_DTYPE_F32, 5, {1, 3, v.frames, v.H, v.W}, v.d};
    if ((rc = safetensors_write(a->out, &e, 1, NULL, 0, err)) < 0)
        goto out;
    printf("vae-decode ok size=%d tiles=%dx%d frames=%d %dx%d\n", comm_size(world), plan.n_rows,
           plan.n_cols, v.frames, v.H, v.W);
    if (a->ref)
        rc = compare(a, &v, err);
    fflush(stdout);
out:
    free(v.d);
    free(z);
    free(tiles);
    vae_free(vae);
    kern_backend_free(be);
    comm_close(world);
    return rc;
}

int cmd_vae_decode(int argc, char **argv, struct df_log *log)
{
    struct vd_args a;
    if (parse_args(argc, argv, &a) < 0)
        return WORKER_EXIT_USAGE;
    struct df_err err = {0};
    struct boot b;
    if (cmd_boot(&b, log) < 0)
        return WORKER_EXIT_FAILED;
    int rc = run(&a, &b, &err);
    if (rc < 0)
        DF_ERROR(log, "vae-decode: %s", err.msg);
    boot_fini(&b);
    if (rc == DF_E_TIMEOUT || rc == DF_E_COMM)
        return WORKER_EXIT_RETRY;
    return rc < 0 ? WORKER_EXIT_FAILED : WORKER_EXIT_DONE;
}
