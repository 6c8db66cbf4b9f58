/* diag.c -- the located diagnostics list (see diag.h). */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_sev_names[] = {"error", "warning"};
_Static_assert(sizeof(k_sev_names) / sizeof(k_sev_names[0]) == DIAG_SEVERITY_COUNT,
               "every diag_severity needs a name");

const char *diag_severity_name(enum diag_severity s)
{
    return (unsigned)s < DIAG_SEVERITY_COUNT ? k_sev_names[s] : "?";
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* A diagnostic is one line: control bytes in it (a value quoted from a
 * manifest: "debug\n#SBATCH …", an ESC sequence) become \xNN, so a manifest
 * cannot forge further "file:line:col: error" lines or drive the terminal.
 * Bytes >= 0x80 (UTF-8 text) stay. */
static void escape_controls(char *s, size_t cap)
{
    char out[sizeof(((struct diag *)0)->msg)];
    size_t o = 0, room = cap < sizeof(out) ? cap : sizeof(out);
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < room; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            out[o++] = (char)*p;
        } else if (o + 5 < room) {
            o += (size_t)snprintf(out + o, room - o, "\\x%02x", *p);
        } else {
            break;
        }
    }
    out[o] = '\0';
    memcpy(s, out, o + 1);
}

/* Same place, same text: a value merged from `defaults:` into every shot
 * would otherwise be reported once per shot. */
static int is_duplicate(const struct diag_list *list, const struct diag *d)
{
    for (size_t i = 0; i < list->count; i++) {
        const struct diag *o = &list->items[i];
        if (o->line == d->line && o->col == d->col && o->severity == d->severity &&
            strcmp(o->file, d->file) == 0 && strcmp(o->msg, d->msg) == 0)
            return 1;
    }
    return 0;
}

void diag_add(struct diag_list *list, enum diag_severity sev, const char *file, int line, int col,
              const char *path, const char *fmt, ...)
{
    if (!list)
        return;
    struct diag d;
    d.severity = sev;
    copy_str(d.file, sizeof(d.file), file);
    d.line = line;
    d.col = col;
    copy_str(d.path, sizeof(d.path), path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d.msg, sizeof(d.msg), fmt, ap);
    va_end(ap);
    escape_controls(d.msg, sizeof(d.msg));
    escape_controls(d.path, sizeof(d.path));
    if (is_duplicate(list, &d))
        return;
    if (sev == DIAG_SEVERITY_ERROR)
        list->errors++;
    if (list->count >= DIAG_MAX) {
        list->dropped++;
        return;
    }
    if (list->count == list->cap) {
        size_t ncap = list->cap ? list->cap * 2 : 8;
        struct diag *n = realloc(list->items, ncap * sizeof(*n));
        if (!n) {
            list->dropped++;
            return;
        }
        list->items = n;
        list->cap = ncap;
    }
    list->items[list->count++] = d;
}

int diag_format(const struct diag *d, char *dst, size_t cap)
{
    char where[600] = "";
    if (d->file[0] && d->line > 0)
        snprintf(where, sizeof(where), "%s:%d:%d: ", d->file, d->line, d->col);
    else if (d->file[0])
        snprintf(where, sizeof(where), "%s: ", d->file);
    return snprintf(dst, cap, "%s%s: %s%s%s", where, diag_severity_name(d->severity), d->path,
                    d->path[0] ? ": " : "", d->msg);
}

void diag_list_clear(struct diag_list *list)
{
    if (!list)
        return;
    free(list->items);
    memset(list, 0, sizeof(*list));
}
