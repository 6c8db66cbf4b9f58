/* text_embed.c -- prompt embeddings from a file or derived from text (text_embed.h). */
#include "text_embed.h"

#include "noise.h"
#include "safetensors.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

uint64_t text_embed_hash(const char *text)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

static int count_words(const char *text)
{
    int n = 0, in_word = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isspace(*p))
            in_word = 0;
        else if (!in_word)
            in_word = 1, n++;
    }
    return n;
}

void text_embed_derive(const char *text, int text_len, int text_dim, float *out, int *n_tokens)
{
    if (!text)
        text = "";
    int rows = 1 + count_words(text);
    if (rows > text_len)
        rows = text_len;
    uint64_t seed = text_embed_hash(text) ^ 0x7465787400000000ull;
    memset(out, 0, (size_t)text_len * text_dim * sizeof(float));
    for (int j = 0; j < rows; j++)
        noise_fill(seed, (uint64_t)j * text_dim, (size_t)text_dim, out + (size_t)j * text_dim);
    if (n_tokens)
        *n_tokens = rows;
}

int text_embed_load(const char *path, int text_len, int text_dim, float *out, int *n_tokens,
                    struct df_err *err)
{
    struct safetensors *st = NULL;
    DF_TRY(safetensors_open(path, &st, err));
    const struct safetensors_tensor *t = safetensors_find(st, "prompt_embeds");
    int rc = 0;
    if (!t && safetensors_count(st) == 1)
        t = safetensors_at(st, 0);
    if (!t) {
        rc = df_err_set(err, DF_E_INVAL,
                        "%s: expected one tensor (or one named 'prompt_embeds'), found %d", path,
                        safetensors_count(st));
        goto done;
    }
    int64_t L = t->ndim == 2 ? t->shape[0] : t->ndim == 3 ? t->shape[1] : -1;
    int64_t D = t->ndim >= 2 ? t->shape[t->ndim - 1] : -1;
    if (L < 1 || L > text_len || D != text_dim || (t->ndim == 3 && t->shape[0] != 1)) {
        rc = df_err_set(err, DF_E_INVAL,
                        "%s: tensor '%s' has %d dims [%lld, ...], expected [L, %d] or [1, L, %d] "
                        "with 1 <= L <= %d",
                        path, t->name, t->ndim, (long long)(t->ndim ? t->shape[0] : 0), text_dim,
                        text_dim, text_len);
        goto done;
    }
    memset(out, 0, (size_t)text_len * text_dim * sizeof(float));
    rc = safetensors_to_f32(t, out, (size_t)(L * D), err);
    if (rc == 0 && n_tokens)
        *n_tokens = (int)L;
done:
    safetensors_close(st);
    return rc;
}
