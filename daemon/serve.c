/*
 * serve.c -- the daemon's answers on the control socket (protocol in ctl.h,
 * fields in docs/daemon.md): ping, submit (intake of a normalized manifest:
 * job directories written at once, shots queued or waiting), status, cancel.
 */
#include "daemon.h"
#include "progress_file.h"
#include "worker_exit.h"

#include "df_version.h"
#include "clock.h"
#include "ident.h"
#include "intake.h"
#include "jobspec.h"
#include "roots.h"
#include "safeio.h"
#include "manifest.h"
#include "notify.h"
#include "progress.h"
#include "slurmq.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *reply_error(const char *fmt, ...)
{
    char msg[DF_ERR_MSG_CAP + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "ok", 0);
    cJSON_AddStringToObject(r, "error", msg);
    char *text = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return text;
}

static char *reply_take(cJSON *r)
{
    char *text = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return text;
}

/* An integer option in lo..hi (absent: 0).  Returns 0 or DF_E_INVAL / DF_E_RANGE. */
static int opt_int(const cJSON *o, const char *key, int lo, int hi, int *out, struct df_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = 0;
    if (!v)
        return 0;
    DF_FAIL_IF(!cJSON_IsNumber(v), err, DF_E_INVAL, "submit: opts.%s must be a number", key);
    DF_FAIL_IF(v->valuedouble != 0 && (v->valuedouble < lo || v->valuedouble > hi), err,
               DF_E_RANGE, "submit: opts.%s must be 0 or in %d..%d", key, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

static const char *opt_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* ---- submit ------------------------------------------------------------------ */

/* Write the normalized manifest into the state dir, where it stays: the
 * record of what was submitted, and what the job directories were made from. */
static int save_manifest(struct daemon *d, const char *name, const char *json, char *path,
                         size_t cap, struct df_err *err)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char file[IDENT_MAX_LEN + 48];
    snprintf(file, sizeof(file), "%s.%lld%03ld.json", name, (long long)ts.tv_sec,
             ts.tv_nsec / 1000000);
    snprintf(path, cap, "%.3000s/manifests/%s", d->cfg.state_dir, file);
    int dfd;
    DF_TRY(safeio_mkdirs_at(AT_FDCWD, d->cfg.state_dir, "manifests", 0700, &dfd, err));
    /* private: prompts and webhook URLs are the submitter's business */
    int rc = safeio_write_at(dfd, file, json, strlen(json), 0600, err);
    close(dfd);
    if (rc < 0)
        df_err_prefix(err, "%s", path);
    return rc;
}

static void join_words(char **words, size_t n, char *dst, size_t cap)
{
    size_t len = 0;
    dst[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(dst + len, cap - len, "%s%s", i ? " " : "", words[i]);
}

void serve_reset_job_dir(const char *dir, const char *shot_id)
{
    char marker[PATH_MAX + 80], ckpt[PATH_MAX + 8];
    snprintf(ckpt, sizeof(ckpt), "%.4000s/ckpt", dir);
    if (worker_done_path(ckpt, shot_id, marker, sizeof(marker)) == 0)
        unlink(marker);
    /* an earlier run's progress is not this one's: the worker writes anew */
    snprintf(marker, sizeof(marker), "%.4000s/%s", dir, PROGRESS_FILE_NAME);
    unlink(marker);
}

/* A shot's record; with its job directory written (dir not NULL), a done
 * marker left by an earlier submission is removed (see serve_reset_job_dir). */
static void shot_record(const struct manifest *m, const struct shot *s, int64_t mrow,
                        const char *dir, struct job_shot *r)
{
    memset(r, 0, sizeof(*r));
    r->manifest_row = mrow;
    snprintf(r->manifest, sizeof(r->manifest), "%s", m->name);
    snprintf(r->shot, sizeof(r->shot), "%s", s->id);
    if (dir)
        snprintf(r->job_dir, sizeof(r->job_dir), "%s", dir);
    join_words(s->after, s->n_after, r->deps, sizeof(r->deps));
    join_words(s->notify, s->n_notify, r->notify, sizeof(r->notify));
    r->priority = s->priority;
    if (dir)
        serve_reset_job_dir(dir, s->id);
}

/* A manifest that does not load here.  The reply carries the diagnostics
 * redacted (manifest_diags_redact): a message about a file the manifest
 * names may quote it (`model: /etc/shadow` would echo its first line), and
 * the client may not be allowed to read that file.  The daemon's log keeps
 * them whole. */
static char *load_error(struct daemon *d, const char *name, const char *path,
                        struct diag_list *dl, const struct df_err *err)
{
    for (size_t i = 0; i < dl->count; i++)
        DF_WARN(d->log, "manifest %s: %d:%d: %s: %s", name, dl->items[i].line, dl->items[i].col,
                dl->items[i].path, dl->items[i].msg);
    if (!dl->count) {
        DF_WARN(d->log, "manifest %s: %s", name, err->msg);
        return reply_error("manifest %s does not load in the daemon", name);
    }
    manifest_diags_redact(dl, path);
    char what[1200] = "";
    size_t len = 0;
    for (size_t i = 0; i < dl->count && i < 3 && len < sizeof(what); i++) {
        const struct diag *g = &dl->items[i];
        len += (size_t)snprintf(what + len, sizeof(what) - len, "%s%d:%d: %s%s%.300s",
                                len ? "; " : "", g->line, g->col, g->path,
                                g->path[0] ? ": " : "", g->msg);
    }
    return reply_error("manifest %s does not load in the daemon (%zu problem%s): %s", name,
                       dl->count, dl->count == 1 ? "" : "s", what);
}

/* The cluster shape and worker of a submit request.  Strings are checked here
 * and quoted where they reach the script (jobspec.c). */
static int read_opts(const cJSON *opts, struct jobspec_opts *jo, struct df_err *err)
{
    DF_TRY(opt_int(opts, "cpu_ranks", 1, LAYOUT_MAX_RANKS, &jo->cpu_ranks, err));
    DF_TRY(opt_int(opts, "gpus", 1, LAYOUT_MAX_RANKS, &jo->gpus, err));
    DF_TRY(opt_int(opts, "nodes", 1, LAYOUT_MAX_NODES, &jo->nodes, err));
    DF_TRY(opt_int(opts, "gpus_per_node", 1, LAYOUT_MAX_RANKS_PER_NODE, &jo->per_node, err));
    DF_TRY(opt_int(opts, "grace", 10, 65535, &jo->grace_s, err));
    DF_TRY(opt_int(opts, "cpus_per_task", 1, 1024, &jo->cpus_per_task, err));
    jo->backend = opt_str(opts, "backend");
    const char *w = opt_str(opts, "worker");
    if (w) {
        DF_FAIL_IF(w[0] != '/', err, DF_E_INVAL, "submit: opts.worker must be an absolute path");
        jo->worker = w;
    }
    return 0;
}

/* What every shot of one submitted manifest is taken in with. */
struct shot_intake {
    struct daemon *d;
    const struct jobspec_opts *jo;
    const struct manifest *m;
    int64_t mrow;         /* the manifest's store row */
    const char *date;
    const char *jobs_abs; /* the jobs directory, absolute */
    time_t now;
};

/* Store shot s of a submitted manifest: its job directory written now
 * (`write`) or left to the intake ticks (`preparing`, planned only); its
 * summary is added to `shots`. */
static int intake_shot(const struct shot_intake *in, const struct shot *s, int write,
                       cJSON *shots, struct df_err *err)
{
    const struct manifest *m = in->m;
    struct jobspec js;
    struct job_shot rec;
    if (write) {
        DF_TRY(jobspec_write(in->jo, m, s, in->date, in->d->cfg.jobs_dir, &js, err));
        shot_record(m, s, in->mrow, js.dir, &rec);
        job_on_intake(&rec, in->now);
    } else {
        DF_TRY(jobspec_plan(in->jo, s, &js.lay, err));
        snprintf(js.dir, sizeof(js.dir), "%.3000s/%s/%s", in->jobs_abs, m->name, s->id);
        shot_record(m, s, in->mrow, NULL, &rec);
        snprintf(rec.job_dir, sizeof(rec.job_dir), "%s", js.dir);
        job_on_preparing(&rec, in->now);
    }
    DF_TRY(store_shot_add(in->d->st, &rec, err));
    char desc[256];
    layout_describe(&js.lay, desc, sizeof(desc));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "shot", rec.shot);
    cJSON_AddStringToObject(o, "state", job_state_name(rec.state));
    cJSON_AddStringToObject(o, "layout", desc);
    cJSON_AddStringToObject(o, "job_dir", rec.job_dir);
    cJSON_AddItemToArray(shots, o);
    return 0;
}

static char *serve_submit(struct daemon *d, const cJSON *req)
{
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(req, "manifest");
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(req, "opts");
    const char *name = opt_str(mj, "name"), *configs = opt_str(req, "configs");
    const char *src = opt_str(req, "path");
    if (!cJSON_IsObject(mj) || !name || !configs)
        return reply_error("submit: the request needs \"manifest\" (with a name) and \"configs\"");
    if (!cJSON_IsObject(opts))
        return reply_error("submit: the request needs \"opts\" (an object; {} for defaults)");
    /* the name makes a file name before the loader checks it */
    struct df_err err = {0};
    if (ident_check("manifest name", name, &err) < 0)
        return reply_error("submit: %s", err.msg);
    struct jobspec_opts jo;
    jobspec_opts_init(&jo);
    if (read_opts(opts, &jo, &err) < 0)
        return reply_error("%s", err.msg);
    int active = store_manifest_active(d->st, name, &err);
    if (active < 0)
        return reply_error("%s", err.msg);
    if (active > 0)
        return reply_error("manifest %s has %d active shot%s: wait, or `ditfarm cancel %s` first",
                           name, active, active == 1 ? "" : "s", name);
    char *json = cJSON_PrintUnformatted(mj), *opts_json = cJSON_PrintUnformatted(opts);
    char path[PATH_MAX];
    struct manifest *m = NULL;
    struct diag_list dl = {0};
    cJSON *r = NULL, *shots = NULL;
    char *reply = NULL;
    if (!json || !opts_json) {
        reply = reply_error("out of memory");
        goto done;
    }
    if (save_manifest(d, name, json, path, sizeof(path), &err) < 0) {
        reply = reply_error("%s", err.msg);
        goto done;
    }
    if (manifest_load(path, configs, &m, &dl, &err) < 0) {
        reply = load_error(d, name, path, &dl, &err);
        goto done;
    }
    jo.configs_dir = configs;
    jo.output_roots = d->cfg.output_roots; /* lives as long as the daemon */
    char date[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    if (m->n_shots > (size_t)d->cfg.max_shots) {
        reply = reply_error("manifest %s: %zu shots, more than max-shots (%d) allows", name,
                            m->n_shots, d->cfg.max_shots);
        goto done;
    }
    if (roots_confine_outputs(m, d->cfg.output_roots, date, 1, &err) < 0 ||
        jobspec_write_manifest(m, d->cfg.jobs_dir, &err) < 0) {
        reply = reply_error("manifest %s: %s", name, err.msg);
        goto done;
    }

    /* job directories are written while there is time (INTAKE_BUDGET_MS);
     * the other shots wait as `preparing` for the ticks to write theirs
     * (intake.h), so a big manifest never holds the loop */
    char jobs_abs[PATH_MAX];
    if (!realpath(d->cfg.jobs_dir, jobs_abs)) {
        reply = reply_error("jobs directory %s: %s", d->cfg.jobs_dir, strerror(errno));
        goto done;
    }
    int64_t mrow, t0 = df_clock_ms();
    size_t written = 0;
    r = cJSON_CreateObject();
    shots = cJSON_CreateArray();
    if (store_begin(d->st, &err) < 0 ||
        store_manifest_add(d->st, m->name, src ? src : path, json, opts_json, now, &mrow, &err) < 0)
        goto fail;
    for (size_t i = 0; i < m->n_shots; i++) {
        struct shot_intake in = {d, &jo, m, mrow, date, jobs_abs, now};
        int write = written == i && (i == 0 || df_clock_ms() - t0 < INTAKE_BUDGET_MS);
        if (intake_shot(&in, &m->shots[i], write, shots, &err) < 0)
            goto fail;
        written += (size_t)write;
    }
    if (store_commit(d->st, &err) < 0)
        goto fail;
    DF_INFO(d->log, "manifest %s: %zu shot%s accepted from %s%s", m->name, m->n_shots,
            m->n_shots == 1 ? "" : "s", src ? src : path,
            written < m->n_shots ? " (job directories are being written)" : "");
    cJSON_AddBoolToObject(r, "ok", 1);
    cJSON_AddStringToObject(r, "manifest", m->name);
    cJSON_AddItemToObject(r, "shots", shots);
    reply = reply_take(r);
    r = NULL;
    if (written < m->n_shots && intake_start(d, mrow, m, &jo, date, written, &err) < 0)
        DF_ERROR(d->log, "manifest %s: %s", name, err.msg);
    if (written < m->n_shots)
        m = NULL; /* the intake owns it now */
    goto done;
fail:
    store_rollback(d->st);
    cJSON_Delete(shots);
    reply = reply_error("manifest %s: %s", name, err.msg);
done:
    cJSON_Delete(r);
    manifest_free(m);
    diag_list_clear(&dl);
    free(json);
    free(opts_json);
    return reply;
}

/* ---- status ---------------------------------------------------------------------- */

static cJSON *shot_json(const struct job_shot *s)
{
    struct progress p;
    progress_read(s->job_dir, s->state == JOB_STATE_DONE ? s->output : NULL, &p);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "manifest", s->manifest);
    cJSON_AddStringToObject(o, "shot", s->shot);
    cJSON_AddStringToObject(o, "state", job_state_name(s->state));
    cJSON_AddStringToObject(o, "job_id", s->job_id);
    cJSON_AddNumberToObject(o, "attempts", s->attempts);
    cJSON_AddNumberToObject(o, "step", p.step);
    cJSON_AddNumberToObject(o, "steps", p.steps);
    cJSON_AddStringToObject(o, "eta", p.eta);
    cJSON_AddNumberToObject(o, "last_checkpoint_step", p.last_ckpt_step);
    if (p.cache_hit >= 0)
        cJSON_AddNumberToObject(o, "cache_hit_rate", p.cache_hit);
    else
        cJSON_AddNullToObject(o, "cache_hit_rate");
    cJSON_AddStringToObject(o, "reason", s->reason);
    cJSON_AddStringToObject(o, "output", s->output);
    cJSON_AddStringToObject(o, "job_dir", s->job_dir);
    cJSON_AddStringToObject(o, "after", s->deps);
    cJSON_AddNumberToObject(o, "updated", (double)s->updated);
    return o;
}

static char *serve_status(struct daemon *d)
{
    struct job_shot *all = NULL;
    size_t n = 0;
    struct df_err err = {0};
    if (store_shots_list(d->st, STORE_ALL, &all, &n, &err) < 0)
        return reply_error("%s", err.msg);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "ok", 1);
    cJSON *shots = cJSON_AddArrayToObject(r, "shots");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(shots, shot_json(&all[i]));
    free(all);
    cJSON *wh = cJSON_AddObjectToObject(r, "webhooks");
    const char *statuses[] = {"pending", "sent", "dropped"};
    for (int i = 0; i < 3; i++)
        cJSON_AddNumberToObject(wh, statuses[i], store_events_count(d->st, statuses[i], NULL));
    cJSON_AddBoolToObject(r, "slurm_reachable", !d->slurm_unreachable);
    return reply_take(r);
}

/* ---- cancel ---------------------------------------------------------------------- */

/* Which active shots `target` names: "MANIFEST/SHOT" exactly one; a bare
 * manifest name all of its shots; a bare shot id the shot when exactly one
 * manifest has it (an id in several manifests is refused with the list, so
 * `cancel s1` never hits every manifest's s1).  Marks hit[i].  Returns the
 * number hit, or -1 with *why (malloc'd) for an ambiguous id. */
static int cancel_targets(const struct job_shot *act, size_t n, const char *target, char *hit,
                          char **why)
{
    const char *slash = strchr(target, '/');
    int count = 0;
    *why = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct job_shot *s = &act[i];
        size_t ml = slash ? (size_t)(slash - target) : 0;
        hit[i] = slash ? strlen(s->manifest) == ml && strncmp(s->manifest, target, ml) == 0 &&
                             strcmp(s->shot, slash + 1) == 0
                       : strcmp(s->manifest, target) == 0;
        count += hit[i];
    }
    if (slash || count)
        return count;
    /* a bare shot id */
    size_t len = 0, cap = 256;
    char *list = calloc(1, cap);
    int manifests = 0;
    for (size_t i = 0; list && i < n; i++) {
        hit[i] = strcmp(act[i].shot, target) == 0;
        if (!hit[i])
            continue;
        count++;
        manifests++;
        size_t need = strlen(act[i].manifest) + strlen(act[i].shot) + 4;
        if (len + need >= cap) {
            char *g = realloc(list, cap = (cap + need) * 2);
            if (!g)
                break;
            list = g;
        }
        len += (size_t)snprintf(list + len, cap - len, "%s%s/%s", len ? ", " : "",
                                act[i].manifest, act[i].shot);
    }
    if (manifests > 1) {
        *why = list;
        return -1;
    }
    free(list);
    return count;
}

static char *serve_cancel(struct daemon *d, const cJSON *req)
{
    const char *target = opt_str(req, "target");
    if (!target)
        return reply_error("cancel: the request needs \"target\" (MANIFEST, MANIFEST/SHOT or "
                           "a shot id)");
    struct job_shot *act = NULL;
    size_t n = 0;
    struct df_err err = {0};
    if (store_shots_list(d->st, STORE_ACTIVE, &act, &n, &err) < 0)
        return reply_error("%s", err.msg);
    char *hit = calloc(n ? n : 1, 1), *why = NULL;
    int count = hit ? cancel_targets(act, n, target, hit, &why) : -2;
    if (count <= 0) {
        char shown[80];
        ident_escape(target, shown, sizeof(shown));
        char *r = count == -2 ? reply_error("out of memory")
                  : count < 0 ? reply_error("shot id '%s' matches shots of several manifests: "
                                            "%.1500s; say which: MANIFEST/%s",
                                            shown, why ? why : "", shown)
                              : reply_error("no active shot or manifest named '%s'", shown);
        free(why);
        free(hit);
        free(act);
        return r;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON *done = cJSON_CreateArray(), *errors = cJSON_CreateArray();
    int64_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        struct job_shot *s = &act[i];
        if (!hit[i])
            continue;
        enum job_state from = s->state;
        /* Slurm first: a shot marked cancelled is never looked at again */
        if ((from == JOB_STATE_SUBMITTED || from == JOB_STATE_RUNNING) &&
            slurmq_cancel(s->job_id, d->cfg.sbatch_timeout_s, &err) < 0)
            cJSON_AddItemToArray(errors, cJSON_CreateString(err.msg));
        if (daemon_apply(d, s, from, job_on_cancel(s, now), &err) < 0)
            cJSON_AddItemToArray(errors, cJSON_CreateString(err.msg));
        char both[2 * JOB_ID_CAP + 2];
        snprintf(both, sizeof(both), "%s/%s", s->manifest, s->shot);
        cJSON_AddItemToArray(done, cJSON_CreateString(both));
    }
    free(hit);
    free(act);
    cJSON_AddBoolToObject(r, "ok", 1);
    cJSON_AddItemToObject(r, "cancelled", done);
    cJSON_AddItemToObject(r, "errors", errors);
    return reply_take(r);
}

char *serve_request(struct daemon *d, const char *request)
{
    cJSON *req = cJSON_Parse(request);
    const char *cmd = opt_str(req, "cmd");
    char *reply;
    if (!req || !cmd) {
        reply = reply_error("bad request: expected one JSON object with \"cmd\"");
    } else if (strcmp(cmd, "ping") == 0) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddBoolToObject(r, "ok", 1);
        cJSON_AddStringToObject(r, "version", DITFARM_VERSION);
        cJSON_AddNumberToObject(r, "pid", (double)getpid());
        cJSON_AddStringToObject(r, "state_dir", d->cfg.state_dir);
        reply = reply_take(r);
    } else if (strcmp(cmd, "submit") == 0) {
        reply = serve_submit(d, req);
    } else if (strcmp(cmd, "status") == 0) {
        reply = serve_status(d);
    } else if (strcmp(cmd, "cancel") == 0) {
        reply = serve_cancel(d, req);
    } else {
        reply = reply_error("unknown command '%s' (ping, submit, status, cancel)", cmd);
    }
    cJSON_Delete(req);
    return reply;
}
