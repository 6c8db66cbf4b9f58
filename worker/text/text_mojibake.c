/*
 * text_mojibake.c -- ftfy's fix_encoding, the part that applies to text read
 * with the wrong 8-bit encoding (UTF-8 bytes shown as Latin-1 / Windows-1252,
 * "cafÃ©").  One step, repeated until nothing changes, as ftfy does:
 *   1. ASCII text, or text ftfy's BADNESS_RE finds nothing in, is left alone;
 *   2. text that is all Latin-1, else all (sloppy) Windows-1252, and whose
 *      bytes in that encoding are valid UTF-8 is decoded as UTF-8;
 *   3. otherwise each run UTF8_DETECTOR_RE finds (mojibake embedded in other
 *      text) that is shorter than the text and itself "bad" is fixed alone;
 *   4. Latin-1 text with C1 controls is read as Windows-1252 when every byte
 *      is defined there; 5. remaining C1 controls become their Windows-1252
 *      characters.
 * Not reproduced (docs/text.md): the other encodings ftfy tries (Windows-
 * 1250/1251/1253/1254/1257, ISO-8859-2, MacRoman, cp437), restore_byte_a0,
 * replace_lossy_sequences and the utf-8-variants decoder (CESU-8, C0 80).
 * The detectors are generated from ftfy into text_tables.c.
 */
#include "text_int.h"

#include <stdlib.h>
#include <string.h>

/* Windows-1252 0x80..0x9F; 0 where undefined. */
static const uint16_t cp1252_hi[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};

uint32_t text_cp1252_c1(uint32_t c)
{
    return c >= 0x80 && c <= 0x9F && cp1252_hi[c - 0x80] ? cp1252_hi[c - 0x80] : c;
}

/* The byte sloppy-windows-1252 encodes cp to, or -1. */
static int cp1252_byte(uint32_t cp)
{
    if (cp < 0x80 || (cp >= 0xA0 && cp <= 0xFF))
        return (int)cp;
    for (int i = 0; i < 32; i++)
        if (cp1252_hi[i] ? cp1252_hi[i] == cp : cp == 0x80u + (uint32_t)i)
            return 0x80 + i;
    return -1;
}

static int in_set(const uint32_t *v, size_t n, uint32_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid] == c)
            return 1;
        if (v[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

struct fixer {
    struct text_regex *bad; /* BADNESS_RE, compiled on first need */
    int depth;              /* recursion into embedded runs */
};

static int in_ranges(const struct text_range *r, size_t n, uint32_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid].lo)
            hi = mid;
        else if (c > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static int is_bad(struct fixer *fx, const uint32_t *v, size_t n)
{
    /* every alternative of BADNESS_RE needs one of text_badness_chars: most
     * text (ASCII, CJK ...) is cleared without running the regex */
    int maybe = 0;
    for (size_t i = 0; !maybe && i < n; i++)
        maybe = in_ranges(text_badness_chars, text_badness_chars_n, v[i]);
    if (!maybe)
        return 0;
    if (!fx->bad && text_regex_compile(text_badness_pattern, &fx->bad, NULL) < 0)
        return -1;
    struct tbuf b = {0};
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (tbuf_putc(&b, v[i]) < 0) {
            tbuf_free(&b);
            return -1;
        }
    bad = text_regex_search(fx->bad, b.p ? b.p : "", b.len);
    tbuf_free(&b);
    return bad;
}

/* Encode with latin-1 (sloppy = 0) or sloppy Windows-1252 (1) and decode the
 * bytes as UTF-8 into out; 1 when that worked. */
static int try_decode(const struct ustr *s, int sloppy, struct ustr *out)
{
    char *b = malloc(s->n + 1);
    if (!b)
        return DF_E_NOMEM;
    for (size_t i = 0; i < s->n; i++) {
        int c = sloppy ? cp1252_byte(s->v[i]) : (s->v[i] < 0x100 ? (int)s->v[i] : -1);
        if (c < 0) {
            free(b);
            return 0;
        }
        b[i] = (char)c;
    }
    int ok = utf8_invalid_at(b, s->n) == s->n;
    out->n = 0;
    for (size_t i = 0, l; ok && i < s->n; i += l)
        if (ustr_push(out, utf8_decode(b + i, s->n - i, &l)) < 0)
            ok = DF_E_NOMEM;
    free(b);
    return ok;
}

static int fix_loop(struct fixer *fx, struct ustr *s);

/* Length of the UTF8_DETECTOR_RE match at v[i] (0 when none). */
static size_t detect_at(const uint32_t *v, size_t n, size_t i)
{
    if (i > 0 && in_set(text_utf8_continuation_strict, text_utf8_continuation_strict_n, v[i - 1]))
        return 0;
    size_t k = i;
    for (;;) {
        size_t need = 0;
        if (k < n && in_set(text_utf8_first_of_2, text_utf8_first_of_2_n, v[k]))
            need = 1;
        else if (k < n && in_set(text_utf8_first_of_3, text_utf8_first_of_3_n, v[k]))
            need = 2;
        else if (k < n && in_set(text_utf8_first_of_4, text_utf8_first_of_4_n, v[k]))
            need = 3;
        size_t j = 1;
        while (need && j <= need && k + j < n &&
               in_set(text_utf8_continuation, text_utf8_continuation_n, v[k + j]))
            j++;
        if (!need || j <= need)
            return k - i; /* the alternatives are tried in order; the first that fits is kept */
        k += need + 1;
    }
}

/* ftfy's decode_inconsistent_utf8. */
static int fix_embedded(struct fixer *fx, const struct ustr *s, struct ustr *out)
{
    out->n = 0;
    for (size_t i = 0; i < s->n;) {
        size_t m = detect_at(s->v, s->n, i);
        if (m == 0) {
            DF_TRY(ustr_push(out, s->v[i++]));
            continue;
        }
        int bad = m < s->n ? is_bad(fx, s->v + i, m) : 0;
        if (bad < 0)
            return DF_E_NOMEM;
        struct ustr sub = {0};
        int rc = 0;
        for (size_t k = 0; rc == 0 && k < m; k++)
            rc = ustr_push(&sub, s->v[i + k]);
        if (rc == 0 && bad && fx->depth < 8) {
            fx->depth++;
            rc = fix_loop(fx, &sub);
            fx->depth--;
        }
        for (size_t k = 0; rc == 0 && k < sub.n; k++)
            rc = ustr_push(out, sub.v[k]);
        ustr_free(&sub);
        DF_TRY(rc);
        i += m;
    }
    return 0;
}

/* One step; *changed says whether s was replaced. */
static int fix_step(struct fixer *fx, struct ustr *s, int *changed)
{
    *changed = 0;
    int ascii = 1, latin1 = 1, c1 = 0;
    for (size_t i = 0; i < s->n; i++) {
        ascii &= s->v[i] < 0x80;
        latin1 &= s->v[i] < 0x100;
        c1 |= s->v[i] >= 0x80 && s->v[i] <= 0x9F;
    }
    if (s->n == 0 || ascii)
        return 0;
    int bad = is_bad(fx, s->v, s->n);
    if (bad <= 0)
        return bad < 0 ? DF_E_NOMEM : 0;
    struct ustr out = {0};
    int rc = 0, ok = 0;
    for (int sloppy = 0; rc == 0 && !ok && sloppy < 2; sloppy++) {
        ok = try_decode(s, sloppy, &out);
        if (ok < 0)
            rc = ok;
    }
    if (rc == 0 && !ok) {
        rc = fix_embedded(fx, s, &out);
        ok = rc == 0 && (out.n != s->n || memcmp(out.v, s->v, out.n * sizeof(uint32_t)) != 0);
    }
    if (rc == 0 && !ok && latin1) {
        if (!c1) {
            ustr_free(&out);
            return 0; /* plain Windows-1252 text: ftfy stops here */
        }
        ok = 1; /* latin-1 bytes read as strict Windows-1252, if all are defined */
        for (size_t i = 0; ok && i < s->n; i++)
            ok = !(s->v[i] >= 0x80 && s->v[i] <= 0x9F && !cp1252_hi[s->v[i] - 0x80]);
        out.n = 0;
        for (size_t i = 0; ok && rc == 0 && i < s->n; i++)
            rc = ustr_push(&out, text_cp1252_c1(s->v[i]));
    }
    if (rc == 0 && !ok && c1) { /* fix_c1_controls */
        out.n = 0;
        for (size_t i = 0; rc == 0 && i < s->n; i++)
            rc = ustr_push(&out, text_cp1252_c1(s->v[i]));
        ok = 1;
    }
    if (rc == 0 && ok) {
        *changed = out.n != s->n || memcmp(out.v, s->v, out.n * sizeof(uint32_t)) != 0;
        struct ustr t = *s;
        *s = out;
        out = t;
    }
    ustr_free(&out);
    return rc;
}

static int fix_loop(struct fixer *fx, struct ustr *s)
{
    for (int round = 0; round < 16; round++) {
        int changed;
        DF_TRY(fix_step(fx, s, &changed));
        if (!changed)
            return 0;
    }
    return 0;
}

int text_fix_encoding(struct ustr *s)
{
    int ascii = 1;
    for (size_t i = 0; i < s->n; i++)
        ascii &= s->v[i] < 0x80;
    if (ascii)
        return 0;
    struct fixer fx = {0};
    int rc = fix_loop(&fx, s);
    text_regex_free(fx.bad);
    return rc;
}
