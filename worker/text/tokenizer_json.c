/*
 * tokenizer_json.c -- read a HuggingFace `tokenizers` tokenizer.json into a
 * struct tokenizer.  Read: model (Unigram: vocab [piece, score] pairs, unk_id,
 * byte_fallback), normalizer (Sequence, Precompiled, Replace, Strip, Prepend),
 * pre_tokenizer (Sequence, WhitespaceSplit, Metaspace), post_processor
 * (TemplateProcessing for a single sequence), added_tokens, padding.pad_id.
 * Anything else that changes ids is refused with DF_E_UNSUPPORTED naming the
 * key, rather than encoded differently from the library.
 */
#include "text_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bool_of(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* A token id as tokenizers stores it (u32); -1 when o is not one. */
static int64_t id_of(const cJSON *o)
{
    if (!cJSON_IsNumber(o) || !(o->valuedouble >= 0 && o->valuedouble < 4294967296.0) ||
        o->valuedouble != (double)(int64_t)o->valuedouble)
        return -1;
    return (int64_t)o->valuedouble;
}

static const char *type_of(const cJSON *o)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static int read_vocab(struct tokenizer *tok, const cJSON *model, struct df_err *err)
{
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    DF_FAIL_IF(!cJSON_IsArray(vocab), err, DF_E_PARSE, "%s: model.vocab is not a list of [piece, score]",
               tok->name);
    size_t n = (size_t)cJSON_GetArraySize(vocab);
    DF_FAIL_IF(n == 0, err, DF_E_PARSE, "%s: model.vocab is empty (Unigram needs at least <unk>)",
               tok->name);
    tok->piece = calloc(n, sizeof(char *));
    tok->piece_len = calloc(n, sizeof(uint32_t));
    tok->score = calloc(n, sizeof(double));
    if (!tok->piece || !tok->piece_len || !tok->score)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory for %zu pieces", tok->name, n);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab)
    {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *s = cJSON_GetArrayItem(e, 1);
        DF_FAIL_IF(!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(p) ||
                       !cJSON_IsNumber(s),
                   err, DF_E_PARSE, "%s: model.vocab[%zu] is not [piece, score]", tok->name, i);
        size_t l = strlen(p->valuestring);
        DF_FAIL_IF(utf8_invalid_at(p->valuestring, l) != l, err, DF_E_PARSE,
                   "%s: model.vocab[%zu] is not UTF-8", tok->name, i);
        tok->piece[i] = strdup(p->valuestring);
        if (!tok->piece[i])
            return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
        tok->piece_len[i] = (uint32_t)l;
        tok->score[i] = s->valuedouble;
        tok->n_piece = ++i;
    }
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    if (cJSON_IsNumber(unk)) {
        DF_FAIL_IF(unk->valuedouble < 0 || unk->valuedouble >= (double)n, err, DF_E_PARSE,
                   "%s: model.unk_id %g is outside the %zu-piece vocabulary", tok->name,
                   unk->valuedouble, n);
        tok->unk_id = (int64_t)unk->valuedouble;
    } else
        DF_FAIL_IF(unk && !cJSON_IsNull(unk), err, DF_E_PARSE, "%s: model.unk_id is not a number",
                   tok->name);
    tok->byte_fallback = bool_of(model, "byte_fallback", 0);
    return 0;
}

static int add_norm(struct tokenizer *tok, const cJSON *n, struct df_err *err);

static struct norm_step *new_norm(struct tokenizer *tok)
{
    struct norm_step *v = realloc(tok->norm, (tok->n_norm + 1) * sizeof(*v));
    if (!v)
        return NULL;
    tok->norm = v;
    memset(&v[tok->n_norm], 0, sizeof(*v));
    return &v[tok->n_norm++];
}

static int norm_precompiled(struct tokenizer *tok, const cJSON *n, struct df_err *err)
{
    const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(n, "precompiled_charsmap");
    DF_FAIL_IF(!cJSON_IsString(b64), err, DF_E_PARSE,
               "%s: normalizer Precompiled has no precompiled_charsmap string", tok->name);
    unsigned char *blob;
    size_t len;
    char what[300];
    snprintf(what, sizeof(what), "%s: normalizer.precompiled_charsmap", tok->name);
    DF_TRY(text_base64_decode(b64->valuestring, strlen(b64->valuestring), &blob, &len, what, err));
    struct norm_step *st = new_norm(tok);
    int rc = st ? charsmap_parse(blob, len, &st->cm, what, err)
                : df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
    if (st)
        st->kind = NORM_PRECOMPILED;
    free(blob);
    return rc;
}

static int norm_replace(struct tokenizer *tok, const cJSON *n, struct df_err *err)
{
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(n, "content");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(pat, "String");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    DF_FAIL_IF(!cJSON_IsString(content) || !(cJSON_IsString(ps) || cJSON_IsString(pr)), err,
               DF_E_PARSE, "%s: normalizer Replace needs pattern {String|Regex} and content",
               tok->name);
    struct norm_step *st = new_norm(tok);
    if (!st)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
    st->kind = NORM_REPLACE;
    st->text = strdup(content->valuestring);
    if (ps)
        st->pat = strdup(ps->valuestring);
    if (!st->text || (ps && !st->pat))
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
    if (pr) {
        int rc = text_regex_compile(pr->valuestring, &st->re, err);
        if (rc < 0)
            df_err_prefix(err, "%s: normalizer Replace", tok->name);
        return rc;
    }
    return 0;
}

static int add_norm(struct tokenizer *tok, const cJSON *n, struct df_err *err)
{
    const char *t = type_of(n);
    DF_FAIL_IF(!t, err, DF_E_PARSE, "%s: a normalizer has no type", tok->name);
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *e;
        DF_FAIL_IF(!cJSON_IsArray(list), err, DF_E_PARSE, "%s: normalizer Sequence has no list",
                   tok->name);
        cJSON_ArrayForEach(e, list) DF_TRY(add_norm(tok, e, err));
        return 0;
    }
    if (strcmp(t, "Precompiled") == 0)
        return norm_precompiled(tok, n, err);
    if (strcmp(t, "Replace") == 0)
        return norm_replace(tok, n, err);
    if (strcmp(t, "Strip") == 0 || strcmp(t, "Prepend") == 0) {
        struct norm_step *st = new_norm(tok);
        if (!st)
            return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
        if (t[0] == 'S') {
            st->kind = NORM_STRIP;
            st->strip_left = bool_of(n, "strip_left", 0);
            st->strip_right = bool_of(n, "strip_right", 0);
            return 0;
        }
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(n, "prepend");
        DF_FAIL_IF(!cJSON_IsString(p), err, DF_E_PARSE, "%s: normalizer Prepend has no string",
                   tok->name);
        st->kind = NORM_PREPEND;
        st->text = strdup(p->valuestring);
        return st->text ? 0 : df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
    }
    return df_err_set(err, DF_E_UNSUPPORTED, "%s: normalizer type '%s' is not supported", tok->name, t);
}

static int add_pretok(struct tokenizer *tok, const cJSON *p, struct df_err *err)
{
    const char *t = type_of(p);
    DF_FAIL_IF(!t, err, DF_E_PARSE, "%s: a pre_tokenizer has no type", tok->name);
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"), *e;
        DF_FAIL_IF(!cJSON_IsArray(list), err, DF_E_PARSE, "%s: pre_tokenizer Sequence has no list",
                   tok->name);
        cJSON_ArrayForEach(e, list) DF_TRY(add_pretok(tok, e, err));
        return 0;
    }
    int ws = strcmp(t, "WhitespaceSplit") == 0, ms = strcmp(t, "Metaspace") == 0;
    DF_FAIL_IF(!ws && !ms, err, DF_E_UNSUPPORTED, "%s: pre_tokenizer type '%s' is not supported",
               tok->name, t);
    struct pretok_step *v = realloc(tok->pretok, (tok->n_pretok + 1) * sizeof(*v));
    if (!v)
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", tok->name);
    tok->pretok = v;
    struct pretok_step *st = &v[tok->n_pretok++];
    memset(st, 0, sizeof(*st));
    st->kind = ws ? PRETOK_WHITESPACE_SPLIT : PRETOK_METASPACE;
    if (ws)
        return 0;
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(p, "replacement");
    size_t rl = cJSON_IsString(rep) ? strlen(rep->valuestring) : 0;
    DF_FAIL_IF(rl == 0 || rl > 4 || utf8_len((unsigned char)rep->valuestring[0]) != rl ||
                   utf8_invalid_at(rep->valuestring, rl) != rl,
               err, DF_E_PARSE, "%s: Metaspace replacement must be one character", tok->name);
    memcpy(st->rep, rep->valuestring, rl);
    st->rep_len = rl;
    st->split = bool_of(p, "split", 1);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(p, "prepend_scheme");
    st->prepend = PREPEND_ALWAYS;
    if (cJSON_IsString(ps)) {
        const char *s = ps->valuestring;
        DF_FAIL_IF(strcmp(s, "always") && strcmp(s, "first") && strcmp(s, "never"), err, DF_E_PARSE,
                   "%s: Metaspace prepend_scheme '%s' is not always/first/never", tok->name, s);
        st->prepend = s[0] == 'a' ? PREPEND_ALWAYS : s[0] == 'f' ? PREPEND_FIRST : PREPEND_NEVER;
    }
    if (bool_of(p, "add_prefix_space", 1) == 0) {
        DF_FAIL_IF(cJSON_IsString(ps) && st->prepend != PREPEND_NEVER, err, DF_E_PARSE,
                   "%s: Metaspace add_prefix_space does not match prepend_scheme", tok->name);
        st->prepend = PREPEND_NEVER;
    }
    return 0;
}

static int push_tmpl(struct tokenizer *tok, int64_t **v, size_t *n, const cJSON *ids)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, ids)
    {
        if (id_of(e) < 0)
            return DF_E_PARSE;
        int64_t *p = realloc(*v, (*n + 1) * sizeof(*p));
        if (!p)
            return DF_E_NOMEM;
        *v = p;
        p[(*n)++] = id_of(e);
    }
    (void)tok;
    return 0;
}

static int read_post(struct tokenizer *tok, const cJSON *pp, struct df_err *err)
{
    DF_FAIL_IF(tok->n_tmpl_pre || tok->n_tmpl_post, err, DF_E_UNSUPPORTED,
               "%s: more than one TemplateProcessing post_processor", tok->name);
    if (!pp || cJSON_IsNull(pp))
        return 0;
    const char *t = type_of(pp);
    if (t && strcmp(t, "Sequence") == 0) {
        /* newer files wrap the template: ByteLevel (offsets only) may sit beside it */
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors"), *e;
        DF_FAIL_IF(!cJSON_IsArray(list), err, DF_E_PARSE, "%s: post_processor Sequence has no list",
                   tok->name);
        cJSON_ArrayForEach(e, list)
        {
            const char *et = type_of(e);
            if (!(et && strcmp(et, "ByteLevel") == 0))
                DF_TRY(read_post(tok, e, err));
        }
        return 0;
    }
    DF_FAIL_IF(!t || strcmp(t, "TemplateProcessing") != 0, err, DF_E_UNSUPPORTED,
               "%s: post_processor type '%s' is not supported", tok->name, t ? t : "(none)");
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
    DF_FAIL_IF(!cJSON_IsArray(single), err, DF_E_PARSE, "%s: post_processor.single is not a list",
               tok->name);
    int seen_a = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, single)
    {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "Sequence");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
        if (seq) {
            DF_FAIL_IF(seen_a, err, DF_E_UNSUPPORTED, "%s: template uses the sequence twice", tok->name);
            seen_a = 1;
            continue;
        }
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(sp, "id");
        DF_FAIL_IF(!cJSON_IsString(id), err, DF_E_PARSE, "%s: post_processor.single has an entry that is neither Sequence nor SpecialToken",
                   tok->name);
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(specials, id->valuestring);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids");
        DF_FAIL_IF(!cJSON_IsArray(ids), err, DF_E_PARSE,
                   "%s: post_processor special token '%s' has no ids", tok->name, id->valuestring);
        int rc = seen_a ? push_tmpl(tok, &tok->tmpl_post, &tok->n_tmpl_post, ids)
                        : push_tmpl(tok, &tok->tmpl_pre, &tok->n_tmpl_pre, ids);
        DF_FAIL_IF(rc < 0, err, rc == DF_E_NOMEM ? DF_E_NOMEM : DF_E_PARSE,
                   "%s: post_processor special token '%s': bad ids", tok->name, id->valuestring);
    }
    if (tok->n_tmpl_post)
        tok->eos_id = tok->tmpl_post[tok->n_tmpl_post - 1];
    return 0;
}

static int read_added(struct tokenizer *tok, const cJSON *list, struct df_err *err)
{
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, list)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        DF_FAIL_IF(id_of(id) < 0 || !cJSON_IsString(c), err, DF_E_PARSE,
                   "%s: added_tokens[%zu] needs an id and a content", tok->name, i);
        int special = bool_of(e, "special", 0);
        DF_TRY(tokenizer_add_token(tok, c->valuestring, id_of(id), special,
                                   bool_of(e, "normalized", !special), bool_of(e, "lstrip", 0),
                                   bool_of(e, "rstrip", 0), bool_of(e, "single_word", 0), err));
        i++;
    }
    return 0;
}

static int read_all(struct tokenizer *tok, const cJSON *root, struct df_err *err)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    DF_FAIL_IF(!cJSON_IsObject(model), err, DF_E_PARSE, "%s: no \"model\" object", tok->name);
    const char *mt = type_of(model);
    DF_FAIL_IF(mt && strcmp(mt, "Unigram") != 0, err, DF_E_UNSUPPORTED,
               "%s: model type '%s' is not supported (only Unigram, the T5/umT5 SentencePiece model)",
               tok->name, mt);
    DF_TRY(read_vocab(tok, model, err));
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (n && !cJSON_IsNull(n))
        DF_TRY(add_norm(tok, n, err));
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (p && !cJSON_IsNull(p))
        DF_TRY(add_pretok(tok, p, err));
    DF_TRY(read_post(tok, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), err));
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (cJSON_IsArray(added))
        DF_TRY(read_added(tok, added, err));
    DF_TRY(tokenizer_finish(tok, err));
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "padding"),
                                                        "pad_id");
    tok->pad_id = id_of(pad) >= 0 ? id_of(pad) : tokenizer_token_id(tok, "<pad>", 5);
    return 0;
}

int tokenizer_parse_json(const char *data, size_t len, const char *name, struct tokenizer **out,
                         struct df_err *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        size_t off = end && end >= data ? (size_t)(end - data) : 0;
        cJSON_Delete(root);
        return df_err_set(err, DF_E_PARSE, "%s: not a JSON object (error near byte %zu of %zu)", name,
                          off, len);
    }
    struct tokenizer *tok = tokenizer_alloc(name);
    if (!tok) {
        cJSON_Delete(root);
        return df_err_set(err, DF_E_NOMEM, "%s: out of memory", name);
    }
    int rc = read_all(tok, root, err);
    cJSON_Delete(root);
    if (rc < 0) {
        tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return 0;
}
