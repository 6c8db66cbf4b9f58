/*
 * http_shot.c -- everything about one shot for GET /api/v1/shots/{m}/{s}:
 * the summary, its state history (store), Slurm job id and layout (the job
 * script's header), checkpoints (ckpt/), the log tail, the output and its
 * sidecar, and where its preview is.
 */
#include "http_int.h"
#include "worker_exit.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DETAIL_LOG_TAIL 8192
#define SIDECAR_MAX (1 << 20)

char *http_shot_log_tail(const struct job_shot *s, size_t max, size_t *len)
{
    *len = 0;
    if (!s->job_id[0])
        return NULL;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%.4000s/logs/slurm-%s.out", s->job_dir, s->job_id);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        long from = size > (long)max ? size - (long)max : 0;
        buf = size >= 0 && fseek(f, from, SEEK_SET) == 0 ? malloc(max + 1) : NULL;
        if (buf) {
            *len = fread(buf, 1, max, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* "# Layout: ..." and the node/task counts of the job script. */
static void add_layout(cJSON *o, const struct job_shot *s)
{
    char path[PATH_MAX + 16], line[1024];
    snprintf(path, sizeof(path), "%.4000s/job.sbatch", s->job_dir);
    FILE *f = fopen(path, "r");
    int nodes = 0, per_node = 0;
    char layout[512] = "";
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "# Layout: ", 10) == 0)
            snprintf(layout, sizeof(layout), "%.500s", line + 10);
        sscanf(line, "#SBATCH --nodes=%d", &nodes);
        sscanf(line, "#SBATCH --ntasks-per-node=%d", &per_node);
    }
    if (f)
        fclose(f);
    cJSON_AddStringToObject(o, "layout", layout);
    cJSON_AddNumberToObject(o, "nodes", nodes);
    cJSON_AddNumberToObject(o, "ranks", nodes * per_node);
}

static void add_checkpoints(cJSON *o, const struct job_shot *s)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%.4000s/ckpt", s->job_dir);
    cJSON *a = cJSON_AddArrayToObject(o, "checkpoints");
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name), k = strlen(WORKER_DONE_SUFFIX);
        if (e->d_name[0] == '.' || (n > k && strcmp(e->d_name + n - k, WORKER_DONE_SUFFIX) == 0))
            continue;
        char path[PATH_MAX + 300];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "file", e->d_name);
        cJSON_AddNumberToObject(c, "bytes", (double)st.st_size);
        cJSON_AddNumberToObject(c, "mtime", (double)st.st_mtime);
        cJSON_AddItemToArray(a, c);
    }
    if (d)
        closedir(d);
}

static void add_history(cJSON *o, struct http_reader *rd, const struct job_shot *s)
{
    struct store_change *c = NULL;
    size_t n = 0;
    cJSON *a = cJSON_AddArrayToObject(o, "history");
    if (store_history_since(rd->st, 0, s->row, 1000, &c, &n, NULL) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "at", (double)c[i].at);
        cJSON_AddStringToObject(e, "from", c[i].from);
        cJSON_AddStringToObject(e, "state", c[i].state);
        cJSON_AddStringToObject(e, "job_id", c[i].job_id);
        cJSON_AddStringToObject(e, "reason", c[i].reason);
        cJSON_AddItemToArray(a, e);
    }
    free(c);
}

static void add_outputs(cJSON *o, const struct job_shot *s)
{
    cJSON *out = cJSON_AddObjectToObject(o, "outputs");
    struct stat st;
    cJSON_AddStringToObject(out, "video", s->output);
    if (s->output[0] && stat(s->output, &st) == 0)
        cJSON_AddNumberToObject(out, "bytes", (double)st.st_size);
    else
        cJSON_AddNullToObject(out, "bytes");
    char path[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%.4090s.json", s->output);
    cJSON *sidecar = NULL;
    FILE *f = s->output[0] ? fopen(path, "rb") : NULL;
    if (f) {
        char *buf = malloc(SIDECAR_MAX + 1);
        size_t n = buf ? fread(buf, 1, SIDECAR_MAX, f) : 0;
        if (buf) {
            buf[n] = '\0';
            sidecar = cJSON_Parse(buf);
        }
        free(buf);
        fclose(f);
    }
    cJSON_AddStringToObject(out, "sidecar_path", s->output[0] ? path : "");
    cJSON_AddItemToObject(o, "sidecar", sidecar ? sidecar : cJSON_CreateNull());
}

void *http_shot_detail(struct http_server *h, struct http_reader *rd, const struct job_shot *s)
{
    cJSON *o = http_shot_summary(h, s);
    cJSON_AddStringToObject(o, "job_dir", s->job_dir);
    add_layout(o, s);
    add_history(o, rd, s);
    add_checkpoints(o, s);
    size_t len = 0;
    char *tail = http_shot_log_tail(s, DETAIL_LOG_TAIL, &len);
    cJSON_AddStringToObject(o, "log_tail", tail ? tail : "");
    free(tail);
    add_outputs(o, s);
    char path[PATH_MAX + 32], url[256];
    struct stat st;
    snprintf(path, sizeof(path), "%.4000s/preview.png", s->job_dir);
    snprintf(url, sizeof(url), "/api/v1/shots/%s/%s/preview.png", s->manifest, s->shot);
    if (stat(path, &st) == 0) {
        cJSON *p = cJSON_AddObjectToObject(o, "preview");
        cJSON_AddStringToObject(p, "url", url);
        cJSON_AddNumberToObject(p, "mtime", (double)st.st_mtime);
    } else {
        cJSON_AddNullToObject(o, "preview");
    }
    return o;
}
