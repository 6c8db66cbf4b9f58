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
