/*
 * fuzz_prompt_embeds.c -- libFuzzer target for prompt_embeds files
 * (worker/model/text_embed.c): the input is the .safetensors file a manifest
 * names; it is read for a model of text_len 16 and text_dim 8 (first byte
 * odd) or text_len 4 and text_dim 4.  Whatever it holds, the result is an
 * error or [text_len, text_dim] finite values with n_tokens in range.
 * Seeds: tests/fuzz/corpus/prompt_embeds (written by safetensors_write).
 */
#include "fuzz_util.h"

#include "text_embed.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    const int len = data[0] & 1 ? 16 : 4, dim = data[0] & 1 ? 8 : 4;
    char path[300];
    fuzz_path(path, sizeof path, "embeds.safetensors");
    fuzz_write(path, data + 1, size - 1);
    float out[16 * 8];
    int n_tokens = -1;
    struct df_err err = {0};
    if (text_embed_load(path, len, dim, out, &n_tokens, &err) == 0) {
        if (n_tokens < 0 || n_tokens > len)
            abort();
        for (int i = 0; i < len * dim; i++)
            if (!isfinite(out[i]))
                abort();
    }
    return 0;
}
