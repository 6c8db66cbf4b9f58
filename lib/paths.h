/*
 * paths.h -- where ditfarm finds its data files (the configs/ directory).
 *
 * One lookup order for every program, so that `ditfarm validate` run from a
 * build tree, an installed binary and the tests all agree:
 *   1. an explicit directory (a `--configs DIR` option),
 *   2. $DITFARM_CONFIGS,
 *   3. <directory of the running executable>/../../configs (build/daemon/ditfarm
 *      inside the source tree),
 *   4. DITFARM_SOURCE_DIR/configs (compiled in, from df_version.h).
 * The first that names a directory with a models/ subdirectory wins (1 and 2
 * must be valid when given: a typo there is an error, not a fallback).
 *
 *     char dir[PATH_MAX];
 *     if (paths_configs_dir(opt_configs, dir, sizeof(dir), &err) < 0) ...
 */
#ifndef DF_PATHS_H
#define DF_PATHS_H

#include "err.h"

#include <stddef.h>

/* Write the absolute configs directory to dst.  Returns 0, DF_E_NOTFOUND when
 * no candidate exists (the message lists what was tried), DF_E_RANGE when
 * dst_cap is too small. */
int paths_configs_dir(const char *explicit_dir, char *dst, size_t dst_cap, struct df_err *err);

/* Join dir and a relative path ("dir/rel"); an absolute rel is copied as is.
 * Returns 0 or DF_E_RANGE when it does not fit. */
int paths_join(const char *dir, const char *rel, char *dst, size_t dst_cap, struct df_err *err);

/* The directory part of path, made absolute (against the current directory)
 * without resolving links.  Returns 0, DF_E_RANGE or DF_E_IO. */
int paths_dirname_abs(const char *path, char *dst, size_t dst_cap, struct df_err *err);

/* mkdir -p: create `dir` and every missing parent (mode 0755).  Returns 0,
 * DF_E_IO naming the directory that could not be made, or DF_E_RANGE. */
int paths_mkdirs(const char *dir, struct df_err *err);

/* mkdir -p of the directory part of `file` (nothing for a bare name). */
int paths_mkdirs_for(const char *file, struct df_err *err);

#endif /* DF_PATHS_H */
