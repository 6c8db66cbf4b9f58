/*
 * fuzz_util.h -- helpers shared by the fuzz targets whose parser reads a
 * file or a folder (model configs, shard indexes, embeddings, daemon config):
 * one scratch directory per fuzzing process, removed at exit, and a write
 * helper.  The harness keeps this one piece of process state because
 * libFuzzer's entry point takes no context.
 */
#ifndef DF_FUZZ_UTIL_H
#define DF_FUZZ_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir_path[64];

static int fuzz_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void fuzz_dir_remove(void)
{
    if (fuzz_dir_path[0])
        nftw(fuzz_dir_path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The process's scratch directory (created on first use). */
static const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "/tmp/df_fuzz_XXXXXX");
        if (!mkdtemp(fuzz_dir_path))
            abort();
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

/* "<scratch>/<rel>" into dst[cap]. */
static void fuzz_path(char *dst, size_t cap, const char *rel)
{
    snprintf(dst, cap, "%s/%s", fuzz_dir(), rel);
}

/* Write n bytes to path (replacing it); aborts on an I/O error, which is the
 * harness's fault, not the parser's. */
static void fuzz_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0)
        abort();
}

/* Split data at the first `sep` byte: part 1 is [0, *n1), part 2 the rest
 * (NULL when there is no separator). */
static const uint8_t *fuzz_split(const uint8_t *data, size_t size, uint8_t sep, size_t *n1,
                                 size_t *n2)
{
    const uint8_t *p = memchr(data, sep, size);
    *n1 = p ? (size_t)(p - data) : size;
    *n2 = p ? size - *n1 - 1 : 0;
    return p ? p + 1 : NULL;
}

#endif /* DF_FUZZ_UTIL_H */
