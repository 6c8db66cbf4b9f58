/* slurmq.c -- squeue/sinfo/scancel for the daemon (see slurmq.h). */
#include "slurmq.h"
#include "subproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const slurmq_jobs_argv[] = {"squeue", "-h", "-t", "all", "-o", "%i %T", NULL};
const char *const slurmq_nodes_argv[] = {"sinfo", "-h", "-N", "-o", "%N %T", NULL};

/* Run argv with a deadline, stdout and stderr together.  Returns the exit
 * status (124: timed out, 127: not found) with *out (caller frees). */
static int capture(const char *const *argv, int timeout_s, char **out)
{
    int status = 0;
    struct df_err e = {0};
    if (subproc_run(argv, SUBPROC_STDERR_MERGE, timeout_s * 1000, 8u << 20, out, &status, &e) < 0) {
        *out = strdup(e.msg);
        return e.code == DF_E_NOTFOUND ? 127 : 126;
    }
    return status;
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
    snprintf(cmd, sizeof(cmd), "scancel %s", job_id);
    const char *argv[] = {"scancel", job_id, NULL};
    int st = capture(argv, timeout_s, &text);
    int rc = st != 0 ? fail_words(cmd, st, text, err) : 0;
    free(text);
    return rc;
}

int slurmq_nice(const char *job_id, int nice, int timeout_s, struct df_err *err)
{
    if (strspn(job_id, "0123456789_") != strlen(job_id) || !job_id[0])
        return df_err_set(err, DF_E_INVAL, "scontrol: bad job id '%s'", job_id);
    char cmd[128], jid[64], nv[32], *text;
    snprintf(cmd, sizeof(cmd), "scontrol update JobId=%s Nice=%d", job_id, nice);
    snprintf(jid, sizeof(jid), "JobId=%s", job_id);
    snprintf(nv, sizeof(nv), "Nice=%d", nice);
    const char *argv[] = {"scontrol", "update", jid, nv, NULL};
    int st = capture(argv, timeout_s, &text);
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
