/* progress.c -- progress and cache hit rate from a job directory (see progress.h). */
#include "progress.h"
#include "progress_file.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_cache_rate(const char *output, struct progress *p)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s.json", output);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    const cJSON *cache = cJSON_GetObjectItemCaseSensitive(j, "cache"), *e;
    double computed = 0, skipped = 0;
    cJSON_ArrayForEach(e, cache)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "computed");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "skipped");
        if (cJSON_IsNumber(c) && cJSON_IsNumber(s))
            computed += c->valuedouble, skipped += s->valuedouble;
    }
    if (computed + skipped > 0)
        p->cache_hit = skipped / (computed + skipped);
    cJSON_Delete(j);
}

void progress_read(const char *job_dir, const char *output, struct progress *p)
{
    memset(p, 0, sizeof(*p));
    p->cache_hit = -1;
    p->seconds_per_step = -1;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", job_dir, PROGRESS_FILE_NAME);
    struct progress_file pf;
    if (progress_file_read(path, &pf, NULL) == 0) {
        p->step = pf.step, p->steps = pf.steps;
        p->seconds_per_step = pf.seconds_per_step;
        if (pf.eta_s >= 0)
            progress_file_fmt_duration(pf.eta_s, p->eta, sizeof(p->eta));
        p->cache_hit = progress_file_hit_rate(&pf);
        p->last_ckpt_step = pf.last_ckpt_step;
        snprintf(p->state, sizeof(p->state), "%s", pf.state);
    }
    if (output && output[0])
        read_cache_rate(output, p);
}
