/* fuzz_tokenizer.c -- libFuzzer target for worker/text: the first byte picks
 * what the rest is (a tokenizer.json, a spiece.model, or a prompt for the
 * umT5 fixture tokenizer and prompt_clean); any bytes must give a tokenizer or
 * a clean error, and any prompt ids or an error, never a crash or a leak. */
#include "tokenizer.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The fixture tokenizer for prompt inputs, loaded once before the first input
 * and read-only afterwards (loading it per input made the target 50x slower). */
static struct tokenizer *fixture;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct df_err err = {0};
    if (tokenizer_load(DITFARM_FUZZ_TOKENIZER, &fixture, &err) < 0)
        fixture = NULL; /* prompts then only go through prompt_clean */
    return 0;
}

static void encode_some(const struct tokenizer *tok, const char *text, size_t len)
{
    int64_t ids[64], mask[64];
    struct tokenizer_info info;
    struct df_err err = {0};
    (void)tokenizer_encode(tok, text, len, 64, ids, mask, &info, &err);
    int64_t *all = NULL;
    size_t n;
    if (tokenizer_encode_all(tok, text, len, &all, &n, &err) == 0)
        free(all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *rest = (const char *)data + 1;
    size_t len = size - 1;
    struct tokenizer *tok = NULL;
    struct df_err err = {0};
    switch (data[0] % 3) {
    case 0:
        if (tokenizer_load_buffer(TOKENIZER_FORMAT_JSON, rest, len, "fuzz.json", -1, &tok, &err) == 0)
            encode_some(tok, "A cat </s> caf\xc3\xa9  \xe4\xb8\x80", 19);
        break;
    case 1:
        if (tokenizer_load_buffer(TOKENIZER_FORMAT_SPM, rest, len, "fuzz.model", data[0] % 7, &tok,
                                  &err) == 0)
            encode_some(tok, "A cat </s> caf\xc3\xa9  \xe4\xb8\x80", 19);
        break;
    default: {
        /* a prompt, through prompt_clean and the committed umT5 fixture */
        char *clean = NULL;
        size_t clean_len;
        if (prompt_clean(rest, len, &clean, &clean_len, &err) == 0)
            free(clean);
        if (fixture)
            encode_some(fixture, rest, len);
        break;
    }
    }
    tokenizer_free(tok);
    return 0;
}
