/* plan_cache.c -- a shot's step-cache plan from the worker (plan_cache.h). */
#include "plan_cache.h"

#include "jobspec.h"
#include "subproc.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int plan_cache_predict(const char *manifest, const char *shot_id, const char *configs,
                       struct cJSON **out, struct df_err *err)
{
    char worker[PATH_MAX];
    const char *env = getenv("DITFARM_WORKER");
    jobspec_find_worker(env && *env ? env : NULL, worker, sizeof(worker));
    /* run without a shell; the worker's JSON is its stdout alone, its
     * warnings and errors (stderr) are read apart */
    const char *argv[10] = {worker, "cache-plan", manifest, "--shot", shot_id, "--json"};
    int n = 6;
    if (configs) {
        argv[n++] = "--configs";
        argv[n++] = configs;
    }
    argv[n] = NULL;
    char *text = NULL, *etext = NULL;
    int status = 0;
    DF_TRY(subproc_run2(argv, 600 * 1000, 1 << 20, &text, &etext, &status, err));
    cJSON *j = status == 0 ? cJSON_Parse(text) : NULL;
    int rc = 0;
    if (!j) {
        /* keep the worker's last error line: it says why */
        size_t len = strlen(etext);
        while (len > 0 && (etext[len - 1] == '\n' || etext[len - 1] == ' '))
            etext[--len] = '\0';
        char *last = strrchr(etext, '\n');
        if (len)
            rc = df_err_set(err, status == 0 ? DF_E_PARSE : DF_E_NOTFOUND, "%s",
                            last ? last + 1 : etext);
        else
            rc = df_err_set(err, status == 0 ? DF_E_PARSE : DF_E_NOTFOUND,
                            status == 0 ? "ditfarm-worker cache-plan printed no JSON"
                                        : "ditfarm-worker cache-plan failed (exit %d)",
                            status);
    }
    free(text);
    free(etext);
    *out = j;
    return rc;
}
