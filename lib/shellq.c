/* shellq.c -- shell quoting (see shellq.h). */
#include "shellq.h"
#include "ident.h"

#include <string.h>

int shellq_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

int shellq_quote(const char *s, char *dst, size_t cap, struct df_err *err)
{
    if (shellq_has_control(s)) {
        char shown[96];
        ident_escape(s, shown, sizeof(shown));
        return df_err_set(err, DF_E_INVAL,
                          "'%s' holds a newline or control character: refused for a script",
                          shown);
    }
    size_t o = 0;
    if (cap < 3)
        return df_err_set(err, DF_E_RANGE, "no room to quote '%.64s'", s);
    dst[o++] = '\'';
    for (const char *p = s; *p; p++) {
        const char *piece = *p == '\'' ? "'\\''" : NULL;
        size_t n = piece ? 4 : 1;
        if (o + n + 2 > cap)
            return df_err_set(err, DF_E_RANGE, "'%.64s...' too long to quote (%zu bytes at most)",
                              s, cap);
        memcpy(dst + o, piece ? piece : p, n);
        o += n;
    }
    dst[o++] = '\'';
    dst[o] = '\0';
    return 0;
}

int shellq_append(const char *s, char *dst, size_t cap, struct df_err *err)
{
    size_t len = strlen(dst);
    if (len + 1 >= cap)
        return df_err_set(err, DF_E_RANGE, "no room to quote '%.64s'", s);
    dst[len] = ' ';
    int rc = shellq_quote(s, dst + len + 1, cap - len - 1, err);
    if (rc < 0)
        dst[len] = '\0';
    return rc;
}
