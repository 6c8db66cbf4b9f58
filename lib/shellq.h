/*
 * shellq.h -- the one way a value enters a shell script we write (the printed
 * submit script of `ditfarm sbatch`, every job.sbatch): single quotes, with a
 * quote inside written as '\''.  Inside single quotes the shell expands
 * nothing, so only the quote itself needs care.
 *
 * Newlines and other control characters are refused rather than quoted: a
 * newline inside a quoted word is legal shell, but the same value may also
 * land in an #SBATCH line or a log line, where it would start a new one.
 *
 *     char q[PATH_MAX + 8];
 *     if (shellq_quote(path, q, sizeof(q), &err) < 0) ... DF_E_INVAL / DF_E_RANGE ...
 *     fprintf(f, "sbatch %s\n", q);
 */
#ifndef DF_SHELLQ_H
#define DF_SHELLQ_H

#include "err.h"

#include <stddef.h>

/* 1 when s holds a control character (bytes 0x01..0x1f and 0x7f). */
int shellq_has_control(const char *s);

/* Write s single-quoted into dst.  Returns 0, DF_E_INVAL when s holds a
 * control character (the message names `s` escaped), DF_E_RANGE when dst is
 * too small. */
int shellq_quote(const char *s, char *dst, size_t cap, struct df_err *err);

/* Append " " + quoted s to the NUL-terminated dst.  Same returns; on error
 * dst is left as it was. */
int shellq_append(const char *s, char *dst, size_t cap, struct df_err *err);

#endif /* DF_SHELLQ_H */
