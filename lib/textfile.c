/* textfile.c -- read a whole small text file (textfile.h). */
#include "textfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int textfile_read(const char *path, size_t max_bytes, char **out, size_t *len, struct df_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return df_err_errno(err, errno == ENOENT ? DF_E_NOTFOUND : DF_E_IO, "%s: cannot open",
                            path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 16384;
            char *grown = realloc(buf, cap);
            if (!grown) {
                rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (n > max_bytes) {
            rc = df_err_set(err, DF_E_RANGE, "%s: larger than %zu bytes", path, max_bytes);
            break;
        }
        if (got < 4096)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = df_err_set(err, DF_E_IO, "%s: read error", path);
    fclose(f);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}
