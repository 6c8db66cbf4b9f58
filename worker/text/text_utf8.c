/* text_utf8.c -- the byte-level helpers of worker/text: a growable buffer,
 * strict UTF-8 (what Rust's str and Python's decoder accept: no overlongs,
 * no surrogates, nothing past U+10FFFF), the two whitespace sets the
 * tokenizer and prompt_clean need, and base64. */
#include "text_int.h"

#include <stdlib.h>
#include <string.h>

int tbuf_put(struct tbuf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return DF_E_NOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int tbuf_putc(struct tbuf *b, uint32_t cp)
{
    char u[4];
    return tbuf_put(b, u, utf8_encode(cp, u));
}

void tbuf_free(struct tbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

uint32_t utf8_decode(const char *s, size_t n, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t l = utf8_len(u[0]);
    if (l > n)
        l = n; /* cannot happen on valid input; keeps reads in bounds */
    uint32_t cp = l == 1 ? u[0] : l == 2 ? u[0] & 0x1F : l == 3 ? u[0] & 0x0F : u[0] & 0x07;
    for (size_t i = 1; i < l; i++)
        cp = (cp << 6) | (u[i] & 0x3F);
    *len = l;
    return cp;
}

size_t utf8_invalid_at(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t l;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF)
            l = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            l = 3;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            l = 4;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else
            return i;
        if (i + 1 >= n || u[i + 1] < lo || u[i + 1] > hi)
            return i;
        for (size_t k = 2; k < l; k++)
            if (i + k >= n || (u[i + k] & 0xC0) != 0x80)
                return i;
        i += l;
    }
    return n;
}

size_t utf8_encode(uint32_t cp, char *out)
{
    unsigned char *u = (unsigned char *)out;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int uni_is_white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

int uni_is_word(uint32_t cp)
{
    size_t lo = 0, hi = text_word_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < text_word_ranges[mid].lo)
            hi = mid;
        else if (cp > text_word_ranges[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

/* Python's isspace(): bidi class WS, B or S, or category Zs -- White_Space plus
 * the information separators U+001C..U+001F. */
int uni_is_py_space(uint32_t cp)
{
    return uni_is_white_space(cp) || (cp >= 0x1C && cp <= 0x1F);
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int text_base64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len,
                       const char *what, struct df_err *err)
{
    DF_FAIL_IF(n % 4 != 0, err, DF_E_PARSE, "%s: base64 length %zu is not a multiple of 4", what, n);
    size_t pad = 0;
    if (n >= 1 && s[n - 1] == '=')
        pad++;
    if (n >= 2 && s[n - 2] == '=')
        pad++;
    unsigned char *o = malloc(n / 4 * 3 + 1);
    if (!o)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", what);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            v[j] = (c == '=' && i + j >= n - pad) ? 0 : b64_val(c);
            if (v[j] < 0) {
                free(o);
                return df_err_set(err, DF_E_PARSE, "%s: invalid base64 character at offset %zu",
                                  what, i + j);
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        o[k++] = (unsigned char)(w >> 16);
        o[k++] = (unsigned char)(w >> 8);
        o[k++] = (unsigned char)w;
    }
    *out = o;
    *out_len = k - pad;
    return 0;
}
