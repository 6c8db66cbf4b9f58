/* notify.c -- webhook queue and delivery with libcurl (see notify.h). */
#include "notify.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void iso_time(int64_t t, char *dst, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(dst, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Queue body for every space-separated URL of `urls`, plus `extra`. */
static int queue_urls(store_t *st, const char *urls, const char *extra, const char *kind,
                      const char *body, int64_t now, struct df_err *err)
{
    char buf[JOB_TEXT_CAP * 2];
    snprintf(buf, sizeof(buf), "%s %s", urls, extra);
    char *save = NULL;
    for (char *u = strtok_r(buf, " ", &save); u; u = strtok_r(NULL, " ", &save))
        DF_TRY(store_event_add(st, u, kind, body, now, err));
    return 0;
}

int notify_queue_shot(store_t *st, const struct config *c, const struct job_shot *s,
                      enum job_event ev, int64_t now, struct df_err *err)
{
    if (ev == JOB_EVENT_NONE || (!s->notify[0] && !c->notify_url[0]))
        return 0;
    char when[32];
    iso_time(now, when, sizeof(when));
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "event", job_event_name(ev));
    cJSON_AddStringToObject(j, "time", when);
    cJSON_AddStringToObject(j, "manifest", s->manifest);
    cJSON_AddStringToObject(j, "shot", s->shot);
    cJSON_AddStringToObject(j, "state", job_state_name(s->state));
    cJSON_AddStringToObject(j, "job_id", s->job_id);
    cJSON_AddNumberToObject(j, "attempts", s->attempts);
    cJSON_AddStringToObject(j, "job_dir", s->job_dir);
    if (ev == JOB_EVENT_DONE) {
        char sidecar[PATH_MAX + 8];
        snprintf(sidecar, sizeof(sidecar), "%s.json", s->output);
        cJSON_AddStringToObject(j, "output", s->output);
        cJSON_AddStringToObject(j, "sidecar", sidecar);
    }
    if (s->reason[0])
        cJSON_AddStringToObject(j, "reason", s->reason);
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!body)
        return df_err_set(err, DF_E_NOMEM, "out of memory building a webhook");
    int rc = queue_urls(st, s->notify, c->notify_url, job_event_name(ev), body, now, err);
    free(body);
    return rc;
}

int notify_queue_node(store_t *st, const struct config *c, const char *node, const char *state,
                      const char *previous, int64_t now, struct df_err *err)
{
    char when[32], kind[96];
    iso_time(now, when, sizeof(when));
    /* "drained*" / "down~": Slurm's flag characters are not part of the name */
    snprintf(kind, sizeof(kind), "node.%.*s", (int)strcspn(state, "*~#!%$@^-+"), state);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "event", kind);
    cJSON_AddStringToObject(j, "time", when);
    cJSON_AddStringToObject(j, "node", node);
    cJSON_AddStringToObject(j, "state", state);
    cJSON_AddStringToObject(j, "previous", previous);
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!body)
        return df_err_set(err, DF_E_NOMEM, "out of memory building a webhook");
    /* every URL that some active shot listens on, once */
    struct job_shot *list = NULL;
    size_t n = 0;
    int rc = store_shots_list(st, STORE_ACTIVE, &list, &n, err);
    char urls[JOB_TEXT_CAP * 2] = "";
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char buf[JOB_TEXT_CAP], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", list[i].notify);
        for (char *u = strtok_r(buf, " ", &save); u; u = strtok_r(NULL, " ", &save)) {
            char padded[JOB_TEXT_CAP + 2];
            snprintf(padded, sizeof(padded), " %s ", u);
            char hay[JOB_TEXT_CAP * 2 + 2];
            snprintf(hay, sizeof(hay), " %s ", urls);
            if (!strstr(hay, padded) && strlen(urls) + strlen(u) + 2 < sizeof(urls))
                strcat(strcat(urls, urls[0] ? " " : ""), u);
        }
    }
    free(list);
    if (rc == 0)
        rc = queue_urls(st, urls, c->notify_url, kind, body, now, err);
    free(body);
    return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int notify_post(const struct config *c, const char *url, const char *body, struct df_err *err)
{
    CURL *h = curl_easy_init();
    if (!h)
        return df_err_set(err, DF_E_NOMEM, "POST %s: cannot create a curl handle", url);
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->webhook_timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->webhook_connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM inside the daemon */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ditfarmd");
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK)
        return df_err_set(err, DF_E_IO, "POST %s: %s", url,
                          cerr[0] ? cerr : curl_easy_strerror(cc));
    if (status < 200 || status > 299)
        return df_err_set(err, DF_E_IO, "POST %s: HTTP %ld", url, status);
    return 0;
}

int notify_flush(store_t *st, const struct config *c, int64_t now, struct notify_report *rep,
                 struct df_err *err)
{
    memset(rep, 0, sizeof(*rep));
    struct store_event *ev = NULL;
    size_t n = 0;
    DF_TRY(store_events_due(st, now, c->webhook_batch, &ev, &n, err));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct df_err perr = {0};
        int ok = notify_post(c, ev[i].url, ev[i].body, &perr) == 0;
        int tries = ev[i].tries + 1, give_up = !ok && tries >= c->webhook_max_tries;
        int64_t wait = c->webhook_retry_base_s;
        for (int k = 1; k < tries && wait < c->webhook_retry_max_s; k++)
            wait *= 2;
        if (wait > c->webhook_retry_max_s)
            wait = c->webhook_retry_max_s;
        rc = store_event_result(st, ev[i].row, ok, give_up, perr.msg, now + wait, now, err);
        if (ok) {
            rep->sent++;
        } else {
            rep->failed++;
            rep->dropped += give_up;
            snprintf(rep->last_error, sizeof(rep->last_error), "%.1000s (%.60s, try %d of %d%s)",
                     perr.msg, ev[i].kind, tries, c->webhook_max_tries, give_up ? ": dropped" : "");
        }
    }
    store_events_free(ev, n);
    return rc;
}
