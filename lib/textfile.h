/*
 * textfile.h -- read a whole (small) text file: configs, calibration tables,
 * JSON sidecars.  One helper so every reader refuses the same things the
 * same way: a missing file (DF_E_NOTFOUND), a file larger than the caller's
 * cap (DF_E_RANGE, read before anything is parsed), a read error (DF_E_IO).
 */
#ifndef DF_TEXTFILE_H
#define DF_TEXTFILE_H

#include "err.h"

#include <stddef.h>

/* Read `path` into a NUL-terminated heap buffer (caller frees) of *len bytes
 * (len may be NULL).  Messages: "<path>: cannot open: <strerror>", "<path>:
 * larger than <max_bytes> bytes", "<path>: read error".  Returns 0 or
 * DF_E_NOTFOUND / DF_E_IO / DF_E_RANGE / DF_E_NOMEM. */
int textfile_read(const char *path, size_t max_bytes, char **out, size_t *len, struct df_err *err);

#endif
