/*
 * config.h -- ditfarmd's configuration: one table row per directive (key,
 * type, bounds, default, field, help) drives the defaults, the parsing of
 * configs/ditfarmd.conf ("key value" lines, '#' comments), --set KEY=VALUE
 * on the command line and `ditfarmd --print-config`.
 *
 *     struct config c;
 *     config_defaults(&c);
 *     if (config_load_file(&c, "configs/ditfarmd.conf", &err) < 0) ... "file:3: ..." ...
 *     if (config_set(&c, "tick-ms", "200", &err) < 0) ...
 *     config_write(&c, stdout);   // a valid config file, every directive commented
 */
#ifndef DF_CONFIG_H
#define DF_CONFIG_H

#include "err.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

struct config {
    char state_dir[PATH_MAX];       /* store, socket, manifests, default jobs dir */
    char jobs_dir[PATH_MAX];        /* "" -> <state_dir>/jobs */
    char output_roots[4096];        /* ':'-separated dirs outputs may go to ("" -> $HOME) */
    int max_shots;                  /* shots per manifest at most */
    int ckpt_keep_done_hours;       /* checkpoints of done shots kept this long (0: forever) */
    int ckpt_keep_failed_hours;     /* of failed/cancelled shots (0: forever) */
    int ckpt_gc_interval_s;         /* how often the retention pass runs */
    int client_timeout_ms;          /* a control client's whole exchange at most */
    int client_max_request;         /* bytes of one control request at most */
    char notify_url[1024];          /* receives every event as well ("" none) */
    int tick_ms;                    /* loop period: poll() timeout on the socket */
    int squeue_interval_ms;         /* how often Slurm's job states are read */
    int sinfo_interval_ms;          /* how often node states are read */
    int submit_interval_ms;         /* how often ready shots are submitted */
    int sbatch_timeout_s;           /* one sbatch/squeue/scancel call at most */
    int submit_retry_base_s;        /* first wait after "Slurm unreachable" */
    int submit_retry_max_s;         /* cap of the doubling wait */
    int max_attempts;               /* job submissions per shot (resubmits after a checkpoint) */
    int webhook_interval_ms;        /* how often the webhook queue is flushed */
    int webhook_timeout_ms;         /* one POST at most */
    int webhook_connect_timeout_ms; /* its connect phase at most */
    int webhook_retry_base_s;       /* first wait after a failed POST */
    int webhook_retry_max_s;        /* cap of the doubling wait */
    int webhook_max_tries;          /* then the event is marked dropped (kept in the store) */
    int webhook_batch;              /* POSTs per flush at most (bounds the time a tick takes) */
    int webhook_allow_private;      /* 1: loopback/private/link-local receivers allowed */
    char webhook_secret_file[PATH_MAX]; /* HMAC key file, 0600 ("" -> <state_dir>/webhook.secret) */
    char http_listen[256];              /* "ADDR:PORT" of the HTTP API and page ("" off) */
    char http_tls_cert[PATH_MAX];       /* PEM certificate: TLS when set with the key */
    char http_tls_key[PATH_MAX];        /* PEM private key */
    int http_max_clients;               /* connections at once (each its own thread) */
    int http_max_clients_per_ip;        /* of them from one address */
    int http_timeout_s;                 /* an idle connection is closed after this */
    int http_request_deadline_s;        /* a request not whole after this is cut */
    int http_max_body;                  /* request body bytes at most (413 beyond) */
};

enum config_type { CONFIG_TYPE_INT, CONFIG_TYPE_STRING, CONFIG_TYPE_COUNT };

struct config_row {
    const char *key;       /* "tick-ms" */
    enum config_type type; /* int or string */
    long lo, hi;           /* int bounds, or string capacity limits (hi = field size) */
    const char *def;       /* default, as written in the file */
    size_t offset;         /* of the field in struct config */
    const char *help;      /* one or two lines for the commented file */
};

/* The directive table, terminated by a row whose key is NULL. */
extern const struct config_row config_table[];

/* Every field to its default. */
void config_defaults(struct config *c);
/* Set one directive from text.  Returns 0, DF_E_NOTFOUND (unknown key),
 * DF_E_INVAL (not an integer), DF_E_RANGE (out of bounds / too long). */
int config_set(struct config *c, const char *key, const char *value, struct df_err *err);
/* Read a config file; errors say "file:line: ...".  Returns 0 or the first error. */
int config_load_file(struct config *c, const char *path, struct df_err *err);
/* Write every directive with its help as a config file.  Returns 0 or DF_E_IO. */
int config_write(const struct config *c, FILE *out, struct df_err *err);

#endif /* DF_CONFIG_H */
