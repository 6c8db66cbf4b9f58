/*
 * prompt_clean.c -- WanPipeline's prompt_clean (diffusers pipeline_wan.py):
 *
 *     text = ftfy.fix_text(text)                 # when ftfy is installed
 *     text = html.unescape(html.unescape(text)).strip()
 *     text = re.sub(r"\s+", " ", text).strip()
 *
 * ftfy.fix_text with its defaults works line by line (each segment ends after
 * a '\n') and repeats, per segment, until nothing changes:
 *   unescape_html ("auto": off for this and every later segment once a segment
 *   holds '<'), fix_encoding (the subset below), fix_c1_controls,
 *   fix_latin_ligatures, fix_character_width, uncurl_quotes, fix_line_breaks,
 *   remove_terminal_escapes, remove_control_chars, then NFC.
 * fix_encoding is text_mojibake.c (what it leaves out: docs/text.md).
 */
#include "text_int.h"

#include <stdlib.h>
#include <string.h>

static const struct { uint32_t cp; const char *s; } ligatures[] = {
    {0x0132, "IJ"}, {0x0133, "ij"}, {0x0149, "\xca\xbcn"}, {0x01F1, "DZ"}, {0x01F2, "Dz"},
    {0x01F3, "dz"}, {0x01C4, "D\xc5\xbd"}, {0x01C5, "D\xc5\xbe"}, {0x01C6, "d\xc5\xbe"},
    {0x01C7, "LJ"}, {0x01C8, "Lj"}, {0x01C9, "lj"}, {0x01CA, "NJ"}, {0x01CB, "Nj"},
    {0x01CC, "nj"}, {0xFB00, "ff"}, {0xFB01, "fi"}, {0xFB02, "fl"}, {0xFB03, "ffi"},
    {0xFB04, "ffl"}, {0xFB05, "\xc5\xbft"}, {0xFB06, "st"}};

static int is_control(uint32_t c)
{
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

static const char *width_map(uint32_t c)
{
    if (c != 0x3000 && (c < 0xFF01 || c > 0xFFEF))
        return NULL;
    for (size_t i = 0; i < text_width_map_n; i++)
        if (text_width_map[i].cp == c)
            return text_width_map[i].value;
    return NULL;
}

/* The per-code-point fixers, in ftfy's order, each a pass over the text. */
static int char_fixes(const struct ustr *in, struct ustr *out)
{
    struct ustr a = {0}, b = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < in->n; i++) { /* fix_c1_controls */
        uint32_t c = in->v[i];
        rc = ustr_push(&a, text_cp1252_c1(c));
    }
    for (size_t i = 0; rc == 0 && i < a.n; i++) { /* fix_latin_ligatures */
        const char *lig = NULL;
        for (size_t k = 0; k < sizeof(ligatures) / sizeof(ligatures[0]); k++)
            if (ligatures[k].cp == a.v[i])
                lig = ligatures[k].s;
        rc = lig ? ustr_push_utf8(&b, lig) : ustr_push(&b, a.v[i]);
    }
    a.n = 0;
    for (size_t i = 0; rc == 0 && i < b.n; i++) { /* fix_character_width */
        const char *w = width_map(b.v[i]);
        rc = w ? ustr_push_utf8(&a, w) : ustr_push(&a, b.v[i]);
    }
    b.n = 0;
    for (size_t i = 0; rc == 0 && i < a.n; i++) { /* uncurl_quotes, fix_line_breaks */
        uint32_t c = a.v[i];
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B))
            c = '\'';
        else if (c >= 0x201C && c <= 0x201F)
            c = '"';
        else if (c == '\r' && i + 1 < a.n && a.v[i + 1] == '\n')
            continue;
        else if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85)
            c = '\n';
        rc = ustr_push(&b, c);
    }
    out->n = 0;
    for (size_t i = 0; rc == 0 && i < b.n; i++) { /* terminal escapes, control chars */
        uint32_t c = b.v[i];
        if (c == 0x1B && i + 1 < b.n && b.v[i + 1] == '[') {
            size_t k = i + 2;
            while (k < b.n && ((b.v[k] >= '0' && b.v[k] <= '9') || b.v[k] == ';'))
                k++;
            if (k < b.n && ((b.v[k] | 0x20) >= 'a' && (b.v[k] | 0x20) <= 'z')) {
                i = k;
                continue;
            }
        }
        if (!is_control(c))
            rc = ustr_push(out, c);
    }
    ustr_free(&a);
    ustr_free(&b);
    return rc;
}

/* fix_and_explain on one segment, to a fixed point. */
static int fix_segment(struct ustr *seg, int unescape)
{
    struct ustr t = {0}, u = {0};
    int rc = 0;
    for (int round = 0; rc == 0 && round < 16; round++) {
        t.n = 0;
        if (unescape)
            rc = text_ftfy_unescape(seg, &t);
        for (size_t i = 0; rc == 0 && !unescape && i < seg->n; i++)
            rc = ustr_push(&t, seg->v[i]);
        if (rc == 0)
            rc = text_fix_encoding(&t);
        if (rc == 0)
            rc = char_fixes(&t, &u);
        if (rc == 0)
            rc = text_nfc(&u, &t);
        if (rc < 0)
            break;
        int same = t.n == seg->n && memcmp(t.v, seg->v, t.n * sizeof(uint32_t)) == 0;
        struct ustr x = *seg;
        *seg = t;
        t = x;
        if (same)
            break;
    }
    ustr_free(&t);
    ustr_free(&u);
    return rc;
}

static int ftfy_fix_text(const struct ustr *in, struct ustr *out)
{
    int unescape = 1, rc = 0;
    size_t pos = 0;
    out->n = 0;
    while (rc == 0 && pos < in->n) {
        size_t end = pos;
        while (end < in->n && in->v[end] != '\n' && end - pos < 1000000)
            end++;
        if (end < in->n && in->v[end] == '\n')
            end++;
        struct ustr seg = {0};
        for (size_t i = pos; rc == 0 && i < end; i++) {
            rc = ustr_push(&seg, in->v[i]);
            if (in->v[i] == '<')
                unescape = 0;
        }
        if (rc == 0)
            rc = fix_segment(&seg, unescape);
        for (size_t i = 0; rc == 0 && i < seg.n; i++)
            rc = ustr_push(out, seg.v[i]);
        ustr_free(&seg);
        pos = end;
    }
    return rc;
}

static int collapse_to_utf8(const struct ustr *s, struct tbuf *out)
{
    size_t a = 0, b = s->n;
    while (a < b && uni_is_py_space(s->v[a]))
        a++;
    while (b > a && uni_is_py_space(s->v[b - 1]))
        b--;
    for (size_t i = a; i < b; i++) {
        if (uni_is_py_space(s->v[i])) {
            while (i + 1 < b && uni_is_py_space(s->v[i + 1]))
                i++;
            DF_TRY(tbuf_putc(out, ' '));
        } else
            DF_TRY(tbuf_putc(out, s->v[i]));
    }
    return tbuf_put(out, "", 0);
}

int prompt_clean(const char *utf8, size_t len, char **out, size_t *out_len, struct df_err *err)
{
    if (!utf8)
        len = 0;
    size_t bad = utf8_invalid_at(utf8 ? utf8 : "", len);
    if (bad != len)
        return df_err_set(err, DF_E_INVAL, "prompt is not valid UTF-8: byte 0x%02x at offset %zu",
                          (unsigned char)utf8[bad], bad);
    struct ustr a = {0}, b = {0};
    struct tbuf t = {0};
    int rc = 0;
    for (size_t i = 0, l; rc == 0 && i < len; i += l)
        rc = ustr_push(&a, utf8_decode(utf8 + i, len - i, &l));
    if (rc == 0)
        rc = ftfy_fix_text(&a, &b);
    if (rc == 0)
        rc = text_html_unescape(&b, &a);
    if (rc == 0)
        rc = text_html_unescape(&a, &b);
    if (rc == 0)
        rc = collapse_to_utf8(&b, &t);
    ustr_free(&a);
    ustr_free(&b);
    if (rc < 0) {
        tbuf_free(&t);
        return df_err_set(err, DF_E_NOMEM, "prompt_clean: out of memory");
    }
    *out = t.p;
    if (out_len)
        *out_len = t.len;
    return 0;
}
