/* notify.c -- webhook queue and delivery with libcurl (see notify.h). */
#include "notify.h"

#include "hmac.h"
#include "safeio.h"
#include "url.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
    /* URLs hold no blanks (url_parse refuses them at load), so the list
     * splits back into exactly the URLs it was made of */
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

/* ---- signing key ------------------------------------------------------------- */

static int key_create(const char *path, struct df_err *err)
{
    unsigned char raw[32];
    char hex[65];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return df_err_errno(err, DF_E_IO, "no random bytes for %s", path);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[64] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return df_err_errno(err, DF_E_IO, "cannot create %s", path);
    int ok = write(fd, hex, 65) == 65;
    ok &= close(fd) == 0;
    memset(raw, 0, sizeof(raw));
    return ok ? 0 : df_err_errno(err, DF_E_IO, "cannot write %s", path);
}

int notify_key_load(const struct config *c, struct notify_key *key, struct df_err *err)
{
    char path[PATH_MAX + 32];
    memset(key, 0, sizeof(*key));
    if (c->webhook_secret_file[0])
        snprintf(path, sizeof(path), "%s", c->webhook_secret_file);
    else
        snprintf(path, sizeof(path), "%.4000s/webhook.secret", c->state_dir);
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT && !c->webhook_secret_file[0])
        DF_TRY(key_create(path, err));
    if (lstat(path, &st) != 0)
        return df_err_errno(err, DF_E_IO, "webhook secret %s", path);
    DF_FAIL_IF(!S_ISREG(st.st_mode), err, DF_E_INVAL,
               "webhook secret %s is not a regular file (a link?)", path);
    DF_FAIL_IF(st.st_uid != geteuid(), err, DF_E_INVAL,
               "webhook secret %s belongs to uid %d, not to this daemon's user", path,
               (int)st.st_uid);
    DF_FAIL_IF(st.st_mode & 077, err, DF_E_INVAL,
               "webhook secret %s is readable by others (mode %03o): chmod 600 it", path,
               (unsigned)(st.st_mode & 0777));
    char *text = NULL;
    size_t len = 0;
    DF_TRY(safeio_read_at(AT_FDCWD, path, sizeof(key->k), &text, &len, err));
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    int rc = 0;
    if (len < 16)
        rc = df_err_set(err, DF_E_INVAL, "webhook secret %s: at least 16 bytes wanted", path);
    else
        memcpy(key->k, text, len), key->n = len;
    memset(text, 0, len);
    free(text);
    return rc;
}

void notify_sign(const struct notify_key *key, long long t, const char *body, char *dst,
                 size_t cap)
{
    char ts[24];
    int tn = snprintf(ts, sizeof(ts), "%lld.", t);
    struct hmac_sha256 h;
    unsigned char mac[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    hmac_sha256_init(&h, key->k, key->n);
    hmac_sha256_update(&h, ts, (size_t)tn);
    hmac_sha256_update(&h, body, strlen(body));
    hmac_sha256_final(&h, mac);
    sha256_hex(mac, hex);
    snprintf(dst, cap, "sha256=%s", hex);
}

/* ---- where a webhook may go ------------------------------------------------------ */

static int v4_private(uint32_t a) /* host byte order */
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    return b0 == 0 || b0 == 10 || b0 == 127 || (b0 == 100 && (b1 & 0xc0) == 64) ||
           (b0 == 169 && b1 == 254) || (b0 == 172 && (b1 & 0xf0) == 16) ||
           (b0 == 192 && b1 == 168) || (b0 == 192 && b1 == 0 && (uint8_t)(a >> 8) == 0) ||
           (b0 == 198 && (b1 & 0xfe) == 18) || b0 >= 224;
}

int notify_addr_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return v4_private(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6)
        return 1; /* nothing else is a webhook target */
    const uint8_t *b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    static const uint8_t zero[16];
    int mapped = memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff;
    if (mapped || (memcmp(b, zero, 12) == 0 && (b[12] | b[13]) != 0)) /* v4-mapped/compatible */
        return v4_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 |
                          b[15]);
    return memcmp(b, zero, 15) == 0 ||             /* :: and ::1 */
           (b[0] & 0xfe) == 0xfc ||                /* fc00::/7 unique local */
           (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 link-local */
           (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) || /* fec0::/10 site-local */
           b[0] == 0xff ||                         /* multicast */
           (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) || /* documentation */
           (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b);   /* NAT64 */
}

static void addr_text(const struct sockaddr *sa, char *dst, size_t cap)
{
    const void *a = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, a, dst, (socklen_t)cap))
        snprintf(dst, cap, "?");
}

/* Resolve the host; refuse non-public addresses unless allowed; the first
 * address becomes the pin "host:port:addr" for CURLOPT_RESOLVE. */
static int resolve_target(const struct config *c, const struct url_parts *u, const char *shown,
                          char *pin, size_t cap, struct df_err *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%d", u->port);
    int g = getaddrinfo(u->host, port, &hints, &res);
    if (g != 0)
        return df_err_set(err, DF_E_IO, "POST %s: cannot resolve %s: %s", shown, u->host,
                          gai_strerror(g));
    int rc = 0;
    char first[INET6_ADDRSTRLEN] = "";
    for (struct addrinfo *a = res; a && rc == 0; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN];
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
            continue;
        addr_text(a->ai_addr, text, sizeof(text));
        if (!c->webhook_allow_private && notify_addr_private(a->ai_addr))
            rc = df_err_set(err, DF_E_INVAL,
                            "POST %s: %s is a loopback, private or link-local address (%s): "
                            "refused (set webhook-allow-private 1 to allow)",
                            shown, u->host, text);
        else if (!first[0])
            snprintf(first, sizeof(first), "%s", a->ai_family == AF_INET6 ? "" : text),
                snprintf(first + strlen(first), sizeof(first) - strlen(first), "%s",
                         a->ai_family == AF_INET6 ? text : "");
    }
    freeaddrinfo(res);
    if (rc == 0 && !first[0])
        rc = df_err_set(err, DF_E_IO, "POST %s: %s has no address", shown, u->host);
    if (rc == 0)
        snprintf(pin, cap, strchr(first, ':') ? "%s:%d:[%s]" : "%s:%d:%s", u->host, u->port,
                 first);
    return rc;
}

/* Checked again as curl opens its socket: whatever resolved it, a refused
 * address gets no connection. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    const struct config *c = ud;
    (void)purpose;
    if (!c->webhook_allow_private && notify_addr_private(&a->addr))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int notify_post(const struct config *c, const struct notify_key *key, const char *url,
                const char *body, struct df_err *err)
{
    char shown[URL_MAX_LEN], pin[512], sig[96], hts[64], hsig[128];
    struct url_parts u;
    url_redact(url, shown, sizeof(shown));
    DF_TRY(url_parse(url, &u, err));
    DF_TRY(resolve_target(c, &u, shown, pin, sizeof(pin), err));
    CURL *h = curl_easy_init();
    if (!h)
        return df_err_set(err, DF_E_NOMEM, "POST %s: cannot create a curl handle", shown);
    long long now = (long long)time(NULL);
    notify_sign(key, now, body, sig, sizeof(sig));
    snprintf(hts, sizeof(hts), "X-Ditfarm-Timestamp: %lld", now);
    snprintf(hsig, sizeof(hsig), "X-Ditfarm-Signature: %s", sig);
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = hdr ? curl_slist_append(hdr, hts) : NULL;
    hdr = hdr ? curl_slist_append(hdr, hsig) : NULL;
    struct curl_slist *resolve = curl_slist_append(NULL, pin);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect could lead anywhere */
    curl_easy_setopt(h, CURLOPT_PROXY, "");          /* no proxy from the environment */
    curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, (void *)c);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->webhook_timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->webhook_connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM inside the daemon */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ditfarmd");
    CURLcode cc = hdr && resolve ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_slist_free_all(resolve);
    curl_easy_cleanup(h);
    /* curl's own words unless they quote a URL (ours is shown redacted) */
    if (cc != CURLE_OK)
        return df_err_set(err, DF_E_IO, "POST %s: %s", shown,
                          cerr[0] && !strstr(cerr, "://") && !strchr(cerr, '?')
                              ? cerr
                              : curl_easy_strerror(cc));
    if (status < 200 || status > 299)
        return df_err_set(err, DF_E_IO, "POST %s: HTTP %ld", shown, status);
    return 0;
}

int notify_flush(store_t *st, const struct config *c, const struct notify_key *key, int64_t now,
                 struct notify_report *rep, struct df_err *err)
{
    memset(rep, 0, sizeof(*rep));
    struct store_event *ev = NULL;
    size_t n = 0;
    DF_TRY(store_events_due(st, now, c->webhook_batch, &ev, &n, err));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct df_err perr = {0};
        int prc = notify_post(c, key, ev[i].url, ev[i].body, &perr), ok = prc == 0;
        /* a refused URL or target stays refused: no retries */
        int refused = prc == DF_E_INVAL;
        int tries = ev[i].tries + 1, give_up = !ok && (refused || tries >= c->webhook_max_tries);
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
                     perr.msg, ev[i].kind, tries, c->webhook_max_tries,
                     refused ? ": refused, dropped" : give_up ? ": dropped" : "");
            if (rep->n_errors < NOTIFY_REPORT_ERRORS)
                snprintf(rep->errors[rep->n_errors++], sizeof(rep->errors[0]), "%s",
                         rep->last_error);
        }
    }
    store_events_free(ev, n);
    return rc;
}
