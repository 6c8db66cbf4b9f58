/* progress.c -- progress and cache hit rate from a job directory (see progress.h). */
#include "progress.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAIL_BYTES 65536 /* the last step line is near the end of the log */

int progress_parse(const char *text, unsigned long len, struct progress *p)
{
    int found = 0;
    for (unsigned long i = 0; i + 5 < len; i++) {
        if (memcmp(text + i, "step ", 5) != 0)
            continue;
        int a, b, used = 0;
        /* the text is not NUL-terminated at len: copy the line */
        char line[256];
        unsigned long k = 0;
        while (i + 5 + k < len && k < sizeof(line) - 1 && text[i + 5 + k] != '\n')
            line[k] = text[i + 5 + k], k++;
        line[k] = '\0';
        if (sscanf(line, "%d/%d%n", &a, &b, &used) != 2 || b <= 0 || a < 0 || a > b)
            continue;
        p->step = a, p->steps = b;
        p->eta[0] = '\0';
        const char *eta = strstr(line + used, "ETA ");
        if (eta)
            sscanf(eta + 4, "%31s", p->eta);
        found = 1;
    }
    return found;
}

static void read_log(const char *path, struct progress *p)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    char *buf = malloc(TAIL_BYTES);
    if (buf && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        long from = size > TAIL_BYTES ? size - TAIL_BYTES : 0;
        if (fseek(f, from, SEEK_SET) == 0) {
            size_t n = fread(buf, 1, TAIL_BYTES, f);
            progress_parse(buf, n, p);
        }
    }
    free(buf);
    fclose(f);
}

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

void progress_read(const char *job_dir, const char *job_id, const char *output, struct progress *p)
{
    memset(p, 0, sizeof(*p));
    p->cache_hit = -1;
    if (job_id && job_id[0]) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/logs/slurm-%s.out", job_dir, job_id);
        read_log(path, p);
    }
    if (output && output[0])
        read_cache_rate(output, p);
}
