/* text_pretok.c -- the pre-tokenizer steps: WhitespaceSplit (split on Unicode
 * White_Space, dropping it) and Metaspace (spaces become the replacement
 * character, which is prepended per prepend_scheme unless already there, then
 * the text is split before each replacement character: "MergedWithNext").
 * Empty pieces are dropped, as tokenizers' PreTokenizedString does. */
#include "text_int.h"

#include <stdlib.h>
#include <string.h>

int pretok_push(struct pretok_list *pl, const char *s, size_t n, int at_origin)
{
    if (n == 0)
        return 0;
    if (pl->n == pl->cap) {
        size_t c = pl->cap ? pl->cap * 2 : 16;
        struct pretok_piece *v = realloc(pl->v, c * sizeof(*v));
        if (!v)
            return DF_E_NOMEM;
        pl->v = v;
        pl->cap = c;
    }
    char *t = malloc(n + 1);
    if (!t)
        return DF_E_NOMEM;
    memcpy(t, s, n);
    t[n] = '\0';
    pl->v[pl->n++] = (struct pretok_piece){t, n, at_origin};
    return 0;
}

void pretok_list_free(struct pretok_list *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->v[i].text);
    free(pl->v);
    memset(pl, 0, sizeof(*pl));
}

static int whitespace_split(const struct pretok_piece *p, struct pretok_list *out)
{
    size_t i = 0, start = 0, l;
    while (i < p->len) {
        uint32_t c = utf8_decode(p->text + i, p->len - i, &l);
        if (uni_is_white_space(c)) {
            if (i > start && pretok_push(out, p->text + start, i - start, p->at_origin && start == 0) < 0)
                return DF_E_NOMEM;
            start = i + l;
        }
        i += l;
    }
    return pretok_push(out, p->text + start, p->len - start, p->at_origin && start == 0);
}

static int metaspace(const struct pretok_step *st, const struct pretok_piece *p,
                     struct pretok_list *out)
{
    struct tbuf t = {0};
    int rc = 0;
    int starts = p->len >= st->rep_len && memcmp(p->text, st->rep, st->rep_len) == 0;
    int prepend = st->prepend == PREPEND_ALWAYS || (st->prepend == PREPEND_FIRST && p->at_origin);
    /* a space at the start becomes the replacement, so it counts as "starts with" */
    if (p->len && p->text[0] == ' ')
        starts = 1;
    if (prepend && !starts && p->len)
        rc = tbuf_put(&t, st->rep, st->rep_len);
    for (size_t i = 0; rc == 0 && i < p->len; i++)
        rc = p->text[i] == ' ' ? tbuf_put(&t, st->rep, st->rep_len) : tbuf_put(&t, p->text + i, 1);
    if (rc == 0 && !st->split)
        rc = pretok_push(out, t.p, t.len, p->at_origin);
    for (size_t i = 0, start = 0; rc == 0 && st->split && i <= t.len; i++) {
        if (i == t.len || (i > start && t.len - i >= st->rep_len &&
                           memcmp(t.p + i, st->rep, st->rep_len) == 0)) {
            rc = pretok_push(out, t.p + start, i - start, p->at_origin && start == 0);
            start = i;
        }
    }
    tbuf_free(&t);
    return rc;
}

int pretok_run(const struct tokenizer *tok, struct pretok_list *pl, struct df_err *err)
{
    for (size_t k = 0; k < tok->n_pretok; k++) {
        struct pretok_list out = {0};
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < pl->n; i++)
            rc = tok->pretok[k].kind == PRETOK_WHITESPACE_SPLIT
                     ? whitespace_split(&pl->v[i], &out)
                     : metaspace(&tok->pretok[k], &pl->v[i], &out);
        pretok_list_free(pl);
        *pl = out;
        if (rc < 0)
            return df_err_set(err, DF_E_NOMEM, "pre-tokenize: out of memory");
    }
    return 0;
}
