/* tokenizer_stub.c -- placeholder bodies so callers can link against
 * tokenizer.h while the tokenizer itself lands; every call says so. */
#include "tokenizer.h"

#include <stdlib.h>

int tokenizer_load(const char *dir, struct tokenizer **out, struct df_err *err)
{
    (void)out;
    return df_err_set(err, DF_E_UNSUPPORTED, "%s: tokenizer not implemented yet", dir);
}

int tokenizer_load_buffer(enum tokenizer_format fmt, const void *data, size_t len, const char *name,
                          int extra_ids, struct tokenizer **out, struct df_err *err)
{
    (void)fmt, (void)data, (void)len, (void)extra_ids, (void)out;
    return df_err_set(err, DF_E_UNSUPPORTED, "%s: tokenizer not implemented yet", name);
}

void tokenizer_free(struct tokenizer *tok) { (void)tok; }

int tokenizer_encode(const struct tokenizer *tok, const char *utf8, size_t len, size_t max_len,
                     int64_t *ids_out, int64_t *mask_out, struct tokenizer_info *info,
                     struct df_err *err)
{
    (void)tok, (void)utf8, (void)len, (void)max_len, (void)ids_out, (void)mask_out, (void)info;
    return df_err_set(err, DF_E_UNSUPPORTED, "tokenizer not implemented yet");
}

int tokenizer_encode_all(const struct tokenizer *tok, const char *utf8, size_t len,
                         int64_t **ids_out, size_t *n_out, struct df_err *err)
{
    (void)tok, (void)utf8, (void)len, (void)ids_out, (void)n_out;
    return df_err_set(err, DF_E_UNSUPPORTED, "tokenizer not implemented yet");
}

size_t tokenizer_vocab_size(const struct tokenizer *tok) { (void)tok; return 0; }
int64_t tokenizer_pad_id(const struct tokenizer *tok) { (void)tok; return 0; }
int64_t tokenizer_eos_id(const struct tokenizer *tok) { (void)tok; return -1; }
const char *tokenizer_piece(const struct tokenizer *tok, int64_t id) { (void)tok, (void)id; return NULL; }

int prompt_clean(const char *utf8, size_t len, char **out, size_t *out_len, struct df_err *err)
{
    (void)utf8, (void)len, (void)out, (void)out_len;
    return df_err_set(err, DF_E_UNSUPPORTED, "prompt_clean not implemented yet");
}
