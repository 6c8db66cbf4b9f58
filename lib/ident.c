/* ident.c -- the identifier rule (see ident.h). */
#include "ident.h"

#include <stdio.h>
#include <string.h>

int ident_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n > IDENT_MAX_LEN || s[0] == '.' || s[0] == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

void ident_escape(const char *s, char *dst, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && o + 1 < cap; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
            dst[o++] = (char)*p;
            continue;
        }
        if (o + 5 >= cap)
            break;
        o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", *p);
    }
    dst[o] = '\0';
}

int ident_check(const char *what, const char *s, struct df_err *err)
{
    if (ident_valid(s))
        return 0;
    char shown[80];
    ident_escape(s, shown, sizeof(shown));
    return df_err_set(err, DF_E_INVAL, "invalid %s '%s' (" IDENT_RULE ")", what, shown);
}
