/*
 * daemon.h -- ditfarmd's context and its loop (loop.c), plus the control
 * requests it serves (serve.c).
 *
 * One thread.  daemon_run() waits on the control socket for at most tick-ms,
 * answers a client if one came, then calls daemon_tick(), which does every
 * periodic job in turn (see the list above daemon_tick in loop.c).  SIGTERM
 * and SIGINT set *stop: the current tick finishes, the store is closed.
 *
 *     struct daemon d;
 *     if (daemon_open(&d, &cfg, &log, &err) < 0) ...
 *     daemon_run(&d, &stop_flag);
 *     daemon_close(&d);
 */
#ifndef DF_DAEMON_H
#define DF_DAEMON_H

#include "config.h"
#include "conns.h"
#include "job.h"
#include "log.h"
#include "notify.h"
#include "proc.h"
#include "store.h"

#include <signal.h>
#include <stdint.h>

#define DAEMON_MAGIC 0xd1f4a4dU

struct http_server;

/* The every_ms() timers of daemon_tick. */
enum daemon_timer {
    DAEMON_TIMER_SQUEUE,
    DAEMON_TIMER_SUBMIT,
    DAEMON_TIMER_SINFO,
    DAEMON_TIMER_WEBHOOK,
    DAEMON_TIMER_GC,
    DAEMON_TIMER_COUNT
};

struct daemon {
    unsigned magic;                      /* DAEMON_MAGIC while open */
    struct config cfg;                   /* in effect (state_dir, jobs_dir resolved) */
    struct df_log *log;                  /* not owned */
    store_t *st;                         /* <state_dir>/ditfarmd.db */
    int listen_fd;                       /* control socket, -1 when closed */
    char sock_path[PATH_MAX];            /* <state_dir>/ditfarmd.sock */
    int64_t last_ms[DAEMON_TIMER_COUNT]; /* when each every_ms block last ran */
    struct proc q_jobs;                  /* squeue in flight (proc_active) */
    struct proc q_nodes;                 /* sinfo in flight */
    struct proc q_sbatch;                /* sbatch in flight, for shot sbatch_row */
    struct proc q_recon;                 /* squeue of job tokens, to reconcile submitting shots */
    int reconcile;                       /* submitting shots wait for a reconcile: no sbatch */
    int64_t sbatch_row;                  /* the shot q_sbatch submits */
    struct {
        int64_t row;     /* shots in Slurm when squeue started: */
        char job_id[32]; /* only these are judged by its answer */
    } * polled;
    size_t n_polled;
    int slurm_unreachable; /* the last squeue failed (log once per outage) */
    int webhook_failing;   /* the last flush had failures */
    struct notify_key key; /* webhook signing key (webhook-secret-file) */
    struct conns conns;    /* control-socket clients in progress */
    struct intake *intake; /* manifests whose job directories are still being written */
    int64_t sbatch_failures;   /* sbatch calls that failed since start (/metrics) */
    struct http_server *http;  /* the HTTP side (daemon/http/http.h), NULL when off */
};

/* Create the state and jobs directories, open the store, listen on the
 * socket.  Returns 0 or the first error (nothing is left open). */
int daemon_open(struct daemon *d, const struct config *c, struct df_log *log, struct df_err *err);
/* Close socket (removing its file) and store; safe on a half-open daemon. */
void daemon_close(struct daemon *d);
/* Serve and tick until *stop is set.  Returns 0. */
int daemon_run(struct daemon *d, volatile sig_atomic_t *stop);
/* One pass over the periodic jobs (each runs when its interval is due). */
void daemon_tick(struct daemon *d, int64_t now_ms);

/* Save shot s (moved from `from` by a job_on_* call returning ev), log the
 * transition and queue its webhooks.  Returns 0 or the store's error. */
int daemon_apply(struct daemon *d, struct job_shot *s, enum job_state from, enum job_event ev,
                 struct df_err *err);

/* Answer one control request (JSON text).  Returns the reply, malloc'd
 * (caller frees); never NULL except when out of memory. */
char *serve_request(struct daemon *d, const char *request);

/* A job directory about to serve a new submission of shot_id: the done
 * marker and progress file of an earlier run are removed (checkpoints stay:
 * the worker checks they belong to the very shot). */
void serve_reset_job_dir(const char *dir, const char *shot_id);

#endif /* DF_DAEMON_H */
