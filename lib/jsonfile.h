/*
 * jsonfile.h -- JSON files that other processes read while we write them
 * (job.json, progress.json, manifest.json): written whole under a temporary
 * name in the same directory, then rename()d over the old one, so a reader
 * sees the old file or the new one, never half of one.
 *
 *     cJSON *o = ...;
 *     if (jsonfile_write(path, o, &err) < 0) ...   // o stays the caller's
 *     cJSON *back = NULL;
 *     if (jsonfile_read(path, 1 << 20, &back, &err) < 0) ...
 */
#ifndef DF_JSONFILE_H
#define DF_JSONFILE_H

#include "err.h"

#include <stddef.h>

struct cJSON;

/* Write `o` (pretty-printed, newline-terminated) to `path` atomically
 * (<path>.tmp.<pid>, then rename).  Returns 0, DF_E_NOMEM or DF_E_IO. */
int jsonfile_write(const char *path, const struct cJSON *o, struct df_err *err);

/* Read and parse `path` (at most max_bytes).  Returns 0 and *out (caller
 * frees with cJSON_Delete), DF_E_IO/DF_E_NOTFOUND when it cannot be read,
 * DF_E_PARSE (with the byte offset) when it is not JSON. */
int jsonfile_read(const char *path, size_t max_bytes, struct cJSON **out, struct df_err *err);

#endif /* DF_JSONFILE_H */
