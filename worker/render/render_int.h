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
#include "render_latent.h"
#include "render_model.h"
#include "render_par.h"
#include "sampler.h"
#include "stepcache.h"
#include "usp_attn.h"
#include "family.h"
#include "cogvideox_vae.h"
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

/* The checkpointing of one shot (render_ckpt.c), set up by render_ckpt_init
 * and released by render_ckpt_fini: identity, the interval rule, the
 * checkpoint in flight. */
struct render_ckpt_state {
    uint64_t shot_hash;           /* checkpoint identity (with the weights' fingerprint) */
    int every;                    /* steps between checkpoints; 0: none by step count */
    double every_s;               /* seconds between checkpoints; 0: none by time */
    double t_last;                /* df_clock_s() of the last one (or of the start) */
    int last_step;                /* steps in the newest durable checkpoint, 0 none */
    float *res_all;               /* [tokens, dim] gathered residual (step-cache sections) */
    struct render_commit commit;  /* rank 0's checkpoint being written */
};

/* The step cache of the shot (render_cache.c). */
struct render_cache {
    struct stepcache_mask mask; /* the plan, the same on every rank */
    stepcache_t *sc;            /* this rank's residuals and counters */
};

struct render {
    const struct render_opts *o;
    struct df_log *log;
    struct job_contract job;      /* the resolved shot (job.json) */
    const struct shot *shot;      /* &job.shot */
    struct render_model *md;      /* backend, DiT, forward shape, VAE, attention hook
                                     (render_model.h), made at set-up before step 1 */
    struct render_par par;        /* ranks, layout, groups */
    int par_open;
    int do_cond, do_uncond;       /* the branches this rank computes */
    int text_len, text_dim;
    int text_rows_whole;              /* family_info.text_rows_whole: the prompt style */
    float *text_cond, *text_uncond; /* [text_len, text_dim] */
    int guided;                     /* classifier-free guidance on (two branches) */
    sampler_t smp;
    struct render_latent *lat;      /* this rank's latent (render_latent.h); its tokens are
                                       par.tok_begin/tok_count */
    double t_load, t_denoise, t_decode;
    time_t started;
    struct render_ckpt_state ck;      /* checkpointing (render_ckpt.c) */
    char progress_path[PATH_MAX + 16]; /* <job_dir>/progress.json, "" for none */
    int n_text_cond;                  /* real rows of text_cond */
    char text_source[160];            /* where text_cond came from (sidecar; render_text.c) */
    int text_standin;                 /* 1: stand-in rows derived from the text (demo model) */
    double t_text;                    /* seconds spent getting the text rows (encode or cache) */
    struct render_cache cache;        /* the step cache (render_cache.c) */
    struct preview_state *preview;    /* rank 0's previews (preview.c), lazily made */
};


/* 1 on the rank that writes files and logs progress. */
int render_is_root(const struct render *r);
/* The canonical [C, T, H, W] latent of token-major `rows` shards, gathered
 * from every rank: on rank 0 into canon; r->all_rows holds the gathered rows
 * on every rank.  Collective. */
int render_gather_canonical(struct render *r, const float *rows, float *canon,
                            struct df_err *err);

/* render_ckpt.c: set up the checkpointing (the interval from --ckpt-every
 * or the shot, the identity from the job), write a checkpoint after
 * `next_step` steps (collective; rank 0 writes), resume from the newest
 * valid one, the interval rule, and the release (joins a pending commit). */
void render_ckpt_init(struct render *r);
void render_ckpt_fini(struct render *r);
int render_ckpt_save(struct render *r, int next_step, struct df_err *err);
int render_ckpt_resume(struct render *r, struct df_err *err);
int render_ckpt_due(struct render *r, int done, struct df_err *err);
/* Wait for rank 0's checkpoint still being written, and let every rank learn
 * whether it became durable (collective).  Returns 0 or the commit's error. */
int render_ckpt_flush(struct render *r, struct df_err *err);

/* render_cache.c: plan the mask on rank 0, share it, make this rank's
 * residual buffers (collective); and the release. */
int render_cache_setup(struct render *r, struct df_err *err);
void render_cache_fini(struct render_cache *c);

/* render_video.c: decode (tiled over every rank), encode and write the
 * sidecar on rank 0; out_path gets the video's path.  Collective. */
int render_video_finish(struct render *r, char *out_path, size_t out_cap, struct df_err *err);
/* <ckpt_dir>/<shot>.done naming the output (rank 0). */
int render_video_done_marker(struct render *r, const char *out_path, struct df_err *err);

#endif
