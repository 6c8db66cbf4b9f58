/* jsonfile.c -- whole JSON files, written atomically (see jsonfile.h). */
#include "jsonfile.h"
#include "textfile.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int jsonfile_write(const char *path, const struct cJSON *o, struct df_err *err)
{
    char *text = cJSON_Print(o);
    DF_FAIL_IF(!text, err, DF_E_NOMEM, "out of memory writing %s", path);
    /* the pid keeps two writers of one file (ranks, a racing CLI) apart */
    char tmp[PATH_MAX + 48];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int rc = 0;
    if (!f) {
        rc = df_err_errno(err, DF_E_IO, "cannot write %s", tmp);
    } else {
        int bad = fputs(text, f) < 0 || fputc('\n', f) < 0;
        if (fclose(f) != 0 || bad)
            rc = df_err_errno(err, DF_E_IO, "cannot write %s", tmp);
        else if (rename(tmp, path) != 0)
            rc = df_err_errno(err, DF_E_IO, "cannot rename %s to %s", tmp, path);
        if (rc < 0)
            remove(tmp);
    }
    cJSON_free(text);
    return rc;
}

int jsonfile_read(const char *path, size_t max_bytes, struct cJSON **out, struct df_err *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    DF_TRY(textfile_read(path, max_bytes, &text, &len, err));
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    long at = end ? (long)(end - text) : 0;
    free(text);
    DF_FAIL_IF(!j, err, DF_E_PARSE, "%s: not valid JSON (near byte %ld)", path, at);
    *out = j;
    return 0;
}
