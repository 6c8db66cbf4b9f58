/*
 * store.c -- the daemon's SQLite store (see store.h).
 *
 * Why SQLite: one file, atomic transactions, and WAL lets `sqlite3 ditfarmd.db`
 * read while the daemon writes.  synchronous=NORMAL in WAL mode may lose the
 * last transaction on power loss but never corrupts the file; the loop
 * recomputes anything lost from Slurm and the job directories.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
    sqlite3 *db; /* the open file */
    char path[4096];
};

static const char schema_v1[] =
    "CREATE TABLE manifests(id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL,"
    "  json TEXT NOT NULL, opts TEXT NOT NULL, submitted_at INTEGER NOT NULL);"
    "CREATE TABLE shots(id INTEGER PRIMARY KEY, manifest_id INTEGER NOT NULL REFERENCES"
    "  manifests(id), manifest TEXT NOT NULL, shot TEXT NOT NULL, state TEXT NOT NULL,"
    "  job_id TEXT NOT NULL DEFAULT '', job_dir TEXT NOT NULL, deps TEXT NOT NULL DEFAULT '',"
    "  notify TEXT NOT NULL DEFAULT '', priority INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0, submit_tries INTEGER NOT NULL DEFAULT 0,"
    "  next_try INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"
    "  output TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL, UNIQUE(manifest_id, shot));"
    "CREATE INDEX shots_state ON shots(state);"
    "CREATE TABLE events(id INTEGER PRIMARY KEY, url TEXT NOT NULL, kind TEXT NOT NULL,"
    "  body TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'pending',"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX events_due ON events(status, next_at);"
    "CREATE TABLE nodes(name TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL);"
    "PRAGMA user_version = 1;";

/* v2: every state change of a shot, in order (the HTTP API's state history
 * and its event stream read it; ids only grow). */
static const char schema_v2[] =
    "CREATE TABLE history(id INTEGER PRIMARY KEY, shot_id INTEGER NOT NULL REFERENCES shots(id),"
    "  from_state TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',"
    "  job_id TEXT NOT NULL DEFAULT '', at INTEGER NOT NULL);"
    "CREATE INDEX history_shot ON history(shot_id);"
    "PRAGMA user_version = 2;";

/* v3: the submission token of a shot in `submitting` (sbatch --comment), so
 * a daemon that died while sbatch ran finds the job it may have made. */
static const char schema_v3[] = "ALTER TABLE shots ADD COLUMN token TEXT NOT NULL DEFAULT '';"
                                "PRAGMA user_version = 3;";

static int db_fail(store_t *st, struct df_err *err, const char *what)
{
    return df_err_set(err, DF_E_IO, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static int exec(store_t *st, const char *sql, struct df_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = df_err_set(err, DF_E_IO, "%s: %s", st->path, msg ? msg : "sqlite error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int user_version(store_t *st)
{
    sqlite3_stmt *q;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

int store_open(const char *path, store_t **out, struct df_err *err)
{
    *out = NULL;
    store_t *st = calloc(1, sizeof(*st));
    if (!st)
        return df_err_set(err, DF_E_NOMEM, "out of memory opening %s", path);
    snprintf(st->path, sizeof(st->path), "%s", path);
    int rc;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = db_fail(st, err, "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 2000);
    /* journal_mode answers with a row: exec ignores it */
    if ((rc = exec(st,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                   "PRAGMA foreign_keys=ON;",
                   err)) < 0)
        goto fail;
    int v = user_version(st);
    if (v >= 0 && v < STORE_SCHEMA_VERSION) {
        /* create or upgrade in one transaction: v0 -> v1 -> v2 */
        if ((rc = exec(st, "BEGIN IMMEDIATE", err)) < 0)
            goto fail;
        if ((v < 1 && (rc = exec(st, schema_v1, err)) < 0) ||
            (v < 2 && (rc = exec(st, schema_v2, err)) < 0) ||
            (v < 3 && (rc = exec(st, schema_v3, err)) < 0)) {
            exec(st, "ROLLBACK", NULL);
            goto fail;
        }
        if ((rc = exec(st, "COMMIT", err)) < 0)
            goto fail;
    } else if (v != STORE_SCHEMA_VERSION) {
        rc =
            df_err_set(err, DF_E_CORRUPT, "%s: schema version %d, this ditfarmd knows version %d%s",
                       path, v, STORE_SCHEMA_VERSION, v > STORE_SCHEMA_VERSION ? " (newer)" : "");
        goto fail;
    }
    *out = st;
    return 0;
fail:
    if (rc == 0 || err == NULL || err->code == 0)
        rc = DF_E_CORRUPT;
    /* "file is not a database" comes from the first statement */
    if (err && strstr(err->msg, "not a database"))
        rc = err->code = DF_E_CORRUPT;
    store_close(st);
    return rc;
}

int store_open_reader(const char *path, store_t **out, struct df_err *err)
{
    *out = NULL;
    store_t *st = calloc(1, sizeof(*st));
    if (!st)
        return df_err_set(err, DF_E_NOMEM, "out of memory opening %s", path);
    snprintf(st->path, sizeof(st->path), "%s", path);
    int rc = 0;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        rc = db_fail(st, err, "cannot open");
    else if (sqlite3_busy_timeout(st->db, 2000), user_version(st) != STORE_SCHEMA_VERSION)
        rc = df_err_set(err, DF_E_CORRUPT, "%s: schema version %d, this reader knows version %d",
                        path, user_version(st), STORE_SCHEMA_VERSION);
    if (rc < 0) {
        store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void store_close(store_t *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st);
}

int store_schema_version(store_t *st)
{
    return user_version(st);
}

int store_begin(store_t *st, struct df_err *err)
{
    return exec(st, "BEGIN IMMEDIATE", err);
}

int store_commit(store_t *st, struct df_err *err)
{
    return exec(st, "COMMIT", err);
}

void store_rollback(store_t *st)
{
    exec(st, "ROLLBACK", NULL);
}

/* ---- statements ---------------------------------------------------------------- */

static int prepare(store_t *st, const char *sql, sqlite3_stmt **q, struct df_err *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, q, NULL) != SQLITE_OK)
        return db_fail(st, err, "prepare");
    return 0;
}

/* Step a statement that returns no rows, then finalize it. */
static int run(store_t *st, sqlite3_stmt *q, const char *what, struct df_err *err)
{
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_fail(st, err, what);
    sqlite3_finalize(q);
    return rc;
}

static void text(sqlite3_stmt *q, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

int store_manifest_add(store_t *st, const char *name, const char *path, const char *json,
                       const char *opts_json, int64_t now, int64_t *row, struct df_err *err)
{
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "INSERT INTO manifests(name, path, json, opts, submitted_at)"
                   " VALUES(?,?,?,?,?)",
                   &q, err));
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, opts_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 5, now);
    DF_TRY(run(st, q, "insert manifest", err));
    *row = sqlite3_last_insert_rowid(st->db);
    return 0;
}

/* Bind every mutable field of s in the order of SHOT_FIELDS, from `first`. */
#define SHOT_FIELDS                                                                                \
    "state, job_id, job_dir, deps, notify, priority, attempts, submit_tries, next_try, reason,"    \
    " output, updated_at, token"
static void bind_shot(sqlite3_stmt *q, int first, const struct job_shot *s)
{
    int i = first;
    sqlite3_bind_text(q, i++, job_state_name(s->state), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, i++, s->job_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, i++, s->job_dir, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, i++, s->deps, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, i++, s->notify, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, i++, s->priority);
    sqlite3_bind_int(q, i++, s->attempts);
    sqlite3_bind_int(q, i++, s->submit_tries);
    sqlite3_bind_int64(q, i++, s->next_try);
    sqlite3_bind_text(q, i++, s->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, i++, s->output, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, i++, s->updated);
    sqlite3_bind_text(q, i++, s->token, -1, SQLITE_TRANSIENT);
}

/* One row of history: shot `row` moved from -> s->state. */
static int history_add(store_t *st, int64_t row, const char *from, const struct job_shot *s,
                       struct df_err *err)
{
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "INSERT INTO history(shot_id, from_state, state, reason, job_id, at)"
                   " VALUES(?,?,?,?,?,?)",
                   &q, err));
    sqlite3_bind_int64(q, 1, row);
    sqlite3_bind_text(q, 2, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, job_state_name(s->state), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, s->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, s->job_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 6, s->updated);
    return run(st, q, "insert history", err);
}

int store_shot_add(store_t *st, struct job_shot *s, struct df_err *err)
{
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "INSERT INTO shots(manifest_id, manifest, shot, created_at, " SHOT_FIELDS
                   ") VALUES(?,?,?,?, ?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   &q, err));
    sqlite3_bind_int64(q, 1, s->manifest_row);
    sqlite3_bind_text(q, 2, s->manifest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, s->shot, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, s->updated);
    bind_shot(q, 5, s);
    DF_TRY(run(st, q, "insert shot", err));
    s->row = sqlite3_last_insert_rowid(st->db);
    return history_add(st, s->row, "", s, err);
}

int store_shot_save(store_t *st, const struct job_shot *s, enum job_state from, struct df_err *err)
{
    if (from != s->state && !job_transition_ok(from, s->state))
        return df_err_set(err, DF_E_INTERNAL, "shot %s/%s: no transition %s -> %s", s->manifest,
                          s->shot, job_state_name(from), job_state_name(s->state));
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "UPDATE shots SET state=?, job_id=?, job_dir=?, deps=?, notify=?, priority=?,"
                   " attempts=?, submit_tries=?, next_try=?, reason=?, output=?, updated_at=?,"
                   " token=? WHERE id=? AND state=?",
                   &q, err));
    bind_shot(q, 1, s);
    sqlite3_bind_int64(q, 14, s->row);
    sqlite3_bind_text(q, 15, job_state_name(from), -1, SQLITE_STATIC);
    DF_TRY(run(st, q, "update shot", err));
    if (sqlite3_changes(st->db) != 1)
        return df_err_set(err, DF_E_NOTFOUND, "shot %s/%s (row %lld) is no longer %s", s->manifest,
                          s->shot, (long long)s->row, job_state_name(from));
    return from == s->state ? 0 : history_add(st, s->row, job_state_name(from), s, err);
}

/* One row of "SELECT id, manifest_id, manifest, shot, SHOT_FIELDS" into s. */
static int read_row(store_t *st, sqlite3_stmt *q, struct job_shot *s, struct df_err *err)
{
    memset(s, 0, sizeof(*s));
    s->row = sqlite3_column_int64(q, 0);
    s->manifest_row = sqlite3_column_int64(q, 1);
    text(q, 2, s->manifest, sizeof(s->manifest));
    text(q, 3, s->shot, sizeof(s->shot));
    char state[32];
    text(q, 4, state, sizeof(state));
    if (job_state_from_name(state, &s->state) < 0)
        return df_err_set(err, DF_E_CORRUPT, "%s: shot row %lld has unknown state '%s'",
                          st->path, (long long)s->row, state);
    text(q, 5, s->job_id, sizeof(s->job_id));
    text(q, 6, s->job_dir, sizeof(s->job_dir));
    text(q, 7, s->deps, sizeof(s->deps));
    text(q, 8, s->notify, sizeof(s->notify));
    s->priority = sqlite3_column_int(q, 9);
    s->attempts = sqlite3_column_int(q, 10);
    s->submit_tries = sqlite3_column_int(q, 11);
    s->next_try = sqlite3_column_int64(q, 12);
    text(q, 13, s->reason, sizeof(s->reason));
    text(q, 14, s->output, sizeof(s->output));
    s->updated = sqlite3_column_int64(q, 15);
    text(q, 16, s->token, sizeof(s->token));
    return 0;
}

int store_shots_list(store_t *st, enum store_filter filter, struct job_shot **out, size_t *n,
                     struct df_err *err)
{
    *out = NULL;
    *n = 0;
    const char *sql =
        filter == STORE_ACTIVE
            ? "SELECT id, manifest_id, manifest, shot, " SHOT_FIELDS " FROM shots WHERE state"
              " NOT IN ('done','failed','cancelled') ORDER BY priority DESC, id"
            : "SELECT id, manifest_id, manifest, shot, " SHOT_FIELDS " FROM shots ORDER BY id";
    sqlite3_stmt *q;
    DF_TRY(prepare(st, sql, &q, err));
    size_t cap = 0;
    int rc = 0, step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct job_shot *grown = realloc(*out, cap * sizeof(**out));
            if (!grown) {
                rc = df_err_set(err, DF_E_NOMEM, "out of memory listing shots");
                break;
            }
            *out = grown;
        }
        struct job_shot *s = &(*out)[(*n)++];
        if ((rc = read_row(st, q, s, err)) < 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(st, err, "list shots");
    sqlite3_finalize(q);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int store_shot_find(store_t *st, int64_t manifest_row, const char *shot, struct job_shot *out,
                    struct df_err *err)
{
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "SELECT id, manifest_id, manifest, shot, " SHOT_FIELDS
                   " FROM shots WHERE manifest_id=? AND shot=?",
                   &q, err));
    sqlite3_bind_int64(q, 1, manifest_row);
    sqlite3_bind_text(q, 2, shot, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(q), rc;
    if (step == SQLITE_ROW)
        rc = read_row(st, q, out, err);
    else if (step == SQLITE_DONE)
        rc = df_err_set(err, DF_E_NOTFOUND, "no shot %s in manifest row %lld", shot,
                        (long long)manifest_row);
    else
        rc = db_fail(st, err, "find shot");
    sqlite3_finalize(q);
    return rc;
}

int store_count_state(store_t *st, enum job_state state, struct df_err *err)
{
    sqlite3_stmt *q;
    DF_TRY(prepare(st, "SELECT count(*) FROM shots WHERE state=?", &q, err));
    sqlite3_bind_text(q, 1, job_state_name(state), -1, SQLITE_STATIC);
    int rc =
        sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : db_fail(st, err, "count shots");
    sqlite3_finalize(q);
    return rc;
}

int store_manifest_active(store_t *st, const char *name, struct df_err *err)
{
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "SELECT count(*) FROM shots WHERE manifest=? AND state NOT IN"
                   " ('done','failed','cancelled')",
                   &q, err));
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    int rc =
        sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : db_fail(st, err, "count shots");
    sqlite3_finalize(q);
    return rc;
}

/* ---- events ---------------------------------------------------------------------- */

int store_event_add(store_t *st, const char *url, const char *kind, const char *body, int64_t now,
                    struct df_err *err)
{
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "INSERT INTO events(url, kind, body, next_at, created_at, updated_at)"
                   " VALUES(?,?,?,?,?,?)",
                   &q, err));
    sqlite3_bind_text(q, 1, url, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, body, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, now);
    sqlite3_bind_int64(q, 6, now);
    return run(st, q, "insert event", err);
}

void store_events_free(struct store_event *ev, size_t n)
{
    for (size_t i = 0; ev && i < n; i++)
        free(ev[i].body);
    free(ev);
}

int store_events_due(store_t *st, int64_t now, int max, struct store_event **out, size_t *n,
                     struct df_err *err)
{
    *out = NULL;
    *n = 0;
    if (max <= 0)
        return 0;
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "SELECT id, url, kind, body, tries FROM events WHERE status='pending'"
                   " AND next_at<=? ORDER BY id LIMIT ?",
                   &q, err));
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int(q, 2, max);
    struct store_event *ev = calloc((size_t)max, sizeof(*ev));
    int rc = ev ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory reading events");
    while (rc == 0 && sqlite3_step(q) == SQLITE_ROW && *n < (size_t)max) {
        struct store_event *e = &ev[(*n)++];
        e->row = sqlite3_column_int64(q, 0);
        text(q, 1, e->url, sizeof(e->url));
        text(q, 2, e->kind, sizeof(e->kind));
        const unsigned char *b = sqlite3_column_text(q, 3);
        e->body = strdup(b ? (const char *)b : "");
        e->tries = sqlite3_column_int(q, 4);
        if (!e->body)
            rc = df_err_set(err, DF_E_NOMEM, "out of memory reading events");
    }
    sqlite3_finalize(q);
    if (rc < 0) {
        store_events_free(ev, *n);
        *n = 0;
        return rc;
    }
    *out = ev;
    return 0;
}

int store_event_result(store_t *st, int64_t row, int ok, int give_up, const char *error,
                       int64_t next_at, int64_t now, struct df_err *err)
{
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "UPDATE events SET tries=tries+1, status=?, last_error=?, next_at=?,"
                   " updated_at=? WHERE id=?",
                   &q, err));
    sqlite3_bind_text(q, 1, ok ? "sent" : give_up ? "dropped" : "pending", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, ok ? "" : error, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, next_at);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, row);
    return run(st, q, "update event", err);
}

int store_events_count(store_t *st, const char *status, struct df_err *err)
{
    sqlite3_stmt *q;
    DF_TRY(prepare(st, "SELECT count(*) FROM events WHERE status=?", &q, err));
    sqlite3_bind_text(q, 1, status, -1, SQLITE_TRANSIENT);
    int rc =
        sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : db_fail(st, err, "count events");
    sqlite3_finalize(q);
    return rc;
}

/* ---- nodes ---------------------------------------------------------------------- */

int store_node_update(store_t *st, const char *name, const char *state, int64_t now, char *old,
                      size_t cap, struct df_err *err)
{
    sqlite3_stmt *q;
    old[0] = '\0';
    DF_TRY(prepare(st, "SELECT state FROM nodes WHERE name=?", &q, err));
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) == SQLITE_ROW)
        text(q, 0, old, cap);
    sqlite3_finalize(q);
    if (old[0] && strcmp(old, state) == 0)
        return 0;
    DF_TRY(prepare(st, "INSERT OR REPLACE INTO nodes(name, state, updated_at) VALUES(?,?,?)", &q,
                   err));
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, now);
    DF_TRY(run(st, q, "update node", err));
    return 1;
}

/* ---- history ------------------------------------------------------------------- */

int store_history_since(store_t *st, int64_t after_id, int64_t shot_row, int max,
                        struct store_change **out, size_t *n, struct df_err *err)
{
    *out = NULL;
    *n = 0;
    if (max <= 0)
        return 0;
    sqlite3_stmt *q;
    DF_TRY(prepare(st,
                   "SELECT h.id, h.shot_id, s.manifest, s.shot, h.from_state, h.state, h.reason,"
                   " h.job_id, h.at FROM history h JOIN shots s ON s.id = h.shot_id"
                   " WHERE h.id > ? AND (? = 0 OR h.shot_id = ?) ORDER BY h.id LIMIT ?",
                   &q, err));
    sqlite3_bind_int64(q, 1, after_id);
    sqlite3_bind_int64(q, 2, shot_row);
    sqlite3_bind_int64(q, 3, shot_row);
    sqlite3_bind_int(q, 4, max);
    struct store_change *c = calloc((size_t)max, sizeof(*c));
    int rc = c ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory reading history");
    int step = SQLITE_DONE;
    while (rc == 0 && *n < (size_t)max && (step = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_change *e = &c[(*n)++];
        e->id = sqlite3_column_int64(q, 0);
        e->shot_row = sqlite3_column_int64(q, 1);
        text(q, 2, e->manifest, sizeof(e->manifest));
        text(q, 3, e->shot, sizeof(e->shot));
        text(q, 4, e->from, sizeof(e->from));
        text(q, 5, e->state, sizeof(e->state));
        text(q, 6, e->reason, sizeof(e->reason));
        text(q, 7, e->job_id, sizeof(e->job_id));
        e->at = sqlite3_column_int64(q, 8);
    }
    if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = db_fail(st, err, "read history");
    sqlite3_finalize(q);
    if (rc < 0) {
        free(c);
        *n = 0;
        return rc;
    }
    *out = c;
    return 0;
}
