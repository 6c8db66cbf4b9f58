/*
 * ckpt_dir.c -- a shot's checkpoints in a directory: names, listing, finding
 * the newest valid one, pruning.
 *
 * Names: "ckpt-<shot>-<step:06d>.dfck" for committed files, and
 * "<that>.tmp-<pid>-<stamp>" while being written.  Shot ids may contain '-',
 * so a name is split at its LAST '-' before the step digits; for a given shot
 * the match is exact ("ckpt-a-b-000040.dfck" is never shot "a").
 *
 * Rules (see docs/checkpoint.md):
 *   - temp files are never resume candidates; a commit of the same shot
 *     removes them (one writer per shot at a time: rank 0 of its one job);
 *   - pruning after a commit at step s keeps the new file and the newest
 *     keep_last-1 files below s, and never removes files above s: those
 *     exist only when a resume skipped them as invalid, and they are evidence
 *     worth keeping until a person looks (find_latest keeps skipping them).
 */
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PREFIX "ckpt-"
#define SUFFIX ".dfck"
#define TMP_MARK ".dfck.tmp-"

int ckpt_file_name(const char *shot_id, int64_t step, char *dst, size_t cap, struct df_err *err)
{
    int n = snprintf(dst, cap, PREFIX "%s-%06" PRId64 SUFFIX, shot_id, step);
    DF_FAIL_IF(n < 0 || (size_t)n >= cap, err, DF_E_RANGE,
               "checkpoint file name for shot '%s' does not fit %zu bytes", shot_id, cap);
    return 0;
}

static int shot_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* Parse "<shot>-<digits>" of length n. */
static int parse_stem(const char *stem, size_t n, char shot_id[CKPT_SHOT_ID_CAP], int64_t *step)
{
    const char *dash = NULL;
    for (size_t i = 0; i < n; i++)
        if (stem[i] == '-')
            dash = stem + i;
    if (!dash || dash == stem)
        return 0;
    size_t shot_n = (size_t)(dash - stem), digits = n - shot_n - 1;
    if (shot_n >= CKPT_SHOT_ID_CAP || digits == 0 || digits > 18 || stem[0] == '.')
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < digits; i++) {
        char c = dash[1 + i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    for (size_t i = 0; i < shot_n; i++)
        if (!shot_char_ok(stem[i]))
            return 0;
    memcpy(shot_id, stem, shot_n);
    shot_id[shot_n] = '\0';
    *step = v;
    return 1;
}

enum ckpt_name_type ckpt_name_parse(const char *name, char shot_id[CKPT_SHOT_ID_CAP],
                                    int64_t *step)
{
    size_t n = strlen(name), pn = strlen(PREFIX), sn = strlen(SUFFIX);
    if (n <= pn + sn || strncmp(name, PREFIX, pn) != 0)
        return CKPT_NAME_OTHER;
    if (strcmp(name + n - sn, SUFFIX) == 0)
        return parse_stem(name + pn, n - pn - sn, shot_id, step) ? CKPT_NAME_FINAL
                                                                 : CKPT_NAME_OTHER;
    /* The last TMP_MARK: the "-<pid>-<stamp>" tail contains no '.'. */
    const char *mark = NULL;
    for (const char *p = strstr(name, TMP_MARK); p; p = strstr(p + 1, TMP_MARK))
        mark = p;
    if (!mark || mark < name + pn)
        return CKPT_NAME_OTHER;
    return parse_stem(name + pn, (size_t)(mark - name) - pn, shot_id, step) ? CKPT_NAME_TEMP
                                                                            : CKPT_NAME_OTHER;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct ckpt_dir_entry *x = a, *y = b;
    int c = strcmp(x->shot_id, y->shot_id);
    if (c)
        return c;
    if (x->step != y->step)
        return x->step > y->step ? -1 : 1;
    return strcmp(x->name, y->name);
}

int ckpt_dir_list(const char *dir, const char *shot_id, struct ckpt_dir_entry **out, size_t *n,
                  struct df_err *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO,
                            "open checkpoint directory %s", dir);
    struct ckpt_dir_entry *v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct ckpt_dir_entry e = {0};
        if (strlen(de->d_name) >= sizeof(e.name))
            continue;
        e.type = ckpt_name_parse(de->d_name, e.shot_id, &e.step);
        if (e.type == CKPT_NAME_OTHER || (shot_id && strcmp(e.shot_id, shot_id) != 0))
            continue;
        memcpy(e.name, de->d_name, strlen(de->d_name) + 1);
        if (len == cap) {
            cap = cap ? 2 * cap : 16;
            struct ckpt_dir_entry *p = realloc(v, cap * sizeof(*p));
            if (!p) {
                rc = df_err_set(err, DF_E_NOMEM, "listing %s: out of memory", dir);
                break;
            }
            v = p;
        }
        v[len++] = e;
    }
    closedir(d);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (len)
        qsort(v, len, sizeof(*v), entry_cmp);
    *out = v;
    *n = len;
    return 0;
}

static void skip_add(struct ckpt_skip_report *sk, const char *file, const char *reason)
{
    if (!sk)
        return;
    if (sk->n >= CKPT_SKIP_MAX) {
        sk->n_dropped++;
        return;
    }
    snprintf(sk->items[sk->n].file, sizeof(sk->items[sk->n].file), "%s", file);
    snprintf(sk->items[sk->n].reason, sizeof(sk->items[sk->n].reason), "%s", reason);
    sk->n++;
}

/* Open `path` and check it belongs to the shot; on failure err holds the
 * reason without the path. */
/* Strip a "PATH: " prefix from err: the skip report names the file. */
static void strip_path(const char *path, struct df_err *err)
{
    size_t pl = strlen(path);
    if (err && strncmp(err->msg, path, pl) == 0 && strncmp(err->msg + pl, ": ", 2) == 0)
        memmove(err->msg, err->msg + pl + 2, strlen(err->msg + pl + 2) + 1);
}

/* Open `path`, check it belongs to the shot and that every section decodes
 * to its checksum; on failure err holds the reason without the path. */
static int candidate_ok(const char *path, const char *shot_id, uint64_t shot_hash,
                        uint64_t weights_hash, uint64_t max_raw, struct df_err *err)
{
    ckpt_reader_t *r;
    int rc = ckpt_open_max(path, max_raw, &r, err);
    if (rc == 0) {
        rc = ckpt_check_identity(r, shot_id, shot_hash, weights_hash, err);
        if (rc == 0)
            rc = ckpt_verify_payloads(r, err);
        ckpt_close(r);
    }
    if (rc < 0)
        strip_path(path, err);
    return rc;
}

int ckpt_find_latest(const char *dir, const char *shot_id, uint64_t shot_hash,
                     uint64_t weights_hash, char *path, size_t cap,
                     struct ckpt_skip_report *skips, struct df_err *err)
{
    return ckpt_find_latest_max(dir, shot_id, shot_hash, weights_hash, 0, path, cap, skips, err);
}

int ckpt_find_latest_max(const char *dir, const char *shot_id, uint64_t shot_hash,
                         uint64_t weights_hash, uint64_t max_raw, char *path, size_t cap,
                         struct ckpt_skip_report *skips, struct df_err *err)
{
    if (skips)
        memset(skips, 0, sizeof(*skips));
    struct ckpt_dir_entry *v;
    size_t n;
    DF_TRY(ckpt_dir_list(dir, shot_id, &v, &n, err));
    int skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].type != CKPT_NAME_FINAL)
            continue;
        char full[4096 + 256];
        snprintf(full, sizeof(full), "%s/%s", dir, v[i].name);
        struct df_err why = {0};
        if (candidate_ok(full, shot_id, shot_hash, weights_hash, max_raw, &why) < 0) {
            skip_add(skips, v[i].name, why.msg);
            skipped++;
            continue;
        }
        int len = snprintf(path, cap, "%s", full);
        free(v);
        DF_FAIL_IF(len < 0 || (size_t)len >= cap, err, DF_E_RANGE,
                   "checkpoint path %s does not fit %zu bytes", full, cap);
        return 0;
    }
    free(v);
    return df_err_set(err, DF_E_NOTFOUND, "no valid checkpoint of shot '%s' in %s (%d skipped)",
                      shot_id, dir, skipped);
}

int ckpt_dir_prune(const char *dir, const char *shot_id, int64_t step, int keep_last,
                   int *pruned, int *tmp_removed, struct df_err *err)
{
    if (pruned)
        *pruned = 0;
    if (tmp_removed)
        *tmp_removed = 0;
    struct ckpt_dir_entry *v;
    size_t n;
    DF_TRY(ckpt_dir_list(dir, shot_id, &v, &n, err));
    int kept_older = 0, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int remove = 0;
        if (v[i].type == CKPT_NAME_TEMP)
            remove = 1;
        else if (v[i].step < step && keep_last > 0)
            remove = ++kept_older > keep_last - 1; /* v is newest first */
        if (!remove)
            continue;
        char full[4096 + 256];
        snprintf(full, sizeof(full), "%s/%s", dir, v[i].name);
        if (unlink(full) < 0 && errno != ENOENT) {
            rc = df_err_errno(err, DF_E_IO, "remove %s", full);
            break;
        }
        int *count = v[i].type == CKPT_NAME_TEMP ? tmp_removed : pruned;
        if (count)
            (*count)++;
    }
    free(v);
    return rc;
}
