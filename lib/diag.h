/*
 * diag.h -- a list of located diagnostics, for parsers that report every
 * problem of an input in one run instead of stopping at the first.
 *
 * A validator appends to a `struct diag_list` as it goes; the caller prints
 * every entry (one line each, "file:line:col: error: key.path: message") and
 * the function's `struct df_err` carries only the summary.
 *
 *     struct diag_list dl = {0};
 *     if (manifest_load(path, NULL, &m, &dl, &err) < 0)
 *         for (size_t i = 0; i < dl.count; i++) {
 *             char line[DIAG_LINE_CAP];
 *             diag_format(&dl.items[i], line, sizeof(line));
 *             puts(line);
 *         }
 *     diag_list_clear(&dl);
 *
 * The list keeps at most DIAG_MAX entries (so a hostile input cannot make it
 * grow without bound); `dropped` counts the rest.  Identical diagnostics (same
 * place and text) are kept once.
 */
#ifndef DF_DIAG_H
#define DF_DIAG_H

#include <stddef.h>

enum diag_severity {
    DIAG_SEVERITY_ERROR,
    DIAG_SEVERITY_WARNING,
    DIAG_SEVERITY_COUNT
};

/* "error", "warning"; "?" when out of range. */
const char *diag_severity_name(enum diag_severity s);

#define DIAG_MAX 200
#define DIAG_LINE_CAP 1600

struct diag {
    enum diag_severity severity;
    char file[512]; /* the file as the user named it ("" when none) */
    int line;       /* 1-based; 0 when the problem has no position */
    int col;        /* 1-based; 0 when unknown */
    char path[128]; /* key path "shots[3].output.codec", "" for the whole file */
    char msg[768];  /* what is wrong and, where possible, what would be right */
};

struct diag_list {
    struct diag *items; /* count entries, owned by the list */
    size_t count;
    size_t cap;
    size_t errors;  /* entries of severity error, dropped ones included */
    size_t dropped; /* entries not kept because the list was full */
};

/* Append a diagnostic.  `list` may be NULL (then nothing is kept).  Never
 * fails: when memory runs out the entry counts as dropped. */
void diag_add(struct diag_list *list, enum diag_severity sev, const char *file, int line, int col,
              const char *path, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Write one line, without newline: "file:line:col: error: path: msg" (parts
 * that are empty are left out).  Returns the length that was needed, as
 * snprintf does. */
int diag_format(const struct diag *d, char *dst, size_t cap);

/* Free the entries and zero the list (it can be reused).  NULL is fine. */
void diag_list_clear(struct diag_list *list);

#endif /* DF_DIAG_H */
