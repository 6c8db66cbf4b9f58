/* plan_cache.c -- a shot's step-cache plan from the worker (plan_cache.h). */
#include "plan_cache.h"

#include "jobspec.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Single-quote s for sh into dst. */
static int quote(const char *s, char *dst, size_t cap)
{
    size_t n = 0;
    if (cap < 3)
        return -1;
    dst[n++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : (char[]){*s, 0};
        size_t len = strlen(piece);
        if (n + len + 2 > cap)
            return -1;
        memcpy(dst + n, piece, len);
        n += len;
    }
    dst[n++] = '\'';
    dst[n] = '\0';
    return 0;
}

int plan_cache_predict(const char *manifest, const char *shot_id, struct cJSON **out,
                       struct df_err *err)
{
    char worker[PATH_MAX], qw[PATH_MAX * 2], qm[PATH_MAX * 2], qs[256], cmd[PATH_MAX * 5];
    const char *env = getenv("DITFARM_WORKER");
    jobspec_find_worker(env && *env ? env : NULL, worker, sizeof(worker));
    if (quote(worker, qw, sizeof(qw)) || quote(manifest, qm, sizeof(qm)) ||
        quote(shot_id, qs, sizeof(qs)))
        return df_err_set(err, DF_E_RANGE, "path too long for the cache-plan command");
    /* the worker's error line (stderr) follows its JSON (stdout) */
    snprintf(cmd, sizeof(cmd), "DITFARM_LOG=error %s cache-plan %s --shot %s --json 2>&1", qw, qm,
             qs);
    FILE *p = popen(cmd, "r");
    if (!p)
        return df_err_errno(err, DF_E_NOTFOUND, "cannot run %s", worker);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        pclose(p);
        return df_err_set(err, DF_E_NOMEM, "out of memory");
    }
    n = fread(buf, 1, cap - 1, p);
    buf[n] = '\0';
    int status = pclose(p);
    cJSON *j = status == 0 ? cJSON_Parse(buf) : NULL;
    int rc = 0;
    if (!j) {
        /* keep the worker's last line: it says why */
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        char *last = strrchr(buf, '\n');
        rc = df_err_set(err, status == 0 ? DF_E_PARSE : DF_E_NOTFOUND, "%s",
                        n ? (last ? last + 1 : buf) : "ditfarm-worker cache-plan printed nothing");
    }
    free(buf);
    *out = j;
    return rc;
}
