/* test_latent_shard.c -- worker/render/latent_shard.c and worker/model/text_embed.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "latent_shard.h"
#include "text_embed.h"

/* Token shards taken in three uneven pieces rebuild the latent exactly, and a
 * token's row holds its patch in (c, kt, kh, kw) order. */
static void test_rows_roundtrip(void **state)
{
    (void)state;
    struct latent_dims d = {.C = 3, .T = 4, .H = 6, .W = 10, .pt = 2, .ph = 2, .pw = 2};
    int64_t n = (int64_t)d.C * d.T * d.H * d.W;
    assert_int_equal(latent_tokens(&d), 2 * 3 * 5);
    assert_int_equal(latent_row_size(&d), 3 * 8);
    float *lat = malloc(n * sizeof(float)), *back = calloc(n, sizeof(float));
    for (int64_t i = 0; i < n; i++)
        lat[i] = (float)i;
    float *rows = malloc(n * sizeof(float));
    int64_t cuts[] = {0, 7, 8, 30};
    for (int k = 0; k < 3; k++) {
        int64_t b = cuts[k], c = cuts[k + 1] - cuts[k];
        latent_to_rows(&d, lat, b, c, rows + b * latent_row_size(&d));
    }
    for (int k = 0; k < 3; k++) {
        int64_t b = cuts[k], c = cuts[k + 1] - cuts[k];
        latent_from_rows(&d, rows + b * latent_row_size(&d), b, c, back);
    }
    assert_memory_equal(lat, back, n * sizeof(float));
    /* token 6 = (f 0, y 1, x 1): row element (c 1, kt 1, kh 0, kw 1) */
    int64_t e = 6 * latent_row_size(&d) + ((1 * 2 + 1) * 2 + 0) * 2 + 1;
    int64_t idx = ((1LL * d.T + 1) * d.H + 2) * d.W + 3;
    assert_true(rows[e] == lat[idx]);
    free(lat);
    free(back);
    free(rows);
}

/* CogVideoX: a frame-major [T, C, H, W] latent and 5 text tokens leading
 * the sequence.  Text rows read as zeros and are never written back; token
 * ranges that start inside the text rebuild the latent exactly. */
static void test_rows_joint_text(void **state)
{
    (void)state;
    struct latent_dims d = {.C = 2, .T = 3, .H = 4, .W = 6, .pt = 1, .ph = 2, .pw = 2,
                            .layout = 1, .text = 5};
    const int64_t n = (int64_t)d.C * d.T * d.H * d.W, row = latent_row_size(&d);
    const int64_t N = latent_tokens(&d);
    assert_int_equal(N, 5 + 3 * 2 * 3);
    float *lat = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
    float *rows = malloc(N * row * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        lat[i] = (float)i + 1, back[i] = -1.0f;
    for (int64_t i = 0; i < N * row; i++)
        rows[i] = 99.0f;
    int64_t cuts[] = {0, 3, 9, N};
    for (int k = 0; k < 3; k++)
        latent_to_rows(&d, lat, cuts[k], cuts[k + 1] - cuts[k], rows + cuts[k] * row);
    for (int64_t i = 0; i < 5 * row; i++)
        assert_true(rows[i] == 0.0f); /* text rows */
    for (int k = 0; k < 3; k++)
        latent_from_rows(&d, rows + cuts[k] * row, cuts[k], cuts[k + 1] - cuts[k], back);
    assert_memory_equal(lat, back, n * sizeof(float));
    /* video token 4 = (f 0, y 1, x 1), joint token 9: element (c 1, kh 1, kw 0)
     * is latent[f 0, c 1, y 3, x 2] in [T, C, H, W] */
    const int64_t e = 9 * row + (1 * 2 + 1) * 2 + 0;
    const int64_t idx = ((0LL * d.C + 1) * d.H + 3) * d.W + 2;
    assert_true(rows[e] == lat[idx]);
    free(lat), free(back), free(rows);
}

static void test_derived_embeddings(void **state)
{
    (void)state;
    float a[4 * 8], b[4 * 8], c[4 * 8];
    int na, nb, nc;
    text_embed_derive("a red fox", 4, 8, a, &na);
    text_embed_derive("a red fox", 4, 8, b, &nb);
    text_embed_derive("a blue fox", 4, 8, c, &nc);
    assert_int_equal(na, 4); /* 1 + 3 words, capped at text_len 4 */
    assert_memory_equal(a, b, sizeof(a));
    assert_true(memcmp(a, c, sizeof(a)) != 0);
    text_embed_derive("", 4, 8, a, &na);
    assert_int_equal(na, 1);
    for (int i = 8; i < 32; i++)
        assert_true(a[i] == 0.0f);
}

static void test_load_missing(void **state)
{
    (void)state;
    float out[8];
    struct df_err err = {0};
    assert_int_equal(text_embed_load("/nonexistent.safetensors", 1, 8, out, NULL, &err),
                     DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent.safetensors"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_roundtrip),
        cmocka_unit_test(test_rows_joint_text),
        cmocka_unit_test(test_derived_embeddings),
        cmocka_unit_test(test_load_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
