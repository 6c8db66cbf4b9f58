/*
 * tokenizer_spm.c -- read a SentencePiece `spiece.model` (a protobuf
 * ModelProto) and build the tokenizer transformers builds from it when a
 * folder has no tokenizer.json (T5Tokenizer: the pieces and their scores, then
 * `extra_ids` sentinels <extra_id_{N-1}> .. <extra_id_0> with score 0; the
 * precompiled charsmap as the only normalizer; WhitespaceSplit + Metaspace;
 * no byte fallback; </s>, <unk>, <pad> and the sentinels as special tokens;
 * the $A </s> template).
 *
 * The protobuf fields read (sentencepiece_model.proto):
 *   ModelProto      1 pieces (repeated message), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (enum)
 *   TrainerSpec     3 model_type (1 = UNIGRAM), 40 unk_id
 *   NormalizerSpec  2 precompiled_charsmap (bytes)
 * Every other field is skipped by its wire type.
 */
#include "text_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pb {
    const unsigned char *p, *end;
};

static int varint(struct pb *b, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end)
            return -1;
        unsigned char c = *b->p++;
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Next field: *num, *wire; for wire 2 (data, len) is the payload, for 0 *v. */
static int field(struct pb *b, uint32_t *num, int *wire, uint64_t *v, const unsigned char **data,
                 size_t *len)
{
    uint64_t key;
    if (varint(b, &key) < 0 || (key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF)
        return -1;
    *num = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    switch (*wire) {
    case 0:
        return varint(b, v);
    case 1:
    case 5: {
        size_t n = *wire == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < n)
            return -1;
        *data = b->p;
        *len = n;
        b->p += n;
        return 0;
    }
    case 2:
        if (varint(b, v) < 0 || *v > (uint64_t)(b->end - b->p))
            return -1;
        *data = b->p;
        *len = (size_t)*v;
        b->p += *len;
        return 0;
    default:
        return -1; /* groups (3, 4) are not used by sentencepiece */
    }
}

static int add_piece(struct tokenizer *tok, const char *s, size_t n, double score, size_t *cap)
{
    if (tok->n_piece == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        char **p = realloc(tok->piece, c * sizeof(*p));
        if (p)
            tok->piece = p;
        uint32_t *l = realloc(tok->piece_len, c * sizeof(*l));
        if (l)
            tok->piece_len = l;
        double *sc = realloc(tok->score, c * sizeof(*sc));
        if (sc)
            tok->score = sc;
        if (!p || !l || !sc)
            return DF_E_NOMEM;
        *cap = c;
    }
    char *t = malloc(n + 1);
    if (!t)
        return DF_E_NOMEM;
    memcpy(t, s, n);
    t[n] = '\0';
    tok->piece[tok->n_piece] = t;
    tok->piece_len[tok->n_piece] = (uint32_t)n;
    tok->score[tok->n_piece] = score;
    tok->n_piece++;
    return 0;
}

static int read_piece(struct tokenizer *tok, const unsigned char *d, size_t n, size_t *cap,
                      struct df_err *err)
{
    struct pb b = {d, d + n};
    const unsigned char *s = NULL, *data;
    size_t sl = 0, len;
    float score = 0;
    while (b.p < b.end) {
        uint32_t num;
        int wire;
        uint64_t v;
        DF_FAIL_IF(field(&b, &num, &wire, &v, &data, &len) < 0, err, DF_E_PARSE,
                   "%s: piece %zu is not a valid protobuf message", tok->name, tok->n_piece);
        if (num == 1 && wire == 2) {
            s = data;
            sl = len;
        } else if (num == 2 && wire == 5) {
            uint32_t u = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                         (uint32_t)data[3] << 24;
            memcpy(&score, &u, 4);
        }
    }
    DF_FAIL_IF(!s, err, DF_E_PARSE, "%s: piece %zu has no text", tok->name, tok->n_piece);
    DF_FAIL_IF(utf8_invalid_at((const char *)s, sl) != sl || memchr(s, 0, sl), err, DF_E_PARSE,
               "%s: piece %zu is not UTF-8", tok->name, tok->n_piece);
    if (add_piece(tok, (const char *)s, sl, (double)score, cap) < 0)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
    return 0;
}

/* Walk a sub-message for one varint field; *out unchanged when absent. */
static int sub_varint(const unsigned char *d, size_t n, uint32_t want, int64_t *out)
{
    struct pb b = {d, d + n};
    while (b.p < b.end) {
        uint32_t num;
        int wire;
        uint64_t v;
        const unsigned char *data;
        size_t len;
        if (field(&b, &num, &wire, &v, &data, &len) < 0)
            return -1;
        if (num == want && wire == 0)
            *out = (int64_t)(int32_t)(uint32_t)v;
    }
    return 0;
}

static int read_model(struct tokenizer *tok, const unsigned char *d, size_t n, int extra_ids,
                      struct df_err *err)
{
    struct pb b = {d, d + n};
    size_t cap = 0;
    const unsigned char *trainer = NULL, *norm = NULL;
    size_t trainer_len = 0, norm_len = 0;
    while (b.p < b.end) {
        uint32_t num;
        int wire;
        uint64_t v;
        const unsigned char *data;
        size_t len;
        DF_FAIL_IF(field(&b, &num, &wire, &v, &data, &len) < 0, err, DF_E_PARSE,
                   "%s: not a SentencePiece model (bad protobuf at byte %zu)", tok->name,
                   (size_t)(b.p - d));
        if (num == 1 && wire == 2)
            DF_TRY(read_piece(tok, data, len, &cap, err));
        else if (num == 2 && wire == 2)
            trainer = data, trainer_len = len;
        else if (num == 3 && wire == 2)
            norm = data, norm_len = len;
    }
    DF_FAIL_IF(tok->n_piece == 0, err, DF_E_PARSE, "%s: SentencePiece model has no pieces", tok->name);
    int64_t model_type = 1, unk_id = 0;
    DF_FAIL_IF(trainer && (sub_varint(trainer, trainer_len, 3, &model_type) < 0 ||
                           sub_varint(trainer, trainer_len, 40, &unk_id) < 0),
               err, DF_E_PARSE, "%s: bad trainer_spec", tok->name);
    DF_FAIL_IF(model_type != 1, err, DF_E_UNSUPPORTED,
               "%s: SentencePiece model_type %lld is not unigram (1)", tok->name, (long long)model_type);
    DF_FAIL_IF(unk_id < 0 || (size_t)unk_id >= tok->n_piece, err, DF_E_PARSE,
               "%s: unk_id %lld outside the %zu pieces", tok->name, (long long)unk_id, tok->n_piece);
    tok->unk_id = unk_id;
    for (int i = extra_ids - 1; i >= 0; i--) {
        char name[32];
        int l = snprintf(name, sizeof(name), "<extra_id_%d>", i);
        if (add_piece(tok, name, (size_t)l, 0.0, &cap) < 0)
            return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
    }
    struct pb nb = {norm, norm ? norm + norm_len : NULL};
    while (norm && nb.p < nb.end) {
        uint32_t num;
        int wire;
        uint64_t v;
        const unsigned char *data;
        size_t len;
        DF_FAIL_IF(field(&nb, &num, &wire, &v, &data, &len) < 0, err, DF_E_PARSE,
                   "%s: bad normalizer_spec", tok->name);
        if (num == 2 && wire == 2 && len > 0) {
            tok->norm = calloc(1, sizeof(*tok->norm));
            if (!tok->norm)
                return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
            tok->n_norm = 1;
            tok->norm[0].kind = NORM_PRECOMPILED;
            char what[300];
            snprintf(what, sizeof(what), "%s: normalizer_spec.precompiled_charsmap", tok->name);
            DF_TRY(charsmap_parse(data, len, &tok->norm[0].cm, what, err));
        }
    }
    return 0;
}

int tokenizer_parse_spm(const void *data, size_t len, const char *name, int extra_ids,
                        const char *pad_token, struct tokenizer **out, struct df_err *err)
{
    if (extra_ids < 0)
        extra_ids = 100;
    DF_FAIL_IF(extra_ids > 100000, err, DF_E_RANGE, "%s: extra_ids %d is too many", name, extra_ids);
    struct tokenizer *tok = tokenizer_alloc(name);
    if (!tok)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", name);
    int rc = read_model(tok, data, len, extra_ids, err);
    if (rc == 0 && !(tok->pretok = calloc(2, sizeof(*tok->pretok))))
        rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", name);
    if (rc == 0) {
        tok->n_pretok = 2;
        tok->pretok[0].kind = PRETOK_WHITESPACE_SPLIT;
        tok->pretok[1] = (struct pretok_step){PRETOK_METASPACE, "\xe2\x96\x81", 3, PREPEND_ALWAYS, 1};
        rc = unigram_build_index(tok, err);
    }
    /* special tokens, as T5Tokenizer registers them (ids from the vocabulary) */
    static const char *const specials[] = {"</s>", "<unk>", "<pad>"};
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        int64_t id = unigram_lookup(tok, specials[i], strlen(specials[i]));
        if (id >= 0)
            rc = tokenizer_add_token(tok, specials[i], id, 1, 0, 0, 0, 0, err);
    }
    for (int i = 0; rc == 0 && i < extra_ids; i++) {
        char s[32];
        int l = snprintf(s, sizeof(s), "<extra_id_%d>", i);
        rc = tokenizer_add_token(tok, s, unigram_lookup(tok, s, (size_t)l), 1, 0, 0, 0, 0, err);
    }
    free(tok->slots); /* rebuilt by tokenizer_finish */
    tok->slots = NULL;
    tok->n_slots = 0;
    if (rc == 0)
        rc = tokenizer_finish(tok, err);
    if (rc == 0) {
        int64_t eos = tokenizer_token_id(tok, "</s>", 4);
        if (eos >= 0) {
            tok->tmpl_post = malloc(sizeof(int64_t));
            if (!tok->tmpl_post)
                rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", name);
            else {
                tok->tmpl_post[0] = eos;
                tok->n_tmpl_post = 1;
                tok->eos_id = eos;
            }
        }
        const char *pt = pad_token ? pad_token : "<pad>";
        tok->pad_id = tokenizer_token_id(tok, pt, strlen(pt));
    }
    if (rc < 0) {
        tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return 0;
}
