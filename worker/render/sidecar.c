/* sidecar.c -- the JSON next to each output (see sidecar.h). */
#include "sidecar.h"

#include "df_version.h"
#include "sha256.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sidecar_path(const char *output, char *dst, size_t dst_cap, struct df_err *err)
{
    size_t n = strlen(output);
    while (n > 1 && output[n - 1] == '/')
        n--;
    int w = snprintf(dst, dst_cap, "%.*s.json", (int)n, output);
    DF_FAIL_IF(w < 0 || (size_t)w >= dst_cap, err, DF_E_RANGE, "sidecar: path of '%s' too long",
               output);
    return 0;
}

/* Regular files only: a stray subdirectory is not part of the sequence. */
static int is_regular(const struct dirent *e)
{
    return e->d_name[0] != '.' && (e->d_type == DT_REG || e->d_type == DT_UNKNOWN);
}

static int checksum_dir(const char *dir, struct sha256 *h, uint64_t *bytes, struct df_err *err)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_regular, alphasort);
    if (n < 0)
        return df_err_errno(err, DF_E_IO, "sidecar: list '%s'", dir);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4352];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        uint64_t nb = 0;
        if (rc == 0 && (rc = sha256_update_file(h, path, &nb, err)) == 0)
            *bytes += nb;
        free(names[i]);
    }
    free(names);
    return rc;
}

int sidecar_checksum(const char *output, char hex[65], uint64_t *bytes, struct df_err *err)
{
    struct stat st;
    if (stat(output, &st) < 0)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "sidecar: output '%s'",
                            output);
    struct sha256 h;
    sha256_init(&h);
    uint64_t total = 0;
    if (S_ISDIR(st.st_mode))
        DF_TRY(checksum_dir(output, &h, &total, err));
    else
        DF_TRY(sha256_update_file(&h, output, &total, err));
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_final(&h, d);
    sha256_hex(d, hex);
    if (bytes)
        *bytes = total;
    return S_ISDIR(st.st_mode) ? 1 : 0;
}

/* ---- JSON ----------------------------------------------------------------- */

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

static cJSON *time_or_null(time_t t)
{
    if (t == 0)
        return cJSON_CreateNull();
    struct tm tm;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return cJSON_CreateString(buf);
}

static cJSON *video_json(const struct sidecar_info *si)
{
    cJSON *v = cJSON_CreateObject();
    const struct encode_result *r = si->encode;
    char fps[32];
    snprintf(fps, sizeof(fps), "%d/%d", si->fps_num, si->fps_den);
    cJSON_AddNumberToObject(v, "width", si->width);
    cJSON_AddNumberToObject(v, "height", si->height);
    cJSON_AddNumberToObject(v, "frames", r ? (double)r->frames : 0);
    cJSON_AddStringToObject(v, "fps", fps);
    cJSON_AddItemToObject(v, "codec", str_or_null(si->codec));
    cJSON_AddItemToObject(v, "encoder", str_or_null(r ? r->encoder : NULL));
    cJSON_AddItemToObject(v, "container", str_or_null(r ? r->container : NULL));
    cJSON_AddItemToObject(v, "pix_fmt", str_or_null(r ? r->pix_fmt : NULL));
    if (r && r->has_audio) {
        cJSON *a = cJSON_AddObjectToObject(v, "audio");
        cJSON_AddItemToObject(a, "source", str_or_null(si->audio_source));
        cJSON_AddStringToObject(a, "mode", r->audio_copied ? "copy" : "aac");
    } else {
        cJSON_AddNullToObject(v, "audio");
    }
    return v;
}

static cJSON *build(const char *output, const struct sidecar_info *si, const char *hex,
                    uint64_t bytes, int is_dir)
{
    cJSON *j = cJSON_CreateObject();
    char num[32];
    cJSON_AddNumberToObject(j, "sidecar_version", SIDECAR_VERSION);
    cJSON_AddStringToObject(j, "ditfarm_version", DITFARM_VERSION);
    cJSON_AddItemToObject(j, "shot", str_or_null(si->shot));
    /* Raw digits: a double would round seeds above 2^53. */
    snprintf(num, sizeof(num), "%" PRIu64, si->seed);
    cJSON_AddRawToObject(j, "seed", num);
    cJSON_AddItemToObject(j, "prompt", str_or_null(si->prompt));
    cJSON_AddItemToObject(j, "text_source", str_or_null(si->text_source));
    cJSON *m = cJSON_AddObjectToObject(j, "model");
    cJSON_AddItemToObject(m, "name", str_or_null(si->model));
    cJSON_AddItemToObject(m, "weights_fingerprint", str_or_null(si->weights_hash));
    cJSON *l = cJSON_AddObjectToObject(j, "layout");
    cJSON_AddNumberToObject(l, "cfg", si->layout.cfg);
    cJSON_AddNumberToObject(l, "ulysses", si->layout.ulysses);
    cJSON_AddNumberToObject(l, "ring", si->layout.ring);
    cJSON_AddNumberToObject(l, "world", si->layout.world);
    /* what the controller planned, when the world Slurm gave differs from it */
    cJSON_AddBoolToObject(l, "replanned", si->replanned);
    if (si->planned) {
        cJSON *p = cJSON_AddObjectToObject(l, "planned");
        cJSON_AddNumberToObject(p, "cfg", si->planned->cfg);
        cJSON_AddNumberToObject(p, "ulysses", si->planned->ulysses);
        cJSON_AddNumberToObject(p, "ring", si->planned->ring);
        cJSON_AddNumberToObject(p, "world", si->planned->world);
    }
    cJSON_AddNumberToObject(j, "steps", si->steps);
    cJSON_AddItemToObject(j, "sampler", str_or_null(si->sampler));
    cJSON_AddItemToObject(j, "video", video_json(si));
    if (si->cache_plan)
        cJSON_AddItemToObject(j, "cache_plan", cJSON_Duplicate(si->cache_plan, 1));
    else
        cJSON_AddNullToObject(j, "cache_plan");
    cJSON *c = cJSON_AddArrayToObject(j, "cache");
    for (size_t i = 0; i < si->n_cache; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "branch", str_or_null(si->cache[i].branch));
        cJSON_AddNumberToObject(e, "computed", (double)si->cache[i].computed);
        cJSON_AddNumberToObject(e, "skipped", (double)si->cache[i].skipped);
        cJSON_AddItemToArray(c, e);
    }
    cJSON *t = cJSON_AddObjectToObject(j, "timings_s");
    for (size_t i = 0; i < si->n_timings; i++)
        if (si->timings[i].phase)
            cJSON_AddNumberToObject(t, si->timings[i].phase, si->timings[i].seconds);
    cJSON *o = cJSON_AddObjectToObject(j, "output");
    const char *base = strrchr(output, '/');
    char file[1024];
    snprintf(file, sizeof(file), "%s", base ? base + 1 : output);
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    cJSON_AddStringToObject(o, "sha256", hex);
    cJSON_AddStringToObject(o, "checksum_of", is_dir ? "frames in name order" : "file");
    cJSON_AddItemToObject(j, "started", time_or_null(si->started));
    cJSON_AddItemToObject(j, "finished", time_or_null(si->finished));
    cJSON_AddItemToObject(j, "written", time_or_null(time(NULL)));
    return j;
}

/* Write `text` to `tmp`, fsync, rename to `dst`, fsync the directory. */
static int write_atomic(const char *tmp, const char *dst, const char *text, struct df_err *err)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return df_err_errno(err, DF_E_IO, "sidecar: create '%s'", tmp);
    size_t left = strlen(text);
    const char *at = text;
    while (left > 0) {
        ssize_t n = write(fd, at, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto io_fail;
        at += n;
        left -= (size_t)n;
    }
    if (fsync(fd) < 0)
        goto io_fail;
    if (close(fd) < 0) {
        fd = -1;
        goto io_fail;
    }
    fd = -1;
    if (rename(tmp, dst) < 0)
        goto io_fail;
    /* Make the rename durable; the sidecar is what the daemon trusts. */
    char dir[4096];
    const char *slash = strrchr(dst, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - dst) + (slash == dst) : 1,
             slash ? dst : ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
io_fail:;
    int rc = df_err_errno(err, DF_E_IO, "sidecar: write '%s'", dst);
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

int sidecar_write(const char *output, const struct sidecar_info *si, struct df_err *err)
{
    char path[4096], tmp[4200];
    DF_TRY(sidecar_path(output, path, sizeof(path), err));
    char hex[SHA256_HEX_LEN + 1];
    uint64_t bytes = 0;
    int kind = sidecar_checksum(output, hex, &bytes, err);
    if (kind < 0)
        return kind;
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    snprintf(tmp, sizeof(tmp), "%.*s.%s.part", (int)dir_len, path, path + dir_len);
    cJSON *j = build(output, si, hex, bytes, kind == 1);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    DF_FAIL_IF(!text, err, DF_E_NOMEM, "sidecar: out of memory for '%s'", path);
    size_t n = strlen(text);
    char *with_nl = realloc(text, n + 2);
    if (!with_nl) {
        free(text);
        return df_err_set(err, DF_E_NOMEM, "sidecar: out of memory for '%s'", path);
    }
    memcpy(with_nl + n, "\n", 2);
    int rc = write_atomic(tmp, path, with_nl, err);
    free(with_nl);
    return rc;
}
