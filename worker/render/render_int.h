/*
 * render_int.h -- the state of one shot's render, shared by render.c (set-up
 * and the denoise loop), render_ckpt.c (checkpoints) and render_video.c
 * (decode, encode, sidecar).  Not for other modules.
 */
#ifndef DF_RENDER_INT_H
#define DF_RENDER_INT_H

#include "ckpt.h"
#include "clock.h"
#include "kern.h"
#include "latent_shard.h"
#include "job_contract.h"
#include "manifest.h"
#include "render.h"
#include "render_par.h"
#include "sampler.h"
#include "stepcache.h"
#include "usp_attn.h"
#include "family.h"
#include "vae.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* A checkpoint rank 0 has encoded and is making durable on a helper thread
 * (write, fsync, rename, fsync dir, prune) while the ranks compute on. */
struct render_commit {
    pthread_t thread;
    int running;                  /* 1 between the thread's start and its join */
    ckpt_writer_t *w;             /* owned until joined */
    const char *dir;
    int step;
    int rc;                       /* the commit's result, valid after the join */
    struct ckpt_commit_info info;
    struct df_err err;
};

struct render {
    const struct render_opts *o;
    struct df_log *log;
    struct job_contract job;      /* the resolved shot (job.json) */
    const struct shot *shot;      /* &job.shot */
    char model_dir[PATH_MAX];
    kern_backend_t be;
    family_model_t *model;        /* the DiT, through its family's op table (family.h) */
    struct family_shape shape;    /* this rank's forward: the shot's latent, its tokens */
    struct vae *vae;              /* loaded at set-up: a broken vae/ fails before step 1 */
    struct latent_dims dims;
    struct render_par par;        /* ranks, layout, groups */
    int par_open;
    struct usp_attn *usp;         /* the attention hook when the sequence is split */
    int64_t tok_begin, tok_count; /* this rank's tokens */
    size_t shard_n;               /* tok_count · row floats */
    int do_cond, do_uncond;       /* the branches this rank computes */
    size_t latent_n;              /* C·T·H·W */
    int text_len, text_dim;
    float *text_cond, *text_uncond; /* [text_len, text_dim] */
    int guided;                     /* classifier-free guidance on (two branches) */
    sampler_t smp;
    float *shard;                   /* this rank's latent rows */
    float *stage;                   /* canonical staging latent [C, T, H, W] */
    float *out_full;                /* canonical model output */
    float *vel_cond, *vel_uncond, *vel; /* shard-sized */
    float *all_rows;                /* token-major rows of every token (gathers) */
    double t_load, t_denoise, t_decode;
    time_t started;
    uint64_t shot_hash, weights_hash; /* checkpoint identity */
    int ckpt_every;                   /* 0: none by step count */
    double ckpt_every_s;              /* 0: none by time */
    double t_last_ckpt;
    char progress_path[PATH_MAX + 16]; /* <job_dir>/progress.json, "" for none */
    int last_ckpt_step;               /* steps in the newest durable checkpoint, 0 none */
    int n_text_cond;                  /* real rows of text_cond */
    char text_source[160];            /* where text_cond came from (sidecar; render_text.c) */
    int text_standin;                 /* 1: stand-in rows derived from the text (demo model) */
    double t_text;                    /* seconds spent getting the text rows (encode or cache) */
    struct stepcache_mask mask;       /* the step-cache plan, the same on every rank */
    stepcache_t *sc;                  /* this rank's residuals and counters */
    float *res_all;                   /* [tokens, dim] gathered residual (checkpoints) */
    struct render_commit commit;      /* rank 0's checkpoint being written */
    struct preview_state *preview;    /* rank 0's previews (preview.c), lazily made */
};


/* 1 on the rank that writes files and logs progress. */
int render_is_root(const struct render *r);
/* The canonical [C, T, H, W] latent of token-major `rows` shards, gathered
 * from every rank: on rank 0 into canon; r->all_rows holds the gathered rows
 * on every rank.  Collective. */
int render_gather_canonical(struct render *r, const float *rows, float *canon,
                            struct df_err *err);

/* render_ckpt.c: write a checkpoint after `next_step` steps (collective;
 * rank 0 writes), resume from the newest valid one, and the interval rule. */
int render_ckpt_save(struct render *r, int next_step, struct df_err *err);
int render_ckpt_resume(struct render *r, struct df_err *err);
int render_ckpt_due(struct render *r, int done, struct df_err *err);
/* Wait for rank 0's checkpoint still being written, and let every rank learn
 * whether it became durable (collective).  Returns 0 or the commit's error. */
int render_ckpt_flush(struct render *r, struct df_err *err);
/* Join a pending commit without reporting (error paths, clean-up). */
void render_ckpt_abandon(struct render *r);

/* render_video.c: decode (tiled over every rank), encode and write the
 * sidecar on rank 0; out_path gets the video's path.  Collective. */
int render_video_finish(struct render *r, char *out_path, size_t out_cap, struct df_err *err);
/* <ckpt_dir>/<shot>.done naming the output (rank 0). */
int render_video_done_marker(struct render *r, const char *out_path, struct df_err *err);

#endif
