/*
 * err.h -- the one error shape of ditfarm.
 *
 * Every fallible function returns int: 0 on success, a negative DF_E_* code on
 * failure, and takes `struct df_err *err` as its last argument (may be NULL).
 * The callee writes *what* failed and *where* (file:line:col, key path, tensor
 * name, rank) into err->msg.  Callers may prefix context ("shot 3: ...") with
 * df_err_prefix() but never overwrite a message.  Library code never prints and
 * never exits: only main() and the daemon loop turn an error into output.
 *
 *     struct df_err err = {0};
 *     if (manifest_load(path, &m, &err) < 0)
 *         fprintf(stderr, "ditfarm: %s\n", err.msg);
 *
 * Code values are stable once assigned: they may appear in logs and JSON.
 */
#ifndef DF_ERR_H
#define DF_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum df_status {
    DF_OK = 0,
    DF_E_INVAL = -1,       /* bad argument or bad input value */
    DF_E_IO = -2,          /* open/read/write/fsync failed (errno text in msg) */
    DF_E_NOMEM = -3,       /* allocation failed */
    DF_E_PARSE = -4,       /* malformed file: YAML, JSON, safetensors, ... */
    DF_E_UNSUPPORTED = -5, /* valid request this build or backend cannot do */
    DF_E_CORRUPT = -6,     /* checksum/magic/version mismatch */
    DF_E_RANGE = -7,       /* number out of its allowed range */
    DF_E_NOTFOUND = -8,    /* file, key, tensor or shot missing */
    DF_E_COMM = -9,        /* collective or bootstrap failure */
    DF_E_SLURM = -10,      /* Slurm command failed or refused */
    DF_E_TIMEOUT = -11,    /* waited too long for a peer or a service */
    DF_E_INTERNAL = -12,   /* a "cannot happen" state reached from input */
    DF_E_COUNT_ = -13      /* one past the last code; keep last */
};

#define DF_ERR_MSG_CAP 1024

struct df_err {
    int code;                 /* enum df_status of the first failure */
    char msg[DF_ERR_MSG_CAP]; /* what and where, NUL-terminated */
};

/* Name of a code ("invalid argument", ...); never NULL. */
const char *df_strerror(int code);

/* Record a failure; returns `code` so callers can `return df_err_set(...)`.
 * err may be NULL. */
int df_err_set(struct df_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int df_err_vset(struct df_err *err, int code, const char *fmt, va_list ap);

/* Like df_err_set, appending ": strerror(errno)" (errno captured on entry). */
int df_err_errno(struct df_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context to an existing message: "ctx: old message". */
void df_err_prefix(struct df_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset to success. */
void df_err_clear(struct df_err *err);

/* One-line checks in the spirit of zstd's RETURN_ERROR_IF / FORWARD_IF_ERROR. */
#define DF_FAIL_IF(cond, err, code, ...)                                                           \
    do {                                                                                           \
        if (cond)                                                                                  \
            return df_err_set((err), (code), __VA_ARGS__);                                         \
    } while (0)

#define DF_TRY(expr)                                                                               \
    do {                                                                                           \
        int df_try_rc_ = (expr);                                                                   \
        if (df_try_rc_ < 0)                                                                        \
            return df_try_rc_;                                                                     \
    } while (0)

#endif /* DF_ERR_H */
