/* text_html.c -- HTML character references, two ways:
 *   text_html_unescape  Python's html.unescape(): named references with or
 *                       without ';' (longest known prefix for the legacy names),
 *                       numeric ones with the HTML5 replacements for invalid
 *                       numbers;
 *   text_ftfy_unescape  ftfy's unescape_html(): only "&name;" (plus upper-cased
 *                       names ftfy accepts) and numeric references ended by ';'.
 * The tables (HTML5 names, invalid references) are generated from Python's
 * html module into text_tables.c. */
#include "text_int.h"

#include <string.h>

static const char *entity(const struct text_entity *t, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, t[mid].name);
        if (c == 0)
            return t[mid].value;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Code points v[0..n) as a NUL-terminated UTF-8 name; 0 if it does not fit. */
static int name_of(const uint32_t *v, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k + 5 > cap)
            return 0;
        k += utf8_encode(v[i], out + k);
    }
    out[k] = '\0';
    return 1;
}

static int is_hex(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hexval(uint32_t c)
{
    return c <= '9' ? (int)(c - '0') : c <= 'F' ? (int)(c - 'A' + 10) : (int)(c - 'a' + 10);
}

/* Python's _replace_charref for a numeric reference of value num. */
static int push_numeric(struct ustr *out, uint64_t num)
{
    for (size_t i = 0; i < text_invalid_charrefs_n; i++)
        if (text_invalid_charrefs[i].cp == num)
            return ustr_push_utf8(out, text_invalid_charrefs[i].value);
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
        return ustr_push(out, 0xFFFD);
    for (size_t i = 0; i < text_invalid_codepoints_n; i++)
        if (text_invalid_codepoints[i] == num)
            return 0;
    return ustr_push(out, (uint32_t)num);
}

/* Parse digits at v[i..n) in base 10 or 16; saturates past U+10FFFF. */
static size_t digits(const uint32_t *v, size_t n, size_t i, int hex, uint64_t *num)
{
    *num = 0;
    size_t k = i;
    while (k < n && (hex ? is_hex(v[k]) : (v[k] >= '0' && v[k] <= '9'))) {
        *num = *num * (hex ? 16 : 10) + (uint64_t)(hex ? hexval(v[k]) : (int)(v[k] - '0'));
        if (*num > 0x110000)
            *num = 0x110000;
        k++;
    }
    return k - i;
}

static int named_char(uint32_t c)
{
    return !(c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' ||
             c == ';');
}

int text_html_unescape(const struct ustr *in, struct ustr *out)
{
    const uint32_t *v = in->v;
    size_t n = in->n, i = 0;
    out->n = 0;
    while (i < n) {
        if (v[i] != '&') {
            DF_TRY(ustr_push(out, v[i++]));
            continue;
        }
        size_t j = i + 1;
        if (j < n && v[j] == '#') {
            int hex = j + 1 < n && (v[j + 1] == 'x' || v[j + 1] == 'X');
            size_t d0 = j + 1 + (size_t)hex;
            uint64_t num;
            size_t nd = digits(v, n, d0, hex, &num);
            if (nd == 0) {
                DF_TRY(ustr_push(out, v[i++]));
                continue;
            }
            size_t end = d0 + nd;
            if (end < n && v[end] == ';')
                end++;
            DF_TRY(push_numeric(out, num));
            i = end;
            continue;
        }
        size_t k = j;
        while (k < n && k - j < 32 && named_char(v[k]))
            k++;
        if (k == j) {
            DF_TRY(ustr_push(out, v[i++]));
            continue;
        }
        size_t end = k < n && v[k] == ';' ? k + 1 : k; /* group(1) is v[j..end) */
        char name[160];
        const char *val = NULL;
        size_t x = end - j;
        if (name_of(v + j, x, name, sizeof(name)))
            val = entity(text_entities, text_entities_n, name);
        while (!val && --x >= 2) /* longest known prefix, at least 2 characters */
            if (name_of(v + j, x, name, sizeof(name)))
                val = entity(text_entities, text_entities_n, name);
        if (!val) {
            for (size_t t = i; t < end; t++)
                DF_TRY(ustr_push(out, v[t]));
        } else {
            DF_TRY(ustr_push_utf8(out, val));
            for (size_t t = j + x; t < end; t++)
                DF_TRY(ustr_push(out, v[t]));
        }
        i = end;
    }
    return 0;
}

static int alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int text_ftfy_unescape(const struct ustr *in, struct ustr *out)
{
    const uint32_t *v = in->v;
    size_t n = in->n, i = 0;
    out->n = 0;
    while (i < n) {
        /* &#?[0-9A-Za-z]{1,24}; */
        size_t j = i + 1, k;
        int num = 0;
        if (v[i] != '&')
            goto literal;
        if (j < n && v[j] == '#' && j + 1 < n && alnum(v[j + 1])) {
            num = 1;
            j++;
        }
        for (k = j; k < n && k - j < 24 && alnum(v[k]); k++)
            ;
        if (k == j || k >= n || v[k] != ';')
            goto literal;
        char name[64];
        name_of(v + j, k + 1 - j, name, sizeof(name));
        const char *val = num ? NULL : entity(text_entities, text_entities_n, name);
        if (!val && !num)
            val = entity(text_entities_upper, text_entities_upper_n, name);
        if (val) {
            DF_TRY(ustr_push_utf8(out, val));
        } else if (num) {
            /* html.unescape of the match; kept as is when it leaves a ';' */
            struct ustr m = {(uint32_t *)(uintptr_t)(v + i), k + 1 - i, 0}, r = {0};
            int rc = text_html_unescape(&m, &r);
            int has_semi = 0;
            for (size_t t = 0; rc == 0 && t < r.n; t++)
                has_semi |= r.v[t] == ';';
            for (size_t t = 0; rc == 0 && t < (has_semi ? k + 1 - i : r.n); t++)
                rc = ustr_push(out, has_semi ? v[i + t] : r.v[t]);
            ustr_free(&r);
            DF_TRY(rc);
        } else {
            for (size_t t = i; t <= k; t++)
                DF_TRY(ustr_push(out, v[t]));
        }
        i = k + 1;
        continue;
    literal:
        DF_TRY(ustr_push(out, v[i++]));
    }
    return 0;
}
