/*
 * text_int.h -- internals of worker/text shared between its files.
 *
 * The tokenizer is a pipeline of small stages, each in its own file:
 *   tokenizer_json.c / tokenizer_spm.c   read the files into struct tokenizer
 *   charsmap.c      SentencePiece's precompiled normalization map (double array)
 *   text_regex.c    the small regex subset Replace normalizers use
 *   grapheme.c      extended grapheme clusters (the charsmap works on them)
 *   text_norm.c     the normalizer steps; text_pretok.c the pre-tokenizer steps
 *   unigram.c       vocabulary hash and Viterbi over the unigram lattice
 *   tokenizer.c     added tokens, the whole encode, truncation and padding
 *   prompt_clean.c  WanPipeline's prompt_clean (ftfy subset, HTML unescape)
 */
#ifndef DF_TEXT_INT_H
#define DF_TEXT_INT_H

#include "err.h"
#include "tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* ---- growable byte string ------------------------------------------------ */

struct tbuf {
    char *p;    /* bytes, NUL-terminated when cap > 0 */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
};
int tbuf_put(struct tbuf *b, const void *data, size_t n);
int tbuf_putc(struct tbuf *b, uint32_t cp); /* one code point as UTF-8 */
void tbuf_free(struct tbuf *b);

/* ---- UTF-8 --------------------------------------------------------------- */

/* Decode the code point at s[0..n) (n >= 1, s valid UTF-8); *len gets its size. */
uint32_t utf8_decode(const char *s, size_t n, size_t *len);
/* Bytes of the first code point of valid UTF-8 whose lead byte is c. */
size_t utf8_len(unsigned char c);
/* Offset of the first invalid byte (as Rust/Python reject it), or n when valid. */
size_t utf8_invalid_at(const char *s, size_t n);
/* Encode cp into out[4]; returns its length. */
size_t utf8_encode(uint32_t cp, char *out);
/* Unicode White_Space (Rust char::is_whitespace, regex \s). */
int uni_is_white_space(uint32_t cp);
/* Rust regex \w (Unicode): Alphabetic, marks, decimal digits, connector punctuation, joiners. */
int uni_is_word(uint32_t cp);
/* Python str.isspace() / re \s on str. */
int uni_is_py_space(uint32_t cp);

/* ---- generated tables (text_tables.c) ------------------------------------ */

struct text_gcb_range {
    uint32_t lo, hi;   /* inclusive code point range */
    uint8_t gcb;       /* enum gcb_prop */
    uint8_t ext_pict;  /* Extended_Pictographic */
    uint8_t incb;      /* enum incb_prop */
};
struct text_entity {
    const char *name;  /* "amp;", "amp", "NotEqualTilde;" ... */
    const char *value; /* UTF-8 */
};
struct text_range {
    uint32_t lo, hi;
};
struct text_map {
    uint32_t cp;
    const char *value; /* UTF-8 */
};
struct text_decomp {
    uint32_t cp, a, b; /* canonical decomposition cp -> a (b), b 0 when one */
};
struct text_ccc_range {
    uint32_t lo, hi;
    uint8_t ccc;
};
struct text_comp {
    uint32_t a, b, c; /* a + b composes to c (primary composites), sorted by (a, b) */
};
extern const struct text_gcb_range text_gcb_ranges[];
extern const size_t text_gcb_n;
extern const struct text_entity text_entities[];
extern const size_t text_entities_n;
extern const struct text_range text_word_ranges[];
extern const size_t text_word_n;
extern const struct text_entity text_entities_upper[];
extern const size_t text_entities_upper_n;
extern const struct text_map text_width_map[];
extern const size_t text_width_map_n;
extern const struct text_map text_invalid_charrefs[];
extern const size_t text_invalid_charrefs_n;
extern const uint32_t text_invalid_codepoints[];
extern const size_t text_invalid_codepoints_n;
extern const char text_badness_pattern[];
extern const struct text_range text_badness_chars[];
extern const size_t text_badness_chars_n;
extern const uint32_t text_utf8_first_of_2[], text_utf8_first_of_3[], text_utf8_first_of_4[],
    text_utf8_continuation[], text_utf8_continuation_strict[];
extern const size_t text_utf8_first_of_2_n, text_utf8_first_of_3_n, text_utf8_first_of_4_n,
    text_utf8_continuation_n, text_utf8_continuation_strict_n;
extern const struct text_decomp text_decomps[];
extern const size_t text_decomps_n;
extern const struct text_ccc_range text_ccc_ranges[];
extern const size_t text_ccc_n;
extern const struct text_comp text_comps[];
extern const size_t text_comps_n;

/* ---- code point strings (prompt_clean) ----------------------------------- */

struct ustr {
    uint32_t *v;
    size_t n, cap;
};
int ustr_push(struct ustr *u, uint32_t cp);
int ustr_push_utf8(struct ustr *u, const char *s); /* NUL-terminated valid UTF-8 */
void ustr_free(struct ustr *u);
/* Unicode NFC of in into out (out is cleared first). */
int text_nfc(const struct ustr *in, struct ustr *out);
/* ftfy's fix_encoding (the subset text_mojibake.c describes), in place. */
int text_fix_encoding(struct ustr *s);
/* A C1 control read as its Windows-1252 character (others unchanged). */
uint32_t text_cp1252_c1(uint32_t c);
/* Python's html.unescape(), and ftfy's stricter unescape_html(). */
int text_html_unescape(const struct ustr *in, struct ustr *out);
int text_ftfy_unescape(const struct ustr *in, struct ustr *out);

/* ---- graphemes ----------------------------------------------------------- */

/* Length in bytes of the extended grapheme cluster starting at s[0] (valid UTF-8, n >= 1). */
size_t grapheme_next(const char *s, size_t n);

/* ---- precompiled charsmap ------------------------------------------------ */

struct charsmap {
    uint32_t *units;   /* double array units */
    size_t n_units;
    char *normalized;  /* replacement strings, NUL-separated */
    size_t n_normalized;
};
/* Parse SentencePiece's blob: u32 trie bytes, the trie, the strings.  Copies. */
int charsmap_parse(const void *blob, size_t len, struct charsmap *out, const char *what,
                   struct df_err *err);
void charsmap_fini(struct charsmap *cm);
/* Append the normalization of s[0..n) to out, as tokenizers' Precompiled does. */
int charsmap_normalize(const struct charsmap *cm, const char *s, size_t n, struct tbuf *out,
                       struct df_err *err);

/* ---- regex subset (Replace normalizer) ----------------------------------- */

struct text_regex;
int text_regex_compile(const char *pattern, struct text_regex **out, struct df_err *err);
void text_regex_free(struct text_regex *re);
/* 1 when the pattern matches anywhere in s[0..n). */
int text_regex_search(const struct text_regex *re, const char *s, size_t n);
/* 1 when a non-empty match starts at s[0]. */
int text_regex_matches_start(const struct text_regex *re, const char *s, size_t n);
/* Replace every leftmost non-overlapping match in s[0..n) with `with`. */
int text_regex_replace(const struct text_regex *re, const char *s, size_t n, const char *with,
                       struct tbuf *out);

/* ---- the tokenizer ------------------------------------------------------- */

enum norm_kind { NORM_PRECOMPILED, NORM_REPLACE, NORM_STRIP, NORM_PREPEND, NORM_COUNT };

struct norm_step {
    enum norm_kind kind;
    struct charsmap cm;      /* NORM_PRECOMPILED */
    struct text_regex *re;   /* NORM_REPLACE with a Regex pattern */
    char *pat;               /* NORM_REPLACE with a String pattern */
    char *text;              /* NORM_REPLACE content, NORM_PREPEND prefix */
    int strip_left, strip_right; /* NORM_STRIP */
};

enum pretok_kind { PRETOK_WHITESPACE_SPLIT, PRETOK_METASPACE, PRETOK_COUNT };
enum prepend_scheme { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

struct pretok_step {
    enum pretok_kind kind;
    char rep[5];             /* Metaspace replacement, UTF-8 */
    size_t rep_len;
    enum prepend_scheme prepend;
    int split;
};

struct added_token {
    char *content;           /* as written */
    size_t len;
    char *norm;              /* normalized form (normalized tokens), else NULL */
    size_t norm_len;
    int64_t id;
    int single_word, lstrip, rstrip, normalized, special;
};

struct vocab_slot {
    uint64_t hash;
    int64_t id;              /* -1: empty */
};

struct tokenizer {
    /* the unigram model */
    char **piece;            /* [n_piece] NUL-terminated */
    uint32_t *piece_len;     /* [n_piece] */
    double *score;           /* [n_piece] */
    size_t n_piece;
    struct vocab_slot *slots; /* open addressing, piece text -> id (last wins) */
    size_t n_slots;          /* power of two */
    size_t max_piece_len;    /* bytes */
    int64_t unk_id;          /* -1: none */
    int byte_fallback;
    int64_t byte_id[256];    /* <0xNN> ids, -1 when absent */
    double min_score;
    /* the pipeline around it */
    struct norm_step *norm;
    size_t n_norm;
    struct pretok_step *pretok;
    size_t n_pretok;
    struct added_token *added;
    size_t n_added;
    uint8_t added_first[2][256]; /* [normalized][byte]: some added token starts with it */
    int64_t *tmpl_pre, *tmpl_post; /* ids the template puts around $A */
    size_t n_tmpl_pre, n_tmpl_post;
    int64_t pad_id;          /* -1 when none */
    int64_t eos_id;          /* last id of the template's suffix, -1 when none */
    size_t vocab_size;
    char *name;              /* file, for messages */
};

/* unigram.c */
int unigram_build_index(struct tokenizer *tok, struct df_err *err);
int64_t unigram_lookup(const struct tokenizer *tok, const char *s, size_t n);
/* Append the ids of one pre-token (tokenizers' Unigram::tokenize). */
int unigram_tokenize(const struct tokenizer *tok, const char *s, size_t n, int64_t **ids,
                     size_t *n_ids, size_t *cap, struct df_err *err);

/* text_norm.c, text_pretok.c */
/* *origin (may be NULL) is cleared when the normalized text no longer starts
 * at the input's first character (tokenizers' offsets_original().0 moved:
 * Metaspace's "first" prepend scheme looks at it). */
int text_normalize(const struct tokenizer *tok, const char *s, size_t n, struct tbuf *out,
                   int *origin, struct df_err *err);
void norm_step_fini(struct norm_step *st);

/* A pre-token: a byte range of a normalized buffer plus a prefix to prepend. */
struct pretok_piece {
    char *text;              /* owned */
    size_t len;
    int at_origin;           /* starts at original offset 0 (Metaspace "first") */
};
struct pretok_list {
    struct pretok_piece *v;
    size_t n, cap;
};
int pretok_run(const struct tokenizer *tok, struct pretok_list *pl, struct df_err *err);
int pretok_push(struct pretok_list *pl, const char *s, size_t n, int at_origin);
void pretok_list_free(struct pretok_list *pl);

/* tokenizer.c helpers shared with the readers */
struct tokenizer *tokenizer_alloc(const char *name);
int tokenizer_finish(struct tokenizer *tok, struct df_err *err);
int64_t tokenizer_token_id(const struct tokenizer *tok, const char *s, size_t n);
int tokenizer_add_token(struct tokenizer *tok, const char *content, int64_t id, int special,
                        int normalized, int lstrip, int rstrip, int single_word,
                        struct df_err *err);

/* tokenizer_json.c, tokenizer_spm.c */
int tokenizer_parse_json(const char *data, size_t len, const char *name, struct tokenizer **out,
                         struct df_err *err);
int tokenizer_parse_spm(const void *data, size_t len, const char *name, int extra_ids,
                        const char *pad_token, struct tokenizer **out, struct df_err *err);

/* base64 (standard alphabet, '=' padding as Rust's BASE64_STANDARD requires) */
int text_base64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len,
                       const char *what, struct df_err *err);

#endif /* DF_TEXT_INT_H */
