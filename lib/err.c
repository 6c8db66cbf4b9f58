/* err.c -- error codes, names and message helpers (see err.h). */
#include "err.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const k_names[] = {
    "success",           "invalid argument", "I/O error",
    "out of memory",     "parse error",      "unsupported",
    "corrupt data",      "out of range",     "not found",
    "communication error", "Slurm error",    "timed out",
    "internal error",
};
_Static_assert(sizeof(k_names) / sizeof(k_names[0]) == (size_t)(-DF_E_COUNT_),
               "every df_status needs a name");

const char *df_strerror(int code)
{
    if (code > 0 || code <= DF_E_COUNT_)
        return "unknown error";
    return k_names[-code];
}

int df_err_vset(struct df_err *err, int code, const char *fmt, va_list ap)
{
    assert(code < 0);
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return code;
}

int df_err_set(struct df_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    df_err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int df_err_errno(struct df_err *err, int code, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    df_err_vset(err, code, fmt, ap);
    va_end(ap);
    if (err) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(saved));
    }
    return code;
}

void df_err_prefix(struct df_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char head[256];
    char old[DF_ERR_MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Truncating the tail of a long message is acceptable; the head names the context. */
    int n = snprintf(err->msg, sizeof(err->msg), "%s: ", head);
    if (n > 0 && (size_t)n < sizeof(err->msg))
        memcpy(err->msg + n, old, strnlen(old, sizeof(err->msg) - (size_t)n - 1) + 1);
    err->msg[sizeof(err->msg) - 1] = '\0';
}

void df_err_clear(struct df_err *err)
{
    if (err) {
        err->code = DF_OK;
        err->msg[0] = '\0';
    }
}
