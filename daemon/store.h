/*
 * store.h -- the daemon's persistent state: an SQLite file (WAL mode) holding
 * the manifests submitted, every shot's record (job.h) and the webhook queue.
 *
 * The daemon is the only writer; a restart reopens the file and carries on
 * (shots in flight are found again through their Slurm job ids and job
 * directories).  The schema is versioned with PRAGMA user_version
 * (STORE_SCHEMA_VERSION); opening a newer file is refused.
 *
 *     store_t *st;
 *     if (store_open("state/ditfarmd.db", &st, &err) < 0) ...
 *     int64_t mrow;
 *     store_manifest_add(st, "m", "/abs/m.yaml", json_text, "{}", now, &mrow, &err);
 *     struct job_shot s = {...}; job_on_intake(&s, now); store_shot_add(st, &s, &err);
 *     struct job_shot *list; size_t n;
 *     store_shots_list(st, STORE_ACTIVE, &list, &n, &err); ... free(list);
 *     store_close(st);
 *
 * Tables: manifests(id, name, path, json, opts, submitted_at);
 * shots(id, manifest_id, manifest, shot, state, job_id, job_dir, deps,
 * notify, priority, attempts, submit_tries, next_try, reason, output,
 * created_at, updated_at); events(id, url, kind, body, tries, next_at,
 * last_error, status, created_at, updated_at); nodes(name, state, updated_at);
 * history(id, shot_id, from_state, state, reason, job_id, at) (v2: one row per
 * state change, written by store_shot_add/store_shot_save).
 */
#ifndef DF_STORE_H
#define DF_STORE_H

#include "err.h"
#include "job.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 3

typedef struct store store_t;

/* Open (creating as needed) the store at `path`.  Returns 0 and *out, or
 * DF_E_IO (cannot open), DF_E_CORRUPT (not a store, or a newer schema). */
int store_open(const char *path, store_t **out, struct df_err *err);
/* Open an existing store read-only, for readers beside the daemon's loop (the
 * HTTP threads): WAL lets them read while the loop writes.  Returns 0, DF_E_IO,
 * DF_E_CORRUPT (another schema version). */
int store_open_reader(const char *path, store_t **out, struct df_err *err);
/* Close; NULL is fine. */
void store_close(store_t *st);
/* The schema version of the open file (STORE_SCHEMA_VERSION). */
int store_schema_version(store_t *st);

/* Group several writes into one transaction (intake of a manifest). */
int store_begin(store_t *st, struct df_err *err);
int store_commit(store_t *st, struct df_err *err);
void store_rollback(store_t *st);

/* ---- manifests and shots --------------------------------------------------- */

/* Record a submitted manifest.  Returns 0 and its row in *row. */
int store_manifest_add(store_t *st, const char *name, const char *path, const char *json,
                       const char *opts_json, int64_t now, int64_t *row, struct df_err *err);

/* Insert a new shot; sets s->row.  Returns 0 or DF_E_IO. */
int store_shot_add(store_t *st, struct job_shot *s, struct df_err *err);

/* Save s (every field) if the stored state is still `from` and from -> s->state
 * is an edge of the diagram (or from == s->state).  Returns 0, DF_E_INTERNAL
 * for a transition the diagram does not have, DF_E_NOTFOUND when the stored
 * state is no longer `from` (someone else moved it), DF_E_IO. */
int store_shot_save(store_t *st, const struct job_shot *s, enum job_state from, struct df_err *err);

enum store_filter {
    STORE_ALL,    /* every shot, oldest first */
    STORE_ACTIVE, /* shots not done/failed/cancelled */
};
/* The shots matching `filter`, by priority (highest first), then row.  *out is
 * malloc'd, caller frees (NULL when *n is 0). */
/* The shot `shot` of manifest row manifest_row into *out.  Returns 0,
 * DF_E_NOTFOUND, or the store's error. */
int store_shot_find(store_t *st, int64_t manifest_row, const char *shot, struct job_shot *out,
                    struct df_err *err);

/* How many shots are in `state`.  Returns the count or a negative error. */
int store_count_state(store_t *st, enum job_state state, struct df_err *err);

int store_shots_list(store_t *st, enum store_filter filter, struct job_shot **out, size_t *n,
                     struct df_err *err);

/* Count active shots of manifest `name`.  Returns the count (>= 0) or DF_E_IO. */
int store_manifest_active(store_t *st, const char *name, struct df_err *err);

/* ---- webhook queue ------------------------------------------------------------ */

struct store_event {
    int64_t row;
    char url[JOB_TEXT_CAP];
    char kind[64]; /* "shot.done", "node.drained", ... */
    char *body;    /* JSON text (owned by the list; see store_events_free) */
    int tries;     /* deliveries attempted so far */
};

/* Queue `body` for `url`; delivered by the loop (notify.h).  Returns 0/DF_E_IO. */
int store_event_add(store_t *st, const char *url, const char *kind, const char *body, int64_t now,
                    struct df_err *err);
/* Up to `max` pending events due at `now`, oldest first. */
int store_events_due(store_t *st, int64_t now, int max, struct store_event **out, size_t *n,
                     struct df_err *err);
void store_events_free(struct store_event *ev, size_t n);
/* Record a delivery: ok -> "sent"; failed -> tries+1, last_error, next try
 * at next_at, or "dropped" when give_up.  Returns 0/DF_E_IO. */
int store_event_result(store_t *st, int64_t row, int ok, int give_up, const char *error,
                       int64_t next_at, int64_t now, struct df_err *err);
/* Count events by status ("pending", "sent", "dropped"). */
int store_events_count(store_t *st, const char *status, struct df_err *err);

/* ---- nodes -------------------------------------------------------------------- */

/* Record node `name` in `state`; old[cap] gets the previous state ("" when
 * new).  Returns 1 when the state changed (or the node is new), 0 if not. */
int store_node_update(store_t *st, const char *name, const char *state, int64_t now, char *old,
                      size_t cap, struct df_err *err);

/* ---- state history -------------------------------------------------------------- */

struct store_change {
    int64_t id;                /* history row: grows with every change */
    int64_t shot_row;          /* shots.id */
    char manifest[JOB_ID_CAP]; /* manifest name */
    char shot[JOB_ID_CAP];     /* shot id */
    char from[16];             /* previous state, "" at intake */
    char state[16];            /* new state */
    char reason[JOB_TEXT_CAP]; /* the shot's reason after the change */
    char job_id[32];           /* its Slurm job id after the change */
    int64_t at;                /* unix time */
};
/* Up to `max` changes with id > after_id, oldest first; shot_row 0 = every
 * shot, else that shot only.  *out malloc'd, caller frees. */
int store_history_since(store_t *st, int64_t after_id, int64_t shot_row, int max,
                        struct store_change **out, size_t *n, struct df_err *err);

#endif /* DF_STORE_H */
