/* prompt_clean.c -- placeholder until the ftfy subset lands. */
#include "text_int.h"

#include <stdlib.h>

int prompt_clean(const char *utf8, size_t len, char **out, size_t *out_len, struct df_err *err)
{
    (void)utf8, (void)len, (void)out, (void)out_len;
    return df_err_set(err, DF_E_UNSUPPORTED, "prompt_clean not implemented yet");
}
