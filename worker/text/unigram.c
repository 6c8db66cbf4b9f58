/*
 * unigram.c -- the unigram model: piece lookup and Viterbi, as tokenizers'
 * Unigram::encode_optimized and Unigram::tokenize run them.
 *
 * For each start position (a code point boundary), every vocabulary piece that
 * is a prefix of the rest of the text is a lattice edge scored by the piece's
 * score; candidates are visited shortest first and a node keeps the first best
 * (strictly greater wins), so ties resolve as in tokenizers.  When no piece
 * covers exactly the one code point at that position, an <unk> edge of that
 * code point with score min_score - 10 is offered.  On the best path, runs of
 * <unk> edges are fused into one string; every string is then looked up in
 * the vocabulary again (a fused run may itself be a piece), and a miss becomes
 * its bytes as <0xNN> pieces when byte_fallback is on and they all exist, else
 * <unk>.  Prefix search uses an incremental hash over the text instead of a
 * trie: the same set of prefixes, in the same (shortest first) order.
 */
#include "text_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define UNK_PENALTY 10.0

static uint64_t hash_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * 0x100000001B3ull;
}

#define HASH_INIT 0xCBF29CE484222325ull

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = HASH_INIT;
    for (size_t i = 0; i < n; i++)
        h = hash_step(h, (unsigned char)s[i]);
    return h;
}

static int64_t find(const struct tokenizer *tok, uint64_t h, const char *s, size_t n)
{
    size_t mask = tok->n_slots - 1;
    for (size_t k = (size_t)h & mask;; k = (k + 1) & mask) {
        const struct vocab_slot *sl = &tok->slots[k];
        if (sl->id < 0)
            return -1;
        if (sl->hash == h && tok->piece_len[sl->id] == n && memcmp(tok->piece[sl->id], s, n) == 0)
            return sl->id;
    }
}

int64_t unigram_lookup(const struct tokenizer *tok, const char *s, size_t n)
{
    if (!tok->n_slots || n > tok->max_piece_len)
        return -1;
    return find(tok, hash_bytes(s, n), s, n);
}

int unigram_build_index(struct tokenizer *tok, struct df_err *err)
{
    size_t ns = 16;
    while (ns < tok->n_piece * 2)
        ns *= 2;
    tok->slots = malloc(ns * sizeof(*tok->slots));
    if (!tok->slots)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory for the vocabulary index", tok->name);
    for (size_t k = 0; k < ns; k++)
        tok->slots[k].id = -1;
    tok->n_slots = ns;
    tok->min_score = INFINITY;
    tok->max_piece_len = 0;
    for (size_t id = 0; id < tok->n_piece; id++) {
        const char *p = tok->piece[id];
        size_t n = tok->piece_len[id];
        uint64_t h = hash_bytes(p, n);
        size_t k = (size_t)h & (ns - 1);
        /* the last duplicate wins, as tokenizers' token_to_ids does */
        while (tok->slots[k].id >= 0 &&
               !(tok->slots[k].hash == h && tok->piece_len[tok->slots[k].id] == n &&
                 memcmp(tok->piece[tok->slots[k].id], p, n) == 0))
            k = (k + 1) & (ns - 1);
        tok->slots[k].hash = h;
        tok->slots[k].id = (int64_t)id;
        if (n > tok->max_piece_len)
            tok->max_piece_len = n;
        if (tok->score[id] < tok->min_score)
            tok->min_score = tok->score[id];
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        static const char hex[] = "0123456789ABCDEF";
        memcpy(name, "<0x", 3);
        name[3] = hex[b >> 4];
        name[4] = hex[b & 15];
        name[5] = '>';
        tok->byte_id[b] = unigram_lookup(tok, name, 6);
    }
    return 0;
}

struct node {
    double score;   /* best path score ending here */
    size_t start;   /* where the last edge starts; SIZE_MAX: unreached */
    int64_t id;
};

static int push_id(int64_t **ids, size_t *n, size_t *cap, int64_t id)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        int64_t *p = realloc(*ids, c * sizeof(*p));
        if (!p)
            return DF_E_NOMEM;
        *ids = p;
        *cap = c;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

/* One piece string of the best path to ids (tokenizers' Unigram::tokenize). */
static int emit(const struct tokenizer *tok, const char *s, size_t n, int64_t **ids, size_t *n_ids,
                size_t *cap, struct df_err *err)
{
    int64_t id = unigram_lookup(tok, s, n);
    if (id < 0 && tok->byte_fallback) {
        size_t k = 0;
        while (k < n && tok->byte_id[(unsigned char)s[k]] >= 0)
            k++;
        if (k == n) {
            for (k = 0; k < n; k++)
                if (push_id(ids, n_ids, cap, tok->byte_id[(unsigned char)s[k]]) < 0)
                    return df_err_set(err, DF_E_NOMEM, "tokenize: out of memory");
            return 0;
        }
    }
    if (id < 0)
        id = tok->unk_id;
    if (id < 0)
        return df_err_set(err, DF_E_INVAL, "%s: text has a piece outside the vocabulary and the model has no unk_id",
                          tok->name);
    if (push_id(ids, n_ids, cap, id) < 0)
        return df_err_set(err, DF_E_NOMEM, "tokenize: out of memory");
    return 0;
}

static void viterbi(const struct tokenizer *tok, const char *s, size_t n, struct node *best,
                    double unk_score)
{
    for (size_t i = 0; i <= n; i++)
        best[i] = (struct node){0.0, SIZE_MAX, 0};
    for (size_t at = 0; at < n;) {
        double here = best[at].score;
        size_t mblen = utf8_len((unsigned char)s[at]);
        int single = 0;
        uint64_t h = HASH_INIT;
        size_t lim = n - at < tok->max_piece_len ? n - at : tok->max_piece_len;
        for (size_t len = 1; len <= lim; len++) {
            h = hash_step(h, (unsigned char)s[at + len - 1]);
            int64_t id = find(tok, h, s + at, len);
            if (id < 0)
                continue;
            struct node *t = &best[at + len];
            double cand = tok->score[id] + here;
            if (t->start == SIZE_MAX || cand > t->score)
                *t = (struct node){cand, at, id};
            if (len == mblen)
                single = 1;
        }
        if (!single) {
            struct node *t = &best[at + mblen];
            double cand = unk_score + here;
            if (t->start == SIZE_MAX || cand > t->score)
                *t = (struct node){cand, at, tok->unk_id};
        }
        at += mblen;
    }
}

int unigram_tokenize(const struct tokenizer *tok, const char *s, size_t n, int64_t **ids,
                     size_t *n_ids, size_t *cap, struct df_err *err)
{
    if (n == 0)
        return 0;
    struct node *best = malloc((n + 1) * sizeof(*best));
    size_t *cut = malloc((n + 1) * sizeof(*cut)); /* piece boundaries, back to front */
    if (!best || !cut) {
        free(best);
        free(cut);
        return df_err_set(err, DF_E_NOMEM, "tokenize: out of memory");
    }
    viterbi(tok, s, n, best, tok->min_score - UNK_PENALTY);
    /* Walk back; a run of <unk> edges becomes one piece. */
    size_t nc = 0, end = n;
    int in_unk = 0;
    cut[nc++] = n;
    while (end > 0) {
        const struct node *nd = &best[end];
        int is_unk = tok->unk_id >= 0 && nd->id == tok->unk_id;
        if (!(is_unk && in_unk) && end != n)
            cut[nc++] = end;
        in_unk = is_unk;
        end = nd->start;
    }
    cut[nc++] = 0;
    int rc = 0;
    for (size_t k = nc - 1; rc == 0 && k > 0; k--)
        rc = emit(tok, s + cut[k], cut[k - 1] - cut[k], ids, n_ids, cap, err);
    free(best);
    free(cut);
    return rc;
}
