/* t5_prompt.c -- prompt text to the pipeline's prompt_embeds (t5_prompt.h). */
#include "t5_prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int t5_prompt_open(const char *model_dir, kern_backend_t be, struct t5_prompt **out,
                   struct df_err *err)
{
    *out = NULL;
    struct t5_prompt *tp = calloc(1, sizeof *tp);
    DF_FAIL_IF(!tp, err, DF_E_NOMEM, "t5 prompt: out of memory");
    tp->be = be;
    snprintf(tp->dir, sizeof tp->dir, "%s", model_dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer", model_dir);
    int rc = tokenizer_load(path, &tp->tok, err);
    if (rc < 0) {
        free(tp);
        return rc;
    }
    *out = tp;
    return 0;
}

void t5_prompt_close(struct t5_prompt *tp)
{
    if (!tp)
        return;
    tokenizer_free(tp->tok);
    t5_encoder_free(tp->enc);
    free(tp);
}

int t5_prompt_tokenize(const struct t5_prompt *tp, const char *const *texts, int n, int max_len,
                       int64_t *ids, int64_t *mask, int *lens, struct tokenizer_info *infos,
                       struct df_err *err)
{
    for (int i = 0; i < n; i++) {
        char *clean = NULL;
        size_t clean_len = 0;
        struct tokenizer_info info = {0};
        int rc = 0;
        if (tp->style == T5_PROMPT_STYLE_WAN)
            rc = prompt_clean(texts[i], strlen(texts[i]), &clean, &clean_len, err);
        else if (!(clean = strdup(texts[i])))
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        else
            clean_len = strlen(clean);
        if (rc == 0)
            rc = tokenizer_encode(tp->tok, clean, clean_len, (size_t)max_len,
                                  ids + (size_t)i * max_len, mask + (size_t)i * max_len, &info,
                                  err);
        free(clean);
        if (rc < 0) {
            if (n > 1)
                df_err_prefix(err, "prompt %d", i + 1);
            return rc;
        }
        lens[i] = (int)info.n_real;
        if (tp->style == T5_PROMPT_STYLE_COGVIDEOX) { /* no mask: every row is real to it */
            lens[i] = max_len;
            for (int j = 0; j < max_len; j++)
                mask[(size_t)i * max_len + j] = 1;
        }
        if (infos)
            infos[i] = info;
    }
    return 0;
}

static int ensure_encoder(struct t5_prompt *tp, struct df_err *err)
{
    if (tp->enc)
        return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/text_encoder", tp->dir);
    return t5_encoder_open(path, tp->be, NULL, &tp->enc, err);
}

int t5_prompt_encode(struct t5_prompt *tp, const int64_t *ids, const int *lens, int n,
                     int max_len, float *out, struct df_err *err)
{
    DF_TRY(ensure_encoder(tp, err));
    return t5_encoder_encode(tp->enc, ids, lens, n, max_len, out, err);
}

const struct t5_config *t5_prompt_config(struct t5_prompt *tp, struct df_err *err)
{
    return ensure_encoder(tp, err) < 0 ? NULL : t5_encoder_config(tp->enc);
}

int t5_prompt_embed_one(const char *model_dir, enum t5_prompt_style style, const char *text,
                        int max_len, int text_dim, float *out, int *n_rows, struct df_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/text_encoder/config.json", model_dir);
    DF_FAIL_IF(access(path, R_OK) != 0, err, DF_E_NOTFOUND, "%s: no text encoder", model_dir);
    kern_backend_t be = NULL;
    struct t5_prompt *tp = NULL;
    int64_t *ids = malloc((size_t)max_len * sizeof *ids), *mask = malloc((size_t)max_len * sizeof *mask);
    int len = 0, rc = ids && mask ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory");
    if (rc == 0)
        rc = kern_backend_create("cpu", 0, &be, err);
    if (rc == 0)
        rc = t5_prompt_open(model_dir, be, &tp, err);
    if (rc == 0)
        tp->style = style;
    const struct t5_config *c = rc == 0 ? t5_prompt_config(tp, err) : NULL;
    if (rc == 0 && !c)
        rc = err ? err->code : DF_E_INVAL;
    if (rc == 0 && c->d_model != text_dim)
        rc = df_err_set(err, DF_E_INVAL, "%s/text_encoder: d_model %d, expected %d", model_dir,
                        c->d_model, text_dim);
    if (rc == 0)
        rc = t5_prompt_tokenize(tp, &text, 1, max_len, ids, mask, &len, NULL, err);
    if (rc == 0)
        rc = t5_prompt_encode(tp, ids, &len, 1, max_len, out, err);
    if (rc == 0 && n_rows)
        *n_rows = len;
    t5_prompt_close(tp);
    kern_backend_free(be);
    free(ids), free(mask);
    return rc;
}
