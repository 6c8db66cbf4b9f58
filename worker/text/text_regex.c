/*
 * text_regex.c -- the regular expressions tokenizer.json Replace normalizers
 * use (" {2,}", "\A +| +\z", "\A▁", " +"), matched by backtracking on code
 * points with Oniguruma's leftmost-first, greedy semantics.
 *
 * Supported: literals (UTF-8), escapes \t \n \r \f \v \\ and escaped
 * punctuation, \s \S \d \D \w \W, '.', classes [..] with ranges and '^', the
 * quantifiers * + ? {n} {n,} {n,m}, top-level '|', anchors ^ $ \A \z.
 * Anything else (groups, lazy quantifiers, look-around, backreferences) is
 * refused at load with DF_E_UNSUPPORTED naming the pattern.
 */
#include "text_int.h"

#include <stdlib.h>
#include <string.h>

enum atom_kind { ATOM_CHAR, ATOM_ANY, ATOM_CLASS, ATOM_SPACE, ATOM_DIGIT, ATOM_WORD, ATOM_BEGIN, ATOM_END };

struct range {
    uint32_t lo, hi;
};

struct atom {
    enum atom_kind kind;
    int negate;
    uint32_t cp;           /* ATOM_CHAR */
    struct range *ranges;  /* ATOM_CLASS */
    size_t n_ranges;
    unsigned min, max;     /* repetitions; max UINT32 max means unbounded */
};

struct branch {
    struct atom *atoms;
    size_t n;
};

struct text_regex {
    struct branch *br;
    size_t n_br;
};

#define REP_INF 0xFFFFFFFFu

static int atom_hit(const struct atom *a, uint32_t c)
{
    int hit;
    switch (a->kind) {
    case ATOM_CHAR: hit = c == a->cp; break;
    case ATOM_ANY: hit = c != '\n'; break;
    case ATOM_SPACE: hit = uni_is_white_space(c); break;
    case ATOM_DIGIT: hit = c >= '0' && c <= '9'; break;
    case ATOM_WORD: hit = uni_is_word(c); break;
    case ATOM_CLASS:
        hit = 0;
        for (size_t i = 0; i < a->n_ranges; i++)
            hit |= c >= a->ranges[i].lo && c <= a->ranges[i].hi;
        break;
    default: hit = 0;
    }
    return a->negate ? !hit : hit;
}

/* Match atoms[k..] at byte i of s[0..n); on success *end is where it ends. */
static int match_here(const struct atom *atoms, size_t na, size_t k, const char *s, size_t n,
                      size_t i, size_t *end, unsigned depth)
{
    if (depth > 10000)
        return 0;
    if (k == na) {
        *end = i;
        return 1;
    }
    const struct atom *a = &atoms[k];
    if (a->kind == ATOM_BEGIN)
        return i == 0 && match_here(atoms, na, k + 1, s, n, i, end, depth + 1);
    if (a->kind == ATOM_END)
        return i == n && match_here(atoms, na, k + 1, s, n, i, end, depth + 1);
    /* greedy: take as many as allowed, then give back one at a time */
    size_t pos[64];
    size_t np = 0, j = i;
    unsigned cnt = 0;
    pos[np++] = i;
    while (cnt < a->max && j < n) {
        size_t l;
        uint32_t c = utf8_decode(s + j, n - j, &l);
        if (!atom_hit(a, c))
            break;
        j += l;
        cnt++;
        if (np < 64)
            pos[np++] = j;
        else
            pos[63] = j; /* long runs: only the longest and the first 62 are retried */
    }
    for (size_t t = np; t-- > 0;) {
        if (t < a->min)
            break;
        if (match_here(atoms, na, k + 1, s, n, pos[t], end, depth + 1))
            return 1;
    }
    return 0;
}

static int match_at(const struct text_regex *re, const char *s, size_t n, size_t i, size_t *end)
{
    for (size_t b = 0; b < re->n_br; b++)
        if (match_here(re->br[b].atoms, re->br[b].n, 0, s, n, i, end, 0))
            return 1;
    return 0;
}

int text_regex_search(const struct text_regex *re, const char *s, size_t n)
{
    for (size_t i = 0;; i += utf8_len((unsigned char)s[i])) {
        size_t end;
        if (match_at(re, s, n, i, &end))
            return 1;
        if (i >= n)
            return 0;
    }
}

int text_regex_matches_start(const struct text_regex *re, const char *s, size_t n)
{
    size_t end;
    return match_at(re, s, n, 0, &end) && end > 0;
}

int text_regex_replace(const struct text_regex *re, const char *s, size_t n, const char *with,
                       struct tbuf *out)
{
    size_t i = 0, copied = 0, wl = strlen(with);
    while (i <= n) {
        size_t end;
        if (match_at(re, s, n, i, &end) && end > i) {
            if (tbuf_put(out, s + copied, i - copied) < 0 || tbuf_put(out, with, wl) < 0)
                return DF_E_NOMEM;
            i = copied = end;
            continue;
        }
        if (i == n)
            break;
        i += utf8_len((unsigned char)s[i]);
    }
    return tbuf_put(out, s + copied, n - copied) < 0 ? DF_E_NOMEM : 0;
}

/* ---- parsing ------------------------------------------------------------- */

static int escape_cp(char c, uint32_t *cp)
{
    switch (c) {
    case 't': *cp = '\t'; return 1;
    case 'n': *cp = '\n'; return 1;
    case 'r': *cp = '\r'; return 1;
    case 'f': *cp = '\f'; return 1;
    case 'v': *cp = '\v'; return 1;
    default:
        if (strchr("\\.^$|?*+()[]{}-/ ", c) && c) {
            *cp = (unsigned char)c;
            return 1;
        }
        return 0;
    }
}

static int parse_class(const char *p, size_t n, size_t *i, struct atom *a)
{
    size_t k = *i + 1;
    if (k < n && p[k] == '^') {
        a->negate = 1;
        k++;
    }
    a->kind = ATOM_CLASS;
    while (k < n && p[k] != ']') {
        uint32_t lo, hi;
        size_t l;
        if (p[k] == '\\') {
            if (k + 1 >= n || !escape_cp(p[k + 1], &lo))
                return -1;
            k += 2;
        } else {
            lo = utf8_decode(p + k, n - k, &l);
            k += l;
        }
        hi = lo;
        if (k + 1 < n && p[k] == '-' && p[k + 1] != ']') {
            k++;
            if (p[k] == '\\') {
                if (k + 1 >= n || !escape_cp(p[k + 1], &hi))
                    return -1;
                k += 2;
            } else {
                hi = utf8_decode(p + k, n - k, &l);
                k += l;
            }
        }
        struct range *r = realloc(a->ranges, (a->n_ranges + 1) * sizeof(*r));
        if (!r)
            return -1;
        a->ranges = r;
        r[a->n_ranges++] = (struct range){lo, hi};
    }
    if (k >= n)
        return -1;
    *i = k + 1;
    return 0;
}

static int parse_quant(const char *p, size_t n, size_t *i, struct atom *a)
{
    a->min = a->max = 1;
    if (*i >= n)
        return 0;
    char c = p[*i];
    if (c == '*' || c == '+' || c == '?') {
        a->min = c == '+' ? 1 : 0;
        a->max = c == '?' ? 1 : REP_INF;
        (*i)++;
    } else if (c == '{') {
        char *e;
        unsigned long lo = strtoul(p + *i + 1, &e, 10), hi = lo;
        if (e == p + *i + 1)
            return -1;
        if (*e == ',') {
            char *e2;
            hi = strtoul(e + 1, &e2, 10);
            if (e2 == e + 1)
                hi = REP_INF;
            e = e2;
        }
        if (*e != '}' || lo > 1000 || (hi != REP_INF && (hi > 1000 || hi < lo)))
            return -1;
        a->min = (unsigned)lo;
        a->max = (unsigned)hi;
        *i = (size_t)(e + 1 - p);
    } else
        return 0;
    if (*i < n && (p[*i] == '?' || p[*i] == '+'))
        return -1; /* lazy / possessive */
    return 0;
}

static int parse_atom(const char *p, size_t n, size_t *i, struct atom *a)
{
    memset(a, 0, sizeof(*a));
    char c = p[*i];
    if (c == '(' || c == ')' || c == '*' || c == '+' || c == '?' || c == '{')
        return -1;
    if (c == '[')
        return parse_class(p, n, i, a);
    if (c == '.') {
        a->kind = ATOM_ANY;
        (*i)++;
        return 0;
    }
    if (c == '^' || c == '$') {
        a->kind = c == '^' ? ATOM_BEGIN : ATOM_END;
        (*i)++;
        return 0;
    }
    if (c == '\\') {
        if (*i + 1 >= n)
            return -1;
        char e = p[*i + 1];
        *i += 2;
        switch (e) {
        case 'A': a->kind = ATOM_BEGIN; return 0;
        case 'z': a->kind = ATOM_END; return 0;
        case 's': case 'S': a->kind = ATOM_SPACE; a->negate = e == 'S'; return 0;
        case 'd': case 'D': a->kind = ATOM_DIGIT; a->negate = e == 'D'; return 0;
        case 'w': case 'W': a->kind = ATOM_WORD; a->negate = e == 'W'; return 0;
        default: a->kind = ATOM_CHAR; return escape_cp(e, &a->cp) ? 0 : -1;
        }
    }
    size_t l;
    a->kind = ATOM_CHAR;
    a->cp = utf8_decode(p + *i, n - *i, &l);
    *i += l;
    return 0;
}

void text_regex_free(struct text_regex *re)
{
    if (!re)
        return;
    for (size_t b = 0; b < re->n_br; b++) {
        for (size_t k = 0; k < re->br[b].n; k++)
            free(re->br[b].atoms[k].ranges);
        free(re->br[b].atoms);
    }
    free(re->br);
    free(re);
}

int text_regex_compile(const char *pattern, struct text_regex **out, struct df_err *err)
{
    size_t n = strlen(pattern), i = 0;
    if (utf8_invalid_at(pattern, n) != n)
        return df_err_set(err, DF_E_PARSE, "regex '%s' is not UTF-8", pattern);
    struct text_regex *re = calloc(1, sizeof(*re));
    if (!re || !(re->br = calloc(1, sizeof(*re->br))))
        goto nomem;
    re->n_br = 1;
    while (i < n) {
        if (pattern[i] == '|') {
            struct branch *b = realloc(re->br, (re->n_br + 1) * sizeof(*b));
            if (!b)
                goto nomem;
            re->br = b;
            re->br[re->n_br++] = (struct branch){0};
            i++;
            continue;
        }
        struct branch *b = &re->br[re->n_br - 1];
        struct atom *as = realloc(b->atoms, (b->n + 1) * sizeof(*as));
        if (!as)
            goto nomem;
        b->atoms = as;
        struct atom *a = &as[b->n++];
        if (parse_atom(pattern, n, &i, a) < 0 || parse_quant(pattern, n, &i, a) < 0) {
            text_regex_free(re);
            return df_err_set(err, DF_E_UNSUPPORTED,
                              "regex '%s': construct at offset %zu is not supported", pattern, i);
        }
    }
    *out = re;
    return 0;
nomem:
    text_regex_free(re);
    return df_err_set(err, DF_E_NOMEM, "regex '%s': out of memory", pattern);
}
