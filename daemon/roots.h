/*
 * roots.h -- where job directories and outputs may be written.
 *
 * Job directories go under one jobs root: `jobs-dir` in ditfarmd.conf for the
 * daemon; for `ditfarm sbatch`, --jobs-dir, else $DITFARM_JOBS_DIR, else
 * <state-dir>/jobs (the daemon's default), never the current directory.
 *
 * Outputs go under output roots (a ':'-separated list): `output-roots` in
 * ditfarmd.conf; for `ditfarm sbatch`, --output-root, else
 * $DITFARM_OUTPUT_ROOTS, else the current directory (where relative output
 * paths always landed).  A relative output path resolves under the first
 * root; an absolute one must lie under one of them; ".." components are
 * refused at load (manifest_shot.c) and symlinks that lead out are refused
 * here (paths_confine).  See docs/security.md.
 *
 *     if (roots_confine_outputs(m, "/srv/renders:/tmp", date, 1, &err) < 0) ...
 */
#ifndef DF_ROOTS_H
#define DF_ROOTS_H

#include "err.h"
#include "manifest.h"

#include <stddef.h>

/* The CLI's default jobs root (see above).  Returns 0 or ctl_state_dir's error. */
int roots_jobs_default(char *dst, size_t cap, struct df_err *err);

/* The CLI's default output roots (see above).  Returns 0 or DF_E_IO / DF_E_RANGE. */
int roots_output_default(char *dst, size_t cap, struct df_err *err);

/* Make every shot's output path absolute under `roots` (each shot's
 * output.path template is rewritten) and, when enforce is set, refuse a path
 * outside them, checking the path expanded for `date` against links.
 * enforce = 0 only makes relative paths absolute (the client of a daemon,
 * which enforces its own roots).  Returns 0 or DF_E_INVAL naming the shot. */
int roots_confine_outputs(struct manifest *m, const char *roots, const char *date, int enforce,
                          struct df_err *err);

#endif /* DF_ROOTS_H */
