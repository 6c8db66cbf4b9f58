/*
 * tokenizer.c -- the encode pipeline of tokenizers' TokenizerImpl::encode for a
 * single sequence, then the pipeline's truncation, padding and mask.
 *
 *   1. added tokens whose `normalized` is false are found in the raw text
 *      (leftmost-longest; single_word / lstrip / rstrip as tokenizers applies
 *      them); the text between them is a segment;
 *   2. each segment is normalized, then split again on the normalized added
 *      tokens;
 *   3. the pre-tokenizer splits what is left into pieces;
 *   4. the unigram model turns each piece into ids;
 *   5. the template puts its ids around the sequence ($A </s>); truncation
 *      first cuts the sequence to max_len minus those ids (so </s> stays), then
 *      padding fills up to max_len.
 */
#include "text_int.h"

#include <stdlib.h>
#include <string.h>

struct tokenizer *tokenizer_alloc(const char *name)
{
    struct tokenizer *tok = calloc(1, sizeof(*tok));
    if (!tok)
        return NULL;
    tok->name = strdup(name ? name : "tokenizer");
    if (!tok->name) {
        free(tok);
        return NULL;
    }
    tok->unk_id = -1;
    tok->pad_id = -1;
    tok->eos_id = -1;
    return tok;
}

void tokenizer_free(struct tokenizer *tok)
{
    if (!tok)
        return;
    for (size_t i = 0; i < tok->n_piece; i++)
        free(tok->piece[i]);
    free(tok->piece);
    free(tok->piece_len);
    free(tok->score);
    free(tok->slots);
    for (size_t i = 0; i < tok->n_norm; i++)
        norm_step_fini(&tok->norm[i]);
    free(tok->norm);
    free(tok->pretok);
    for (size_t i = 0; i < tok->n_added; i++) {
        free(tok->added[i].content);
        free(tok->added[i].norm);
    }
    free(tok->added);
    free(tok->tmpl_pre);
    free(tok->tmpl_post);
    free(tok->name);
    free(tok);
}

int64_t tokenizer_token_id(const struct tokenizer *tok, const char *s, size_t n)
{
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].len == n && memcmp(tok->added[i].content, s, n) == 0)
            return tok->added[i].id;
    return unigram_lookup(tok, s, n);
}

int tokenizer_add_token(struct tokenizer *tok, const char *content, int64_t id, int special,
                        int normalized, int lstrip, int rstrip, int single_word,
                        struct df_err *err)
{
    size_t n = strlen(content);
    if (n == 0)
        return 0; /* tokenizers ignores empty added tokens */
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].len == n && memcmp(tok->added[i].content, content, n) == 0) {
            tok->added[i].id = id; /* the map keeps the last id given to a content */
            return 0;
        }
    struct added_token *a = realloc(tok->added, (tok->n_added + 1) * sizeof(*a));
    if (!a)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
    tok->added = a;
    a = &tok->added[tok->n_added];
    memset(a, 0, sizeof(*a));
    a->content = strdup(content);
    if (!a->content)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
    a->len = n;
    a->id = id;
    a->special = special;
    a->normalized = normalized;
    a->lstrip = lstrip;
    a->rstrip = rstrip;
    a->single_word = single_word;
    tok->n_added++;
    return 0;
}

/* After a reader filled the model and pipeline: index, normalized forms of
 * normalized added tokens, vocabulary size. */
int tokenizer_finish(struct tokenizer *tok, struct df_err *err)
{
    DF_TRY(unigram_build_index(tok, err));
    tok->vocab_size = tok->n_piece;
    for (size_t i = 0; i < tok->n_added; i++) {
        struct added_token *a = &tok->added[i];
        if ((size_t)a->id + 1 > tok->vocab_size)
            tok->vocab_size = (size_t)a->id + 1;
        if (a->normalized) {
            struct tbuf t = {0};
            DF_TRY(text_normalize(tok, a->content, a->len, &t, NULL, err));
            a->norm = t.p ? t.p : strdup("");
            a->norm_len = t.len;
            if (!a->norm)
                return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
        }
    }
    memset(tok->added_first, 0, sizeof(tok->added_first));
    for (size_t i = 0; i < tok->n_added; i++) {
        const struct added_token *a = &tok->added[i];
        const char *pat = a->normalized ? a->norm : a->content;
        if ((a->normalized ? a->norm_len : a->len) > 0)
            tok->added_first[a->normalized ? 1 : 0][(unsigned char)pat[0]] = 1;
    }
    return 0;
}

size_t tokenizer_vocab_size(const struct tokenizer *tok) { return tok ? tok->vocab_size : 0; }
int64_t tokenizer_pad_id(const struct tokenizer *tok) { return tok ? tok->pad_id : -1; }
int64_t tokenizer_eos_id(const struct tokenizer *tok) { return tok ? tok->eos_id : -1; }

const char *tokenizer_piece(const struct tokenizer *tok, int64_t id)
{
    if (!tok || id < 0)
        return NULL;
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id == id)
            return tok->added[i].content;
    return (size_t)id < tok->n_piece ? tok->piece[id] : NULL;
}

/* ---- added tokens -------------------------------------------------------- */

/* One split of a text: [start, end) and the added token there (or -1). */
struct split {
    size_t start, end;
    int64_t id;
};
struct split_list {
    struct split *v;
    size_t n, cap;
};

static int split_push(struct split_list *sl, size_t a, size_t b, int64_t id)
{
    if (sl->n == sl->cap) {
        size_t c = sl->cap ? sl->cap * 2 : 8;
        struct split *v = realloc(sl->v, c * sizeof(*v));
        if (!v)
            return DF_E_NOMEM;
        sl->v = v;
        sl->cap = c;
    }
    sl->v[sl->n++] = (struct split){a, b, id};
    return 0;
}

/* Last / first code point of s[0..n) (n > 0). */
static uint32_t last_cp(const char *s, size_t n)
{
    size_t k = n - 1, l;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return utf8_decode(s + k, n - k, &l);
}

/* tokenizers' AddedVocabulary::find_matches over s[0..n) with the tokens whose
 * `normalized` flag equals `norm`. */
static int find_added(const struct tokenizer *tok, const char *s, size_t n, int norm,
                      struct split_list *out)
{
    size_t i = 0, start_offset = 0;
    while (i < n) {
        if (!tok->added_first[norm ? 1 : 0][(unsigned char)s[i]]) {
            i++;
            continue;
        }
        const struct added_token *best = NULL;
        size_t best_len = 0;
        for (size_t k = 0; k < tok->n_added; k++) {
            const struct added_token *a = &tok->added[k];
            if (a->normalized != norm)
                continue;
            const char *pat = norm ? a->norm : a->content;
            size_t pl = norm ? a->norm_len : a->len;
            if (pl > best_len && pl <= n - i && memcmp(s + i, pat, pl) == 0) {
                best = a;
                best_len = pl;
            }
        }
        if (!best) {
            i++;
            continue;
        }
        size_t start = i, stop = i + best_len, l;
        i = stop; /* the matcher resumes after the match, whatever is kept */
        if (best->single_word) {
            int start_space = start == 0 || !uni_is_word(last_cp(s, start));
            int stop_space = stop == n || !uni_is_word(utf8_decode(s + stop, n - stop, &l));
            if (!start_space || !stop_space)
                continue;
        }
        if (best->lstrip) {
            size_t ns = start;
            while (ns > 0 && uni_is_white_space(last_cp(s, ns))) {
                size_t k = ns - 1;
                while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
                    k--;
                ns = k;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (best->rstrip)
            while (stop < n && uni_is_white_space(utf8_decode(s + stop, n - stop, &l)))
                stop += l;
        if (start_offset < start && split_push(out, start_offset, start, -1) < 0)
            return DF_E_NOMEM;
        if (split_push(out, start, stop, best->id) < 0)
            return DF_E_NOMEM;
        start_offset = stop;
    }
    if (start_offset < n && split_push(out, start_offset, n, -1) < 0)
        return DF_E_NOMEM;
    return 0;
}

/* ---- encode -------------------------------------------------------------- */

struct idvec {
    int64_t *v;
    size_t n, cap;
};

static int id_push(struct idvec *iv, int64_t id)
{
    if (iv->n == iv->cap) {
        size_t c = iv->cap ? iv->cap * 2 : 64;
        int64_t *p = realloc(iv->v, c * sizeof(*p));
        if (!p)
            return DF_E_NOMEM;
        iv->v = p;
        iv->cap = c;
    }
    iv->v[iv->n++] = id;
    return 0;
}

/* Steps 2-4 for one raw segment starting at original offset `orig`. */
static int encode_segment(const struct tokenizer *tok, const char *s, size_t n, size_t orig,
                          struct idvec *ids, struct df_err *err)
{
    struct tbuf norm = {0};
    struct split_list sl = {0};
    struct pretok_list pl = {0};
    int origin = orig == 0;
    int rc = text_normalize(tok, s, n, &norm, &origin, err);
    if (rc == 0 && find_added(tok, norm.p ? norm.p : "", norm.len, 1, &sl) < 0)
        rc = df_err_set(err, DF_E_NOMEM, "encode: out of memory");
    for (size_t k = 0; rc == 0 && k < sl.n; k++) {
        if (sl.v[k].id >= 0) {
            if (id_push(ids, sl.v[k].id) < 0)
                rc = df_err_set(err, DF_E_NOMEM, "encode: out of memory");
            continue;
        }
        pl.n = 0;
        if (pretok_push(&pl, norm.p + sl.v[k].start, sl.v[k].end - sl.v[k].start,
                        origin && sl.v[k].start == 0) < 0) {
            rc = df_err_set(err, DF_E_NOMEM, "encode: out of memory");
            break;
        }
        rc = pretok_run(tok, &pl, err);
        for (size_t p = 0; rc == 0 && p < pl.n; p++)
            rc = unigram_tokenize(tok, pl.v[p].text, pl.v[p].len, &ids->v, &ids->n, &ids->cap, err);
        pretok_list_free(&pl);
    }
    pretok_list_free(&pl);
    free(sl.v);
    tbuf_free(&norm);
    return rc;
}

/* The sequence without template ids. */
static int encode_sequence(const struct tokenizer *tok, const char *s, size_t n, struct idvec *ids,
                           struct df_err *err)
{
    size_t bad = utf8_invalid_at(s, n);
    if (bad != n)
        return df_err_set(err, DF_E_INVAL, "prompt is not valid UTF-8: byte 0x%02x at offset %zu",
                          (unsigned char)s[bad], bad);
    struct split_list sl = {0};
    if (find_added(tok, s, n, 0, &sl) < 0)
        return df_err_set(err, DF_E_NOMEM, "encode: out of memory");
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < sl.n; k++) {
        if (sl.v[k].id >= 0)
            rc = id_push(ids, sl.v[k].id) < 0 ? df_err_set(err, DF_E_NOMEM, "encode: out of memory") : 0;
        else
            rc = encode_segment(tok, s + sl.v[k].start, sl.v[k].end - sl.v[k].start, sl.v[k].start,
                                ids, err);
    }
    free(sl.v);
    return rc;
}

int tokenizer_encode_all(const struct tokenizer *tok, const char *utf8, size_t len,
                         int64_t **ids_out, size_t *n_out, struct df_err *err)
{
    struct idvec seq = {0}, all = {0};
    int rc = encode_sequence(tok, utf8 ? utf8 : "", utf8 ? len : 0, &seq, err);
    if (rc < 0) {
        free(seq.v);
        return rc;
    }
    int nomem = 0;
    for (size_t i = 0; !nomem && i < tok->n_tmpl_pre; i++)
        nomem = id_push(&all, tok->tmpl_pre[i]) < 0;
    for (size_t i = 0; !nomem && i < seq.n; i++)
        nomem = id_push(&all, seq.v[i]) < 0;
    for (size_t i = 0; !nomem && i < tok->n_tmpl_post; i++)
        nomem = id_push(&all, tok->tmpl_post[i]) < 0;
    if (!nomem && all.n == 0) { /* a non-NULL array even when empty */
        nomem = id_push(&all, 0) < 0;
        all.n = 0;
    }
    free(seq.v);
    if (nomem) {
        free(all.v);
        return df_err_set(err, DF_E_NOMEM, "encode: out of memory");
    }
    *ids_out = all.v;
    *n_out = all.n;
    return 0;
}

int tokenizer_encode(const struct tokenizer *tok, const char *utf8, size_t len, size_t max_len,
                     int64_t *ids_out, int64_t *mask_out, struct tokenizer_info *info,
                     struct df_err *err)
{
    size_t n_special = tok->n_tmpl_pre + tok->n_tmpl_post;
    DF_FAIL_IF(max_len < n_special || max_len == 0, err, DF_E_RANGE,
               "max_len %zu leaves no room for the %zu special tokens", max_len, n_special);
    DF_FAIL_IF(tok->pad_id < 0, err, DF_E_UNSUPPORTED,
               "%s: the tokenizer has no padding token to pad to %zu", tok->name, max_len);
    struct idvec seq = {0};
    int rc = encode_sequence(tok, utf8 ? utf8 : "", utf8 ? len : 0, &seq, err);
    if (rc < 0) {
        free(seq.v);
        return rc;
    }
    size_t keep = seq.n < max_len - n_special ? seq.n : max_len - n_special;
    size_t k = 0;
    for (size_t i = 0; i < tok->n_tmpl_pre; i++)
        ids_out[k++] = tok->tmpl_pre[i];
    for (size_t i = 0; i < keep; i++)
        ids_out[k++] = seq.v[i];
    for (size_t i = 0; i < tok->n_tmpl_post; i++)
        ids_out[k++] = tok->tmpl_post[i];
    size_t n_real = k;
    for (; k < max_len; k++)
        ids_out[k] = tok->pad_id;
    if (mask_out)
        for (size_t i = 0; i < max_len; i++)
            mask_out[i] = i < n_real;
    if (info) {
        info->n_real = n_real;
        info->n_total = seq.n + n_special;
        info->truncated = seq.n > keep;
    }
    free(seq.v);
    return 0;
}
