/* slurmq.c -- squeue/sinfo/scancel for the daemon (see slurmq.h). */
#include "slurmq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Run `timeout T cmd 2>&1`, collecting its output (up to cap-1 bytes are kept,
 * the rest is read and dropped).  Returns the exit status or -1. */
static int capture(const char *cmd, int timeout_s, char **out, size_t *len)
{
    char full[1024];
    snprintf(full, sizeof(full), "timeout %d %s 2>&1", timeout_s, cmd);
    FILE *p = popen(full, "r");
    *out = NULL;
    *len = 0;
    if (!p)
        return -1;
    size_t cap = 0;
    char chunk[4096];
    for (size_t got; (got = fread(chunk, 1, sizeof(chunk), p)) > 0;) {
        if (*len + got + 1 > cap) {
            size_t ncap = (cap ? cap * 2 : 8192) + got;
            char *grown = realloc(*out, ncap);
            if (!grown)
                break;
            *out = grown;
            cap = ncap;
        }
        memcpy(*out + *len, chunk, got);
        *len += got;
    }
    if (*out)
        (*out)[*len] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int fail_words(const char *what, int status, const char *text, struct df_err *err)
{
    size_t n = text ? strlen(text) : 0;
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        n--;
    int rc = df_err_set(err, DF_E_SLURM, "%s: %.*s", what, n ? (int)n : 40,
                        n               ? text
                        : status == 124 ? "no answer in time"
                                        : "failed with no output");
    return rc;
}

/* Two whitespace-separated words per line; other lines are skipped. */
static int parse_pairs(char *text, int dedup, struct slurmq_item **out, size_t *n,
                       struct df_err *err)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char a[64], b[48], extra[2];
        if (sscanf(line, "%63s %47s %1s", a, b, extra) != 2)
            continue;
        if (dedup && slurmq_lookup(*out, *n, a))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            struct slurmq_item *grown = realloc(*out, cap * sizeof(**out));
            if (!grown) {
                free(*out);
                *out = NULL;
                *n = 0;
                return df_err_set(err, DF_E_NOMEM, "out of memory reading Slurm's answer");
            }
            *out = grown;
        }
        snprintf((*out)[*n].name, sizeof((*out)[*n].name), "%s", a);
        snprintf((*out)[*n].state, sizeof((*out)[*n].state), "%s", b);
        (*n)++;
    }
    return 0;
}

int slurmq_parse(const char *cmd, int status, char *text, struct slurmq_item **out, size_t *n,
                 struct df_err *err)
{
    *out = NULL;
    *n = 0;
    if (status != 0)
        return fail_words(cmd, status, text, err);
    /* sinfo -N lists a node once per partition: keep the first */
    return parse_pairs(text ? text : (char[]){0}, strncmp(cmd, "sinfo", 5) == 0, out, n, err);
}

const char *slurmq_lookup(const struct slurmq_item *items, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].name, name) == 0)
            return items[i].state;
    return NULL;
}

int slurmq_cancel(const char *job_id, int timeout_s, struct df_err *err)
{
    if (strspn(job_id, "0123456789_") != strlen(job_id) || !job_id[0])
        return df_err_set(err, DF_E_INVAL, "scancel: bad job id '%s'", job_id);
    char cmd[128], *text;
    size_t len;
    snprintf(cmd, sizeof(cmd), "scancel %s", job_id);
    int st = capture(cmd, timeout_s, &text, &len);
    int rc = st != 0 ? fail_words(cmd, st, text, err) : 0;
    free(text);
    return rc;
}

int slurmq_nice(const char *job_id, int nice, int timeout_s, struct df_err *err)
{
    if (strspn(job_id, "0123456789_") != strlen(job_id) || !job_id[0])
        return df_err_set(err, DF_E_INVAL, "scontrol: bad job id '%s'", job_id);
    char cmd[128], *text;
    size_t len;
    snprintf(cmd, sizeof(cmd), "scontrol update JobId=%s Nice=%d", job_id, nice);
    int st = capture(cmd, timeout_s, &text, &len);
    int rc = st != 0 ? fail_words(cmd, st, text, err) : 0;
    free(text);
    return rc;
}

int slurmq_node_bad(const char *state)
{
    /* "unknown" is left out: every node is unknown for a moment after
     * slurmctld restarts, which is not news */
    static const char *const bad[] = {"drain", "down", "fail", "inval", "maint", "not_responding"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strncmp(state, bad[i], strlen(bad[i])) == 0)
            return 1;
    return 0;
}
