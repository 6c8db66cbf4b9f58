/* intake.c -- job directories of big manifests, a tick at a time (see intake.h). */
#include "intake.h"

#include "clock.h"
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int intake_start(struct daemon *d, int64_t mrow, struct manifest *m,
                 const struct jobspec_opts *jo, const char *date, size_t next,
                 struct df_err *err)
{
    struct intake *it = calloc(1, sizeof(*it));
    if (!it) {
        manifest_free(m);
        return df_err_set(err, DF_E_NOMEM, "out of memory queueing manifest intake");
    }
    it->mrow = mrow;
    it->m = m;
    it->jo = *jo;
    snprintf(it->configs, sizeof(it->configs), "%s", jo->configs_dir ? jo->configs_dir : "");
    snprintf(it->worker, sizeof(it->worker), "%s", jo->worker ? jo->worker : "ditfarm-worker");
    snprintf(it->backend, sizeof(it->backend), "%s", jo->backend ? jo->backend : "");
    it->jo.configs_dir = it->configs[0] ? it->configs : NULL;
    it->jo.worker = it->worker;
    it->jo.backend = it->backend[0] ? it->backend : NULL;
    snprintf(it->date, sizeof(it->date), "%s", date);
    it->next = next;
    struct intake **tail = &d->intake;
    while (*tail)
        tail = &(*tail)->link;
    *tail = it;
    return 0;
}

static void prepare_one(struct daemon *d, struct intake *it, struct job_shot *rec, int64_t now)
{
    const struct shot *s = &it->m->shots[it->next - 1];
    struct jobspec js;
    struct df_err err = {0};
    enum job_event ev;
    if (jobspec_write(&it->jo, it->m, s, it->date, d->cfg.jobs_dir, &js, &err) < 0) {
        ev = job_on_prepare_error(rec, err.msg, now);
    } else {
        serve_reset_job_dir(js.dir, s->id);
        ev = job_on_intake(rec, now);
    }
    struct df_err aerr = {0};
    if (daemon_apply(d, rec, JOB_STATE_PREPARING, ev, &aerr) < 0)
        DF_ERROR(d->log, "shot %s/%s: %s", rec->manifest, rec->shot, aerr.msg);
}

void intake_step(struct daemon *d, int budget_ms)
{
    struct intake *it = d->intake;
    if (!it)
        return;
    int64_t t0 = df_clock_ms(), now = time(NULL);
    while (it->next < it->m->n_shots && df_clock_ms() - t0 < budget_ms) {
        const struct shot *s = &it->m->shots[it->next++];
        struct job_shot rec;
        struct df_err err = {0};
        int rc = store_shot_find(d->st, it->mrow, s->id, &rec, &err);
        if (rc < 0)
            DF_ERROR(d->log, "intake: %s", err.msg);
        else if (rec.state == JOB_STATE_PREPARING) /* else cancelled meanwhile */
            prepare_one(d, it, &rec, now);
    }
    if (it->next < it->m->n_shots)
        return;
    DF_INFO(d->log, "manifest %s: all %zu job directories written", it->m->name,
            it->m->n_shots);
    d->intake = it->link;
    manifest_free(it->m);
    free(it);
}

void intake_abandon(struct daemon *d)
{
    struct job_shot *act = NULL;
    size_t n = 0;
    struct df_err err = {0};
    if (store_shots_list(d->st, STORE_ACTIVE, &act, &n, &err) < 0) {
        DF_ERROR(d->log, "intake: %s", err.msg);
        return;
    }
    int64_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        if (act[i].state != JOB_STATE_PREPARING)
            continue;
        enum job_event ev = job_on_prepare_error(
            &act[i],
            "the daemon stopped before this shot's job directory was written: submit the "
            "manifest again",
            now);
        if (daemon_apply(d, &act[i], JOB_STATE_PREPARING, ev, &err) < 0)
            DF_ERROR(d->log, "%s", err.msg);
    }
    free(act);
}

void intake_free_all(struct daemon *d)
{
    while (d->intake) {
        struct intake *it = d->intake;
        d->intake = it->link;
        manifest_free(it->m);
        free(it);
    }
}
