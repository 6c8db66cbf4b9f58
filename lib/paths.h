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

/* ---- confinement ------------------------------------------------------------ */

/* 1 when path has a ".." component ("..", "a/../b", "x/.."). */
int paths_has_dotdot(const char *path);

/* Check a path a manifest or a client gave before it is used for writing:
 * no control characters (a newline would start a new line in a script or a
 * log) and no ".." component (every ".." is refused, not only those that
 * climb out: the root check below then has a plain path to judge).  `what`
 * names it in the message ("output path").  Returns 0 or DF_E_INVAL. */
int paths_check_clean(const char *what, const char *path, struct df_err *err);

/* Resolve `path` under the directory `root`: a relative path is joined to
 * root; the path must pass paths_check_clean, and its deepest existing
 * ancestor, with symlinks resolved, must lie inside realpath(root) (so a
 * symlink planted on the way cannot lead out).  dst gets the joined absolute
 * path with "." and "//" removed (links not resolved: the name the user
 * wrote).  Returns 0, DF_E_INVAL (outside the root, with the reason),
 * DF_E_NOTFOUND (root missing), DF_E_RANGE. */
int paths_confine(const char *root, const char *path, char *dst, size_t cap, struct df_err *err);

/* The same for a ':'-separated list of roots: relative paths go under the
 * first, an absolute one must lie under one of them.  Returns as above; the
 * message lists the roots. */
int paths_confine_any(const char *roots, const char *path, char *dst, size_t cap,
                      struct df_err *err);

#endif /* DF_PATHS_H */
