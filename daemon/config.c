/* config.c -- ditfarmd's directive table and its parser (see config.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INT_ROW(k, lo, hi, def, field, help)                                                       \
    {                                                                                              \
        k, CONFIG_TYPE_INT, lo, hi, #def, offsetof(struct config, field), help                     \
    }
#define STR_ROW(k, def, field, help)                                                               \
    {                                                                                              \
        k, CONFIG_TYPE_STRING, 0, sizeof(((struct config *)0)->field), def,                        \
            offsetof(struct config, field), help                                                   \
    }

const struct config_row config_table[] = {
    STR_ROW("state-dir", "", state_dir,
            "Where the store (ditfarmd.db), the control socket (ditfarmd.sock) and the\n"
            "submitted manifests live.  Empty: $DITFARM_STATE_DIR, else\n"
            "~/.local/state/ditfarm.  --state-dir overrides it."),
    STR_ROW("jobs-dir", "", jobs_dir,
            "Job directories <jobs-dir>/<manifest>/<shot> (script, logs, checkpoints).\n"
            "Must be visible from the compute nodes.  Empty: <state-dir>/jobs."),
    STR_ROW("output-roots", "", output_roots,
            "Directories outputs may be written to, separated by ':' (absolute).  A\n"
            "relative output path goes under the first; an absolute one must lie under\n"
            "one of them; '..' and symbolic links leading out are refused.  Empty: the\n"
            "daemon user's home directory."),
    INT_ROW("max-shots", 1, 1000000, 10000, max_shots,
            "Shots one manifest may hold; a bigger one is refused at submit."),
    INT_ROW("ckpt-keep-done-hours", 0, 100000, 24, ckpt_keep_done_hours,
            "Checkpoints of a done shot are removed this many hours after it\n"
            "finished (the video exists).  0 keeps them forever."),
    INT_ROW("ckpt-keep-failed-hours", 0, 100000, 168, ckpt_keep_failed_hours,
            "The same for failed and cancelled shots, whose checkpoints a retry\n"
            "resumes from.  0 keeps them forever."),
    INT_ROW("ckpt-gc-interval-s", 10, 86400, 3600, ckpt_gc_interval_s,
            "How often finished job directories are checked for checkpoints to remove."),
    INT_ROW("client-timeout-ms", 100, 600000, 10000, client_timeout_ms,
            "A control-socket client must send its request and read the reply within\n"
            "this time, else it is dropped (a slow client never holds the loop)."),
    INT_ROW("client-max-request", 1024, 268435456, 67108864, client_max_request,
            "Largest control request in bytes (a submit carries the whole normalized\n"
            "manifest); a longer one is answered with an error."),
    STR_ROW("notify-url", "", notify_url,
            "A webhook that receives every event (shot and node), in addition to each\n"
            "shot's own `notify:` URLs.  Empty: none."),
    INT_ROW("tick-ms", 10, 10000, 200, tick_ms,
            "Loop period: the longest the daemon sleeps waiting for a client."),
    INT_ROW("squeue-interval-ms", 100, 600000, 2000, squeue_interval_ms,
            "How often job states are read from Slurm (squeue).  Keep it well below\n"
            "Slurm's MinJobAge (300 s by default), after which Slurm forgets a job."),
    INT_ROW("sinfo-interval-ms", 100, 600000, 10000, sinfo_interval_ms,
            "How often node states are read (sinfo); a node turning drain/down/fail\n"
            "is logged and notified."),
    INT_ROW("submit-interval-ms", 100, 600000, 1000, submit_interval_ms,
            "How often shots that are ready (dependencies done, retry time reached)\n"
            "are submitted with sbatch."),
    INT_ROW("sbatch-timeout-s", 1, 600, 30, sbatch_timeout_s,
            "The longest one sbatch, squeue, sinfo or scancel call may take."),
    INT_ROW("submit-retry-base-s", 1, 3600, 5, submit_retry_base_s,
            "First wait before sbatch is tried again when Slurm is unreachable;\n"
            "doubles on each failure."),
    INT_ROW("submit-retry-max-s", 1, 86400, 300, submit_retry_max_s,
            "Longest wait between sbatch attempts (retries never stop)."),
    INT_ROW("max-attempts", 1, 100, 3, max_attempts,
            "Job submissions per shot: a job that ended unfinished but left a\n"
            "checkpoint is resubmitted (and resumes) while attempts remain."),
    INT_ROW("webhook-interval-ms", 50, 600000, 500, webhook_interval_ms,
            "How often the webhook queue is flushed."),
    INT_ROW("webhook-timeout-ms", 100, 120000, 3000, webhook_timeout_ms,
            "The longest one webhook POST may take."),
    INT_ROW("webhook-connect-timeout-ms", 100, 60000, 1000, webhook_connect_timeout_ms,
            "The longest its connect phase may take."),
    INT_ROW("webhook-retry-base-s", 1, 3600, 2, webhook_retry_base_s,
            "First wait before a failed POST is retried; doubles on each failure."),
    INT_ROW("webhook-retry-max-s", 1, 86400, 300, webhook_retry_max_s,
            "Longest wait between two tries of one event."),
    INT_ROW("webhook-max-tries", 1, 1000, 20, webhook_max_tries,
            "Tries before an event is marked dropped (it stays in the store)."),
    INT_ROW("webhook-batch", 1, 1000, 8, webhook_batch,
            "POSTs per flush at most, so a slow receiver cannot hold the loop."),
    INT_ROW("webhook-allow-private", 0, 1, 0, webhook_allow_private,
            "1 lets webhooks go to loopback, private (10/8, 172.16/12, 192.168/16,\n"
            "fc00::/7), link-local (169.254/16, fe80::/10: cloud metadata) and other\n"
            "non-public addresses.  0 (default) refuses them: a manifest author cannot\n"
            "make the daemon reach services only it can reach."),
    STR_ROW("webhook-secret-file", "", webhook_secret_file,
            "The key every webhook is signed with (HMAC-SHA256, see docs/security.md):\n"
            "a file of the daemon's user, mode 0600, at least 16 bytes.  Empty:\n"
            "<state-dir>/webhook.secret, created with a random key on first start."),
    STR_ROW("http-listen", "", http_listen,
            "ADDR:PORT for the HTTP API (/api/v1/), /metrics, /healthz and the web\n"
            "page (docs/api.md), e.g. 127.0.0.1:8470.  Empty: no HTTP at all."),
    STR_ROW("http-tls-cert", "", http_tls_cert,
            "PEM certificate file; with http-tls-key the HTTP side speaks only TLS."),
    STR_ROW("http-tls-key", "", http_tls_key, "PEM private key file of http-tls-cert."),
    INT_ROW("http-max-clients", 1, 4096, 64, http_max_clients,
            "HTTP connections at once (one thread each); more are refused at accept."),
    INT_ROW("http-max-clients-per-ip", 1, 4096, 32, http_max_clients_per_ip,
            "Of them, from one client address."),
    INT_ROW("http-timeout-s", 1, 3600, 15, http_timeout_s,
            "An HTTP connection idle this long is closed (slow clients)."),
    INT_ROW("http-request-deadline-s", 1, 3600, 10, http_request_deadline_s,
            "An HTTP request (headers and body) not whole this long after it began\n"
            "(accept, or the previous reply) is cut: trickling clients hold a slot no longer."),
    INT_ROW("http-max-body", 1024, 268435456, 1048576, http_max_body,
            "Largest request body in bytes (a manifest); larger gets 413."),
    {NULL, CONFIG_TYPE_COUNT, 0, 0, NULL, 0, NULL},
};

/* '_' and '-' are the same in keys: http_listen names http-listen. */
static int key_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (*a != *b && !((*a == '_' || *a == '-') && (*b == '_' || *b == '-')))
            return 0;
    return *a == *b;
}

static const struct config_row *find(const char *key)
{
    for (const struct config_row *r = config_table; r->key; r++)
        if (key_eq(r->key, key))
            return r;
    return NULL;
}

int config_set(struct config *c, const char *key, const char *value, struct df_err *err)
{
    const struct config_row *r = find(key);
    if (!r)
        return df_err_set(err, DF_E_NOTFOUND, "unknown directive '%s'", key);
    char *field = (char *)c + r->offset;
    if (r->type == CONFIG_TYPE_STRING) {
        if (strlen(value) >= (size_t)r->hi)
            return df_err_set(err, DF_E_RANGE, "%s: value longer than %ld bytes", key, r->hi - 1);
        memcpy(field, value, strlen(value) + 1);
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (end == value || *end || errno)
        return df_err_set(err, DF_E_INVAL, "%s: expected an integer, got '%s'", key, value);
    if (v < r->lo || v > r->hi)
        return df_err_set(err, DF_E_RANGE, "%s: %ld is out of range %ld..%ld", key, v, r->lo,
                          r->hi);
    *(int *)(void *)field = (int)v;
    return 0;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    for (const struct config_row *r = config_table; r->key; r++) {
        int rc = config_set(c, r->key, r->def, NULL);
        (void)rc;
        if (rc < 0)
            abort(); /* a bad default is the programmer's mistake (test_config catches it) */
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int config_load_file(struct config *c, const char *path, struct df_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return df_err_errno(err, DF_E_IO, "cannot open %s", path);
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *key = s, *val = s + strcspn(s, " \t");
        if (*val)
            *val++ = '\0';
        val = trim(val);
        /* "" stands for an empty string value */
        if (strcmp(val, "\"\"") == 0)
            val[0] = '\0';
        if ((rc = config_set(c, key, val, err)) < 0)
            df_err_prefix(err, "%s:%d", path, lineno);
    }
    fclose(f);
    return rc;
}

int config_write(const struct config *c, FILE *out, struct df_err *err)
{
    fprintf(out, "# ditfarmd configuration: \"directive value\" per line, '#' starts a comment.\n"
                 "# Every directive is listed with its default; `ditfarmd --print-config`\n"
                 "# prints the values in effect.  \"\" is an empty value.\n");
    for (const struct config_row *r = config_table; r->key; r++) {
        fprintf(out, "\n");
        for (const char *h = r->help; *h;) {
            size_t n = strcspn(h, "\n");
            fprintf(out, "# %.*s\n", (int)n, h);
            h += n + (h[n] == '\n');
        }
        const char *field = (const char *)c + r->offset;
        if (r->type == CONFIG_TYPE_INT)
            fprintf(out, "# (integer %ld..%ld, default %s)\n%s %d\n", r->lo, r->hi, r->def, r->key,
                    *(const int *)(const void *)field);
        else
            fprintf(out, "%s %s\n", r->key, field[0] ? field : "\"\"");
    }
    if (ferror(out))
        return df_err_set(err, DF_E_IO, "cannot write the configuration");
    return 0;
}
