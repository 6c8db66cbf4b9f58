/* model_id.c -- weights fingerprint (model_id.h). */
#include "model_id.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_ID_EDGE (1u << 20)

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int hash_range(FILE *f, const char *path, long off, size_t n, unsigned char *buf,
                      uint64_t *h, struct df_err *err)
{
    if (fseek(f, off, SEEK_SET) != 0 || fread(buf, 1, n, f) != n)
        return df_err_errno(err, DF_E_IO, "%s: cannot read %zu bytes at %ld", path, n, off);
    *h = fnv(*h, buf, n);
    return 0;
}

static int hash_file(const char *dir, const char *name, int whole, unsigned char *buf,
                     uint64_t *h, struct df_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return df_err_errno(err, DF_E_NOTFOUND, "%s: cannot open", path);
    int rc = 0;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0) {
        rc = df_err_errno(err, DF_E_IO, "%s: cannot size", path);
        goto done;
    }
    *h = fnv(*h, name, strlen(name) + 1);
    *h = fnv(*h, &size, sizeof(size));
    if (whole || size <= 2 * (long)MODEL_ID_EDGE) {
        for (long off = 0; rc == 0 && off < size; off += MODEL_ID_EDGE) {
            size_t n = (size_t)(size - off < (long)MODEL_ID_EDGE ? size - off : MODEL_ID_EDGE);
            rc = hash_range(f, path, off, n, buf, h, err);
        }
        goto done;
    }
    /* the safetensors header: 8-byte length, then JSON (capped) */
    unsigned char len8[8];
    if ((rc = hash_range(f, path, 0, 8, len8, h, err)) < 0)
        goto done;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    for (uint64_t off = 8; rc == 0 && off < 8 + hlen && off < (uint64_t)size;
         off += MODEL_ID_EDGE) {
        uint64_t left = 8 + hlen - off;
        size_t n = left < MODEL_ID_EDGE ? (size_t)left : MODEL_ID_EDGE;
        if (off + n > (uint64_t)size)
            n = (size_t)((uint64_t)size - off);
        rc = hash_range(f, path, (long)off, n, buf, h, err);
    }
    if (rc == 0)
        rc = hash_range(f, path, 0, MODEL_ID_EDGE, buf, h, err);
    if (rc == 0)
        rc = hash_range(f, path, size - (long)MODEL_ID_EDGE, MODEL_ID_EDGE, buf, h, err);
done:
    fclose(f);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int model_id_weights(const char *dir, uint64_t *out, struct df_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return df_err_errno(err, DF_E_NOTFOUND, "%s: cannot open directory", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".safetensors") && !ends_with(e->d_name, ".index.json"))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(names, cap * sizeof(*names));
            if (!grown) {
                rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", dir);
                break;
            }
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    unsigned char *buf = rc == 0 ? malloc(MODEL_ID_EDGE) : NULL;
    if (rc == 0 && !buf)
        rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", dir);
    uint64_t h = 1469598103934665603ull;
    if (rc == 0)
        rc = hash_file(dir, "config.json", 1, buf, &h, err);
    if (rc == 0 && n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = hash_file(dir, names[i], ends_with(names[i], ".json"), buf, &h, err);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(buf);
    if (rc == 0)
        *out = h;
    return rc;
}
