/*
 * render.h -- one shot, start to finish, on this process's rank: read the
 * resolved shot (job.json, lib/job_contract.h) and load the model, denoise
 * (flow-matching sampler + classifier-free guidance), decode with the VAE and
 * encode the video.
 *
 *     struct render_opts o;
 *     render_opts_init(&o);
 *     o.job = "jobs/m/s1/job.json";
 *     if (render_run(&o, &log, &err) < 0) ...   // err says what and where
 *
 * Without a job.json (o.manifest, o.shot_id) the shot is resolved in-process
 * by the same job_contract_resolve the controller uses, with no plan: the
 * ranks plan for the world they get.
 *
 * Progress goes to the log (one line per step with the step time, the ETA and
 * what the step computed) and, with a job directory, to
 * <job_dir>/progress.json (progress_file.h).
 */
#ifndef DF_RENDER_H
#define DF_RENDER_H

#include "err.h"
#include "log.h"

#include <signal.h>

struct render_opts {
    const char *job;         /* job.json written by the controller, or NULL: */
    const char *manifest;    /* YAML manifest or its normalized JSON */
    const char *shot_id;     /* NULL: the manifest must have exactly one shot */
    const char *configs_dir; /* NULL: paths_configs_dir() */
    const char *backend;     /* kern backend name; NULL: the job's ("cpu" for a manifest) */
    int threads;             /* CPU threads, 0 = all cores */
    const char *output;      /* NULL: the job's output path */
    const char *date;        /* {date} in templates (manifest only); NULL: today (UTC) */
    const char *latent_out;  /* NULL, or a .safetensors to write the final latent to */
    int no_video;            /* 1: stop after the denoise loop (no VAE, no encode) */
    const char *ckpt_dir;    /* NULL: no checkpoints; else resume from and write to it */
    int ckpt_every;          /* steps between checkpoints; 0: the shot's setting */
    int stop_after;          /* > 0: behave as if asked to stop after this many steps (tests) */
    const volatile sig_atomic_t *stop; /* set (by a signal handler) to checkpoint and stop */
    int layout[3];           /* {cfg, ulysses, ring} to impose, or zeros: the planner's */
    int usp_stage;           /* tests: stage attention transfers as on a GPU (usp_attn.h) */
};

/* render_run's result when it stopped on request after a durable checkpoint. */
#define RENDER_CHECKPOINTED 1

void render_opts_init(struct render_opts *o);

/* Render one shot.  With a checkpoint directory it first resumes from the
 * newest valid checkpoint of the shot (invalid ones are skipped, each with
 * its reason in the log), writes one every ckpt_every steps and, when *stop
 * becomes non-zero, one at the next step boundary before returning
 * RENDER_CHECKPOINTED.  On success (0) the output file exists under its final
 * name and its path is logged.  Returns 0, RENDER_CHECKPOINTED, or a negative
 * DF_E_* code. */
int render_run(const struct render_opts *o, struct df_log *log, struct df_err *err);

#endif
