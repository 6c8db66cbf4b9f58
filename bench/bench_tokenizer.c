/*
 * bench_tokenizer.c -- prompts per second through what encode-prompt runs
 * before the encoder: prompt_clean, then tokenizer_encode to 512 ids + mask.
 * Three prompt kinds: a typical English video prompt (~60 tokens), Wan's
 * default negative prompt in Chinese, and an over-long prompt (truncated to
 * 512).  Reports the best of REPS timings of N prompts each.
 *
 *   bench_tokenizer [TOKENIZER_DIR] [N] [REPS]
 *   (defaults tests/data/tokenizer/umt5_bf/tokenizer under the source tree, 2000, 3)
 */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const kinds[][2] = {
    {"english",
     "A majestic golden dragon flies slowly over a neon-lit futuristic city at night, "
     "cinematic wide shot, soft rain, reflections on wet streets, detailed, realistic lighting, "
     "the camera follows the dragon as it turns toward the ancient temple on the mountain."},
    {"negative-zh",
     "\xe8\x89\xb2\xe8\xb0\x83\xe8\x89\xb3\xe4\xb8\xbd\xef\xbc\x8c\xe8\xbf\x87\xe6\x9b\x9d\xef\xbc\x8c"
     "\xe9\x9d\x99\xe6\x80\x81\xef\xbc\x8c\xe7\xbb\x86\xe8\x8a\x82\xe6\xa8\xa1\xe7\xb3\x8a\xe4\xb8\x8d"
     "\xe6\xb8\x85\xef\xbc\x8c\xe5\xad\x97\xe5\xb9\x95\xef\xbc\x8c\xe9\xa3\x8e\xe6\xa0\xbc\xef\xbc\x8c"
     "\xe4\xbd\x9c\xe5\x93\x81\xef\xbc\x8c\xe7\x94\xbb\xe4\xbd\x9c\xef\xbc\x8c\xe7\x94\xbb\xe9\x9d\xa2"
     "\xef\xbc\x8c\xe9\x9d\x99\xe6\xad\xa2\xef\xbc\x8c\xe6\x95\xb4\xe4\xbd\x93\xe5\x8f\x91\xe7\x81\xb0"
     "\xef\xbc\x8c\xe6\x9c\x80\xe5\xb7\xae\xe8\xb4\xa8\xe9\x87\x8f\xef\xbc\x8c\xe4\xbd\x8e\xe8\xb4\xa8"
     "\xe9\x87\x8f\xef\xbc\x8cJPEG\xe5\x8e\x8b\xe7\xbc\xa9\xe6\xae\x8b\xe7\x95\x99\xef\xbc\x8c\xe4\xb8"
     "\x91\xe9\x99\x8b\xe7\x9a\x84\xef\xbc\x8c\xe6\xae\x8b\xe7\xbc\xba\xe7\x9a\x84\xef\xbc\x8c\xe5\xa4"
     "\x9a\xe4\xbd\x99\xe7\x9a\x84\xe6\x89\x8b\xe6\x8c\x87"},
    {"long", NULL},
};

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : DF_SOURCE_DIR "/tests/data/tokenizer/umt5_bf/tokenizer";
    int n = argc > 2 ? atoi(argv[2]) : 2000, reps = argc > 3 ? atoi(argv[3]) : 3;
    struct df_err err = {0};
    struct tokenizer *tok;
    double t0 = now();
    if (tokenizer_load(dir, &tok, &err) < 0) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
        return 1;
    }
    printf("load %s: %.1f ms, vocabulary %zu\n", dir, 1e3 * (now() - t0), tokenizer_vocab_size(tok));
    char long_prompt[8192] = "";
    for (int i = 0; i < 30; i++)
        strcat(long_prompt, "the golden dragon flies over the neon city, cinematic. ");
    int64_t ids[TOKENIZER_MAX_LEN], mask[TOKENIZER_MAX_LEN];
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        const char *p = kinds[k][1] ? kinds[k][1] : long_prompt;
        double best_clean = 1e30, best_tok = 1e30;
        struct tokenizer_info info = {0};
        for (int r = 0; r < reps; r++) {
            double a = now(), cl = 0;
            for (int i = 0; i < n; i++) {
                char *c;
                size_t len;
                double b = now();
                if (prompt_clean(p, strlen(p), &c, &len, &err) < 0 ||
                    (cl += now() - b,
                     tokenizer_encode(tok, c, len, TOKENIZER_MAX_LEN, ids, mask, &info, &err) < 0)) {
                    fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
                    return 1;
                }
                free(c);
            }
            double t = now() - a;
            if (cl < best_clean)
                best_clean = cl;
            if (t - cl < best_tok)
                best_tok = t - cl;
        }
        printf("%-12s %4zu tokens%s: prompt_clean %8.0f prompts/s, tokenize %8.0f prompts/s, both %8.0f prompts/s\n",
               kinds[k][0], info.n_total, info.truncated ? " (truncated to 512)" : "",
               n / best_clean, n / best_tok, n / (best_clean + best_tok));
    }
    tokenizer_free(tok);
    return 0;
}
