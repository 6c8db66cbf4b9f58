/* text_norm.c -- the normalizer steps of tokenizer.json, in file order:
 * Precompiled (charsmap.c), Replace (a String or a Regex pattern), Strip
 * (Unicode White_Space, as Rust's char::is_whitespace), Prepend (only on
 * non-empty text).  Each step reads one buffer and writes the next. */
#include "text_int.h"

#include <stdlib.h>
#include <string.h>

void norm_step_fini(struct norm_step *st)
{
    charsmap_fini(&st->cm);
    text_regex_free(st->re);
    free(st->pat);
    free(st->text);
    memset(st, 0, sizeof(*st));
}

static int replace_literal(const char *s, size_t n, const char *pat, const char *with,
                           struct tbuf *out)
{
    size_t pl = strlen(pat), wl = strlen(with), i = 0, copied = 0;
    if (pl == 0)
        return tbuf_put(out, s, n);
    while (i + pl <= n) {
        if (memcmp(s + i, pat, pl) == 0) {
            if (tbuf_put(out, s + copied, i - copied) < 0 || tbuf_put(out, with, wl) < 0)
                return DF_E_NOMEM;
            i = copied = i + pl;
        } else
            i++;
    }
    return tbuf_put(out, s + copied, n - copied);
}

static int strip(const char *s, size_t n, int left, int right, struct tbuf *out)
{
    size_t a = 0, b = n, l;
    while (left && a < b && uni_is_white_space(utf8_decode(s + a, b - a, &l)))
        a += l;
    while (right && b > a) {
        size_t k = b - 1;
        while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        if (!uni_is_white_space(utf8_decode(s + k, b - k, &l)))
            break;
        b = k;
    }
    return tbuf_put(out, s + a, b - a);
}

static int run_step(const struct norm_step *st, const char *s, size_t n, struct tbuf *out,
                    struct df_err *err)
{
    int rc = 0;
    switch (st->kind) {
    case NORM_PRECOMPILED:
        return charsmap_normalize(&st->cm, s, n, out, err);
    case NORM_REPLACE:
        rc = st->re ? text_regex_replace(st->re, s, n, st->text, out)
                    : replace_literal(s, n, st->pat, st->text, out);
        break;
    case NORM_STRIP:
        rc = strip(s, n, st->strip_left, st->strip_right, out);
        break;
    case NORM_PREPEND:
        if (n && tbuf_put(out, st->text, strlen(st->text)) < 0)
            rc = DF_E_NOMEM;
        if (rc == 0)
            rc = tbuf_put(out, s, n);
        break;
    default:
        return df_err_set(err, DF_E_INTERNAL, "normalizer step %d unknown", (int)st->kind);
    }
    return rc < 0 ? df_err_set(err, DF_E_NOMEM, "normalize: out of memory") : 0;
}

/* Whether step st keeps the first character of s[0..n) at the front. */
static int keeps_first(const struct norm_step *st, const char *s, size_t n)
{
    size_t l;
    if (n == 0)
        return 1;
    switch (st->kind) {
    case NORM_PRECOMPILED:
        /* tokenizers' Precompiled records a deleted first character as no
         * transformation, so the next output character inherits its
         * alignment: the start stays at offset 0 */
        return 1;
    case NORM_REPLACE:
        if (st->text[0])
            return 1;
        return st->re ? !text_regex_matches_start(st->re, s, n)
                      : !(st->pat[0] && strncmp(s, st->pat, strlen(st->pat)) == 0);
    case NORM_STRIP:
        return !(st->strip_left && uni_is_white_space(utf8_decode(s, n, &l)));
    default:
        return 1;
    }
}

int text_normalize(const struct tokenizer *tok, const char *s, size_t n, struct tbuf *out,
                   int *origin, struct df_err *err)
{
    struct tbuf a = {0}, b = {0};
    if (tbuf_put(&a, s, n) < 0)
        return df_err_set(err, DF_E_NOMEM, "normalize: out of memory");
    for (size_t k = 0; k < tok->n_norm; k++) {
        b.len = 0;
        if (origin && !keeps_first(&tok->norm[k], a.p, a.len))
            *origin = 0;
        int rc = run_step(&tok->norm[k], a.p, a.len, &b, err);
        if (rc < 0) {
            tbuf_free(&a);
            tbuf_free(&b);
            return rc;
        }
        struct tbuf t = a;
        a = b;
        b = t;
    }
    tbuf_free(&b);
    tbuf_free(out);
    *out = a;
    return 0;
}
