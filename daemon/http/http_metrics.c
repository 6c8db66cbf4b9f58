/*
 * http_metrics.c -- GET /metrics in the Prometheus text format (0.0.4).
 *
 *   ditfarm_shots{state="..."}                  gauge, every state listed
 *   ditfarm_steps_done_total                    steps seen completing (watcher)
 *   ditfarm_step_seconds_bucket/_sum/_count     histogram of step times (the
 *                                               shot's mean step time, per step seen)
 *   ditfarm_rank_seconds_total{backend="..."}   ranks x seconds in `running`
 *   ditfarm_gpu_seconds_total                   the same for backend cuda
 *   ditfarm_webhook_deliveries_total{status=}   events sent / dropped / pending
 *   ditfarm_webhook_failures_total              failed POST attempts
 *   ditfarm_sbatch_failures_total               since the daemon started
 *   ditfarm_slurm_reachable                     1 when the last squeue answered
 *   ditfarm_up, ditfarm_start_time_seconds
 *
 * No token: nothing here names a prompt or a path.  Counts come from the
 * store (read-only connection) and from the watcher's counters.
 */
#include "http_int.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->p ? vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (n >= 0 && cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *g = realloc(b->p, cap);
        if (!g)
            return;
        b->p = g;
        b->cap = cap;
    }
}

/* Ranks and backend of a shot from its job script. */
static int script_ranks(const struct job_shot *s, int *cuda)
{
    char path[PATH_MAX + 16], line[1024];
    snprintf(path, sizeof(path), "%.4000s/job.sbatch", s->job_dir);
    FILE *f = fopen(path, "r");
    int nodes = 0, per = 0;
    *cuda = 0;
    while (f && fgets(line, sizeof(line), f)) {
        sscanf(line, "#SBATCH --nodes=%d", &nodes);
        sscanf(line, "#SBATCH --ntasks-per-node=%d", &per);
        if (strstr(line, "--backend cuda"))
            *cuda = 1;
    }
    if (f)
        fclose(f);
    return nodes * per;
}

/* Seconds each shot spent running, from its history; x ranks. */
static void rank_seconds(store_t *st, const struct job_shot *all, size_t n, double out[2])
{
    out[0] = out[1] = 0;
    int64_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        if (all[i].attempts == 0)
            continue; /* never ran */
        struct store_change *c = NULL;
        size_t k = 0;
        if (store_history_since(st, 0, all[i].row, 10000, &c, &k, NULL) < 0)
            continue;
        double secs = 0;
        int64_t since = -1;
        for (size_t j = 0; j < k; j++) {
            if (since >= 0 && strcmp(c[j].state, "running") != 0) {
                secs += (double)(c[j].at - since);
                since = -1;
            }
            if (strcmp(c[j].state, "running") == 0 && since < 0)
                since = c[j].at;
        }
        if (since >= 0)
            secs += (double)(now - since);
        free(c);
        int cuda;
        int ranks = script_ranks(&all[i], &cuda);
        out[cuda] += secs * ranks;
    }
}

/* Webhook counts straight from the events table. */
static void webhooks(const char *db_path, int64_t v[4])
{
    memset(v, 0, 4 * sizeof(*v));
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(
            db,
            "SELECT coalesce(sum(status='sent'),0), coalesce(sum(status='dropped'),0),"
            " coalesce(sum(status='pending'),0),"
            " coalesce(sum(tries - (status='sent')),0) FROM events",
            -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        for (int i = 0; i < 4; i++)
            v[i] = sqlite3_column_int64(q, i);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

void http_metrics(struct http_server *h, struct http_reply *r)
{
    struct df_err err = {0};
    struct http_reader *rd = http_reader_get(h, &err);
    struct job_shot *all = NULL;
    size_t n = 0;
    if (!rd || store_shots_list(rd->st, STORE_ALL, &all, &n, &err) < 0) {
        http_reader_put(h, rd);
        http_reply_error(r, 500, "%s", err.msg);
        return;
    }
    double rs[2];
    rank_seconds(rd->st, all, n, rs);
    http_reader_put(h, rd);
    int by_state[JOB_STATE_COUNT] = {0};
    for (size_t i = 0; i < n; i++)
        by_state[all[i].state]++;
    free(all);
    int64_t wh[4];
    webhooks(h->db_path, wh);
    pthread_mutex_lock(&h->mu);
    struct http_counters c = h->ctr;
    struct http_stats s = h->stats;
    pthread_mutex_unlock(&h->mu);

    struct buf b = {0};
    put(&b, "# HELP ditfarm_up 1 while ditfarmd serves.\n# TYPE ditfarm_up gauge\nditfarm_up 1\n");
    put(&b,
        "# HELP ditfarm_start_time_seconds When ditfarmd started (unix time).\n"
        "# TYPE ditfarm_start_time_seconds gauge\nditfarm_start_time_seconds %lld\n",
        (long long)h->started);
    put(&b, "# HELP ditfarm_shots Shots in the store by state.\n# TYPE ditfarm_shots gauge\n");
    for (int i = 0; i < JOB_STATE_COUNT; i++)
        put(&b, "ditfarm_shots{state=\"%s\"} %d\n", job_state_name((enum job_state)i), by_state[i]);
    put(&b,
        "# HELP ditfarm_steps_done_total Denoising steps seen completing.\n"
        "# TYPE ditfarm_steps_done_total counter\nditfarm_steps_done_total %lld\n",
        (long long)c.steps_done);
    put(&b, "# HELP ditfarm_step_seconds Time of one denoising step (the shot's mean when seen).\n"
            "# TYPE ditfarm_step_seconds histogram\n");
    int64_t cum = 0;
    for (int i = 0; i < HTTP_STEP_BUCKETS; i++) {
        cum += c.step_hist[i];
        put(&b, "ditfarm_step_seconds_bucket{le=\"%g\"} %lld\n", http_step_bounds[i],
            (long long)cum);
    }
    cum += c.step_hist[HTTP_STEP_BUCKETS];
    put(&b, "ditfarm_step_seconds_bucket{le=\"+Inf\"} %lld\n", (long long)cum);
    put(&b, "ditfarm_step_seconds_sum %.6f\nditfarm_step_seconds_count %lld\n", c.step_sum,
        (long long)c.step_count);
    put(&b,
        "# HELP ditfarm_rank_seconds_total Ranks x seconds shots spent running.\n"
        "# TYPE ditfarm_rank_seconds_total counter\n"
        "ditfarm_rank_seconds_total{backend=\"cpu\"} %.0f\n"
        "ditfarm_rank_seconds_total{backend=\"cuda\"} %.0f\n",
        rs[0], rs[1]);
    put(&b,
        "# HELP ditfarm_gpu_seconds_total GPUs x seconds shots spent running.\n"
        "# TYPE ditfarm_gpu_seconds_total counter\nditfarm_gpu_seconds_total %.0f\n",
        rs[1]);
    put(&b,
        "# HELP ditfarm_webhook_deliveries_total Webhook events by outcome.\n"
        "# TYPE ditfarm_webhook_deliveries_total counter\n"
        "ditfarm_webhook_deliveries_total{status=\"sent\"} %lld\n"
        "ditfarm_webhook_deliveries_total{status=\"dropped\"} %lld\n"
        "# HELP ditfarm_webhooks_pending Webhook events waiting for delivery.\n"
        "# TYPE ditfarm_webhooks_pending gauge\nditfarm_webhooks_pending %lld\n"
        "# HELP ditfarm_webhook_failures_total Failed webhook POST attempts.\n"
        "# TYPE ditfarm_webhook_failures_total counter\nditfarm_webhook_failures_total %lld\n",
        (long long)wh[0], (long long)wh[1], (long long)wh[2], (long long)wh[3]);
    put(&b,
        "# HELP ditfarm_sbatch_failures_total sbatch calls that failed since start.\n"
        "# TYPE ditfarm_sbatch_failures_total counter\nditfarm_sbatch_failures_total %lld\n",
        (long long)s.sbatch_failures);
    put(&b,
        "# HELP ditfarm_slurm_reachable 1 when the last squeue answered.\n"
        "# TYPE ditfarm_slurm_reachable gauge\nditfarm_slurm_reachable %d\n",
        s.slurm_reachable ? 1 : 0);
    if (!b.p) {
        http_reply_error(r, 500, "out of memory");
        return;
    }
    r->status = 200;
    r->type = "text/plain; version=0.0.4; charset=utf-8";
    r->body = b.p;
    r->len = b.len;
}
