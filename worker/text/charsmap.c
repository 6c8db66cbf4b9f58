/*
 * charsmap.c -- SentencePiece's precompiled normalization map, applied the way
 * the HuggingFace `tokenizers` Precompiled normalizer applies it.
 *
 * The blob (normalizer_spec.precompiled_charsmap, base64 in tokenizer.json):
 *   offset 0   u32 LE  T: size of the trie in bytes
 *   offset 4   T/4 u32 LE units of a Darts double array keyed by UTF-8 bytes
 *   offset 4+T the replacement strings, each ended by a NUL
 * A unit packs: bits 0-7 label, bit 8 has-leaf, bit 9 offset shift, bits 10-31
 * offset, and a leaf unit's low 31 bits are the value: a byte offset into the
 * strings.
 *
 * tokenizers walks the text by extended grapheme cluster.  A cluster shorter
 * than 6 bytes is looked up whole and, when any prefix of it is a key, the
 * SHORTEST matching key's replacement stands for the whole cluster (the rest
 * of the cluster is dropped: "Yes, this seems broken" says their comment, and
 * it is what the fast tokenizer does).  Otherwise each code point is looked up
 * alone.  SentencePiece itself takes the longest match anywhere; docs/text.md.
 */
#include "text_int.h"

#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int charsmap_parse(const void *blob, size_t len, struct charsmap *out, const char *what,
                   struct df_err *err)
{
    const unsigned char *b = blob;
    memset(out, 0, sizeof(*out));
    DF_FAIL_IF(len < 4, err, DF_E_CORRUPT, "%s: precompiled_charsmap has %zu bytes, not even its header",
               what, len);
    size_t trie_bytes = rd32(b);
    size_t n_units = trie_bytes / 4;
    DF_FAIL_IF(n_units > (len - 4) / 4, err, DF_E_CORRUPT,
               "%s: precompiled_charsmap trie of %zu bytes overruns the %zu-byte blob", what,
               trie_bytes, len);
    DF_FAIL_IF(n_units == 0, err, DF_E_CORRUPT, "%s: precompiled_charsmap has an empty trie", what);
    size_t str_off = 4 + n_units * 4;
    size_t n_str = len - str_off;
    if (utf8_invalid_at((const char *)b + str_off, n_str) != n_str)
        return df_err_set(err, DF_E_CORRUPT,
                          "%s: precompiled_charsmap replacement strings are not UTF-8 (byte %zu)",
                          what, utf8_invalid_at((const char *)b + str_off, n_str));
    out->units = malloc(n_units * sizeof(uint32_t));
    out->normalized = malloc(n_str + 1);
    if (!out->units || !out->normalized) {
        charsmap_fini(out);
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", what);
    }
    for (size_t i = 0; i < n_units; i++)
        out->units[i] = rd32(b + 4 + 4 * i);
    memcpy(out->normalized, b + str_off, n_str);
    out->normalized[n_str] = '\0';
    out->n_units = n_units;
    out->n_normalized = n_str;
    return 0;
}

void charsmap_fini(struct charsmap *cm)
{
    free(cm->units);
    free(cm->normalized);
    memset(cm, 0, sizeof(*cm));
}

static size_t unit_offset(uint32_t u)
{
    return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6);
}

/* Value of the shortest key that is a prefix of s[0..n): 1 found, 0 none, <0 corrupt. */
static int shortest_prefix(const struct charsmap *cm, const unsigned char *s, size_t n,
                           size_t *value)
{
    size_t pos = unit_offset(cm->units[0]);
    for (size_t i = 0; i < n && s[i] != 0; i++) {
        pos ^= s[i];
        if (pos >= cm->n_units)
            return DF_E_CORRUPT;
        uint32_t u = cm->units[pos];
        if ((u & ((1u << 31) | 0xFF)) != s[i])
            return 0;
        pos ^= unit_offset(u);
        if ((u >> 8) & 1) {
            if (pos >= cm->n_units)
                return DF_E_CORRUPT;
            *value = cm->units[pos] & ((1u << 31) - 1);
            return 1;
        }
    }
    return 0;
}

/* 1 and the replacement of s[0..n) when a key matches, 0 when none. */
static int transform(const struct charsmap *cm, const char *s, size_t n, const char **rep,
                     size_t *rep_len, struct df_err *err)
{
    size_t v;
    int rc = shortest_prefix(cm, (const unsigned char *)s, n, &v);
    if (rc < 0)
        return df_err_set(err, DF_E_CORRUPT, "precompiled_charsmap: trie walks out of its %zu units",
                          cm->n_units);
    if (rc == 0)
        return 0;
    if (v > cm->n_normalized)
        return df_err_set(err, DF_E_CORRUPT,
                          "precompiled_charsmap: value %zu past the %zu bytes of strings", v,
                          cm->n_normalized);
    const char *p = cm->normalized + v;
    size_t l = strlen(p); /* the strings end with a NUL we added */
    /* a value inside a multi-byte character: tokenizers panics here; refuse */
    if (v < cm->n_normalized && ((unsigned char)*p & 0xC0) == 0x80)
        return df_err_set(err, DF_E_CORRUPT,
                          "precompiled_charsmap: value %zu is not on a character boundary", v);
    *rep = p;
    *rep_len = l;
    return 1;
}

int charsmap_normalize(const struct charsmap *cm, const char *s, size_t n, struct tbuf *out,
                       struct df_err *err)
{
    size_t i = 0;
    while (i < n) {
        size_t g = grapheme_next(s + i, n - i);
        const char *rep;
        size_t rep_len;
        int rc = 0;
        if (g < 6) {
            rc = transform(cm, s + i, g, &rep, &rep_len, err);
            if (rc < 0)
                return rc;
            if (rc == 1 && tbuf_put(out, rep, rep_len) < 0)
                return df_err_set(err, DF_E_NOMEM, "normalize: out of memory");
        }
        for (size_t k = i; rc == 0 && k < i + g;) {
            size_t cl = utf8_len((unsigned char)s[k]);
            int r2 = transform(cm, s + k, cl, &rep, &rep_len, err);
            if (r2 < 0)
                return r2;
            if (tbuf_put(out, r2 ? rep : s + k, r2 ? rep_len : cl) < 0)
                return df_err_set(err, DF_E_NOMEM, "normalize: out of memory");
            k += cl;
        }
        i += g;
    }
    return 0;
}

