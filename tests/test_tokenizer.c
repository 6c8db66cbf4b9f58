/* test_tokenizer.c -- worker/text against HuggingFace tokenizers: the ids and
 * masks of tests/data/tokenizer/expected.json (tests/fixtures/
 * make_tokenizer_fixtures.py) for every variant and prompt, prompt_clean
 * against diffusers' prompt_clean with ftfy, and the refusals of bad files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "textfile.h"
#include "tokenizer.h"

static cJSON *expected(void)
{
    char *text;
    size_t len;
    struct df_err err = {0};
    int rc = textfile_read(DF_TEST_DATA "/tokenizer/expected.json", 64u << 20, &text, &len, &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    assert_non_null(j);
    return j;
}

/* hex string to bytes (caller frees) */
static char *unhex(const char *h, size_t *n)
{
    size_t l = strlen(h) / 2;
    char *b = malloc(l + 1);
    assert_non_null(b);
    for (size_t i = 0; i < l; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        b[i] = (char)v;
    }
    b[l] = '\0';
    *n = l;
    return b;
}

static void print_ids(const char *what, const int64_t *v, size_t n)
{
    fprintf(stderr, "  %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %lld", (long long)v[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static void check_variant(const char *name)
{
    cJSON *j = expected();
    const cJSON *prompts = cJSON_GetObjectItem(j, "prompts");
    const cJSON *var = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "variants"), name);
    assert_non_null(var);
    const int max_len = cJSON_GetObjectItem(j, "max_len")->valueint;
    const cJSON *ids = cJSON_GetObjectItem(var, "ids");
    const cJSON *totals = cJSON_GetObjectItem(var, "n_total");
    int64_t pad = (int64_t)cJSON_GetObjectItem(var, "pad_id")->valuedouble;

    char dir[512];
    snprintf(dir, sizeof(dir), "%s/tokenizer/%s/tokenizer", DF_TEST_DATA, name);
    struct tokenizer *tok = NULL;
    struct df_err err = {0};
    if (tokenizer_load(dir, &tok, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(tokenizer_pad_id(tok), pad);

    int64_t *got = malloc(sizeof(int64_t) * (size_t)max_len);
    int64_t *mask = malloc(sizeof(int64_t) * (size_t)max_len);
    int64_t *want = malloc(sizeof(int64_t) * (size_t)max_len);
    int n_prompts = cJSON_GetArraySize(prompts), bad = 0;
    for (int p = 0; p < n_prompts; p++) {
        size_t len;
        char *text = unhex(cJSON_GetArrayItem(prompts, p)->valuestring, &len);
        const cJSON *row = cJSON_GetArrayItem(ids, p);
        size_t n_want = (size_t)cJSON_GetArraySize(row);
        for (size_t i = 0; i < n_want; i++)
            want[i] = (int64_t)cJSON_GetArrayItem(row, (int)i)->valuedouble;
        struct tokenizer_info info;
        if (tokenizer_encode(tok, text, len, (size_t)max_len, got, mask, &info, &err) < 0)
            fail_msg("%s prompt %d: %s", name, p, err.msg);
        int ok = info.n_real == n_want && memcmp(got, want, n_want * sizeof(int64_t)) == 0;
        for (size_t i = 0; ok && i < (size_t)max_len; i++)
            ok = mask[i] == (i < n_want) && (i < n_want || got[i] == pad);
        size_t n_total = (size_t)cJSON_GetArrayItem(totals, p)->valuedouble;
        ok = ok && info.n_total == n_total && info.truncated == (n_total > (size_t)max_len);
        if (!ok) {
            fprintf(stderr, "%s prompt %d '%.60s': n_total %zu want %zu\n", name, p, text,
                    info.n_total, n_total);
            print_ids("want", want, n_want);
            print_ids("got ", got, info.n_real);
            bad++;
        }
        free(text);
    }
    free(got);
    free(mask);
    free(want);
    tokenizer_free(tok);
    cJSON_Delete(j);
    if (bad)
        fail_msg("%s: %d of %d prompts differ from tokenizers", name, bad, n_prompts);
}

static void test_umt5_byte_fallback(void **state)
{
    (void)state;
    check_variant("umt5_bf");
}

static void test_umt5_no_byte_fallback(void **state)
{
    (void)state;
    check_variant("umt5_nobf");
}

static void test_t5_legacy_layout(void **state)
{
    (void)state;
    check_variant("t5_legacy");
}

/* Other converters' layouts: Prepend/Replace without a pre-tokenizer, Regex
 * alternation, Metaspace "first" without split, lstrip/rstrip/single_word and
 * normalized added tokens. */
static void test_edge_layouts(void **state)
{
    (void)state;
    check_variant("edge_llama");
    check_variant("edge_first");
}

static void test_spiece_model_only(void **state)
{
    (void)state;
    check_variant("spm_only");
}

/* The whole-sequence API agrees with the padded one and reports the length. */
static void test_encode_all_and_truncation(void **state)
{
    (void)state;
    struct tokenizer *tok = NULL;
    struct df_err err = {0};
    if (tokenizer_load(DF_TEST_DATA "/tokenizer/umt5_bf/tokenizer", &tok, &err) < 0)
        fail_msg("%s", err.msg);
    char text[4000];
    size_t n = 0;
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", i % 2 ? "cat " : "dog ");
    int64_t *all;
    size_t n_all;
    assert_int_equal(tokenizer_encode_all(tok, text, n, &all, &n_all, &err), 0);
    assert_true(n_all > 512);
    assert_int_equal(all[n_all - 1], tokenizer_eos_id(tok));
    int64_t ids[16], mask[16];
    struct tokenizer_info info;
    assert_int_equal(tokenizer_encode(tok, text, n, 16, ids, mask, &info, &err), 0);
    assert_int_equal(info.truncated, 1);
    assert_int_equal(info.n_real, 16);
    assert_int_equal(info.n_total, n_all);
    assert_memory_equal(ids, all, 15 * sizeof(int64_t));
    assert_int_equal(ids[15], tokenizer_eos_id(tok)); /* truncation keeps </s> */
    assert_string_equal(tokenizer_piece(tok, tokenizer_eos_id(tok)), "</s>");
    free(all);
    /* max_len below the special tokens */
    assert_int_equal(tokenizer_encode(tok, "a", 1, 0, ids, mask, &info, &err), DF_E_RANGE);
    tokenizer_free(tok);
}

static void test_invalid_utf8_names_offset(void **state)
{
    (void)state;
    struct tokenizer *tok = NULL;
    struct df_err err = {0};
    if (tokenizer_load(DF_TEST_DATA "/tokenizer/umt5_nobf/tokenizer", &tok, &err) < 0)
        fail_msg("%s", err.msg);
    int64_t ids[8];
    static const char *const bad[] = {"abc\xff", "ab\xc3", "a\xed\xa0\x80", "\xc0\xaf", "ok \xf4\x90\x80\x80"};
    static const size_t at[] = {3, 2, 1, 0, 3};
    for (size_t i = 0; i < 5; i++) {
        df_err_clear(&err);
        assert_int_equal(tokenizer_encode(tok, bad[i], strlen(bad[i]), 8, ids, NULL, NULL, &err), DF_E_INVAL);
        char want[64];
        snprintf(want, sizeof(want), "at offset %zu", at[i]);
        assert_non_null(strstr(err.msg, want));
    }
    tokenizer_free(tok);
}

/* ---- bad files ----------------------------------------------------------- */

static void expect_json_error(const char *json, int code, const char *needle)
{
    struct tokenizer *tok = NULL;
    struct df_err err = {0};
    int rc = tokenizer_load_buffer(TOKENIZER_FORMAT_JSON, json, strlen(json), "t.json", -1, &tok, &err);
    if (rc != code || !strstr(err.msg, needle))
        fail_msg("want %d '%s', got %d '%s'", code, needle, rc, err.msg);
    assert_null(tok);
}

static void test_bad_json(void **state)
{
    (void)state;
    expect_json_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]", DF_E_PARSE, "not a JSON object");
    expect_json_error("{}", DF_E_PARSE, "no \"model\"");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}", DF_E_UNSUPPORTED, "model type 'BPE'");
    expect_json_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", DF_E_PARSE, "empty");
    expect_json_error("{\"model\": {\"type\": \"Unigram\", \"unk_id\": 5, \"vocab\": [[\"a\", 0]]}}", DF_E_PARSE,
                      "unk_id");
    expect_json_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\"]]}}", DF_E_PARSE, "vocab[0]");
    const char *model = "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}";
    char buf[1024];
    snprintf(buf, sizeof(buf), "{%s, \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"@@@@\"}}", model);
    expect_json_error(buf, DF_E_PARSE, "invalid base64");
    snprintf(buf, sizeof(buf), "{%s, \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"QUJD\"}}", model);
    expect_json_error(buf, DF_E_CORRUPT, "precompiled_charsmap");
    /* trie size 0x100 bytes in a 8-byte blob */
    snprintf(buf, sizeof(buf), "{%s, \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAEAAAAAAAA=\"}}", model);
    expect_json_error(buf, DF_E_CORRUPT, "overruns");
    snprintf(buf, sizeof(buf), "{%s, \"normalizer\": {\"type\": \"NFKC\"}}", model);
    expect_json_error(buf, DF_E_UNSUPPORTED, "normalizer type 'NFKC'");
    snprintf(buf, sizeof(buf), "{%s, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", model);
    expect_json_error(buf, DF_E_UNSUPPORTED, "pre_tokenizer type 'ByteLevel'");
    snprintf(buf, sizeof(buf), "{%s, \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"(a)\"}, \"content\": \"\"}}", model);
    expect_json_error(buf, DF_E_UNSUPPORTED, "not supported");
}

/* A charsmap whose header is sound but whose trie points outside itself is
 * refused when a prompt walks into it (tokenizers would panic). */
static void test_corrupt_charsmap_at_encode(void **state)
{
    (void)state;
    const char *json = "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]},"
                       " \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"CAAAAAD8//8AAAAA\"}}";
    struct tokenizer *tok = NULL;
    struct df_err err = {0};
    if (tokenizer_load_buffer(TOKENIZER_FORMAT_JSON, json, strlen(json), "t.json", -1, &tok, &err) < 0)
        fail_msg("%s", err.msg);
    int64_t *ids = NULL;
    size_t n;
    assert_int_equal(tokenizer_encode_all(tok, "abc", 3, &ids, &n, &err), DF_E_CORRUPT);
    assert_non_null(strstr(err.msg, "precompiled_charsmap"));
    assert_null(ids);
    tokenizer_free(tok);
}

static void test_bad_files(void **state)
{
    (void)state;
    struct tokenizer *tok = NULL;
    struct df_err err = {0};
    assert_int_equal(tokenizer_load("/nonexistent/tokenizer", &tok, &err), DF_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "no tokenizer.json nor spiece.model"));
    /* a truncated tokenizer.json and a truncated spiece.model */
    char dir[] = "/tmp/df-tok-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *data;
    size_t len;
    assert_int_equal(textfile_read(DF_TEST_DATA "/tokenizer/umt5_nobf/tokenizer/tokenizer.json", 1u << 26,
                                   &data, &len, &err), 0);
    char path[600];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len / 2, f);
    fclose(f);
    free(data);
    df_err_clear(&err);
    assert_int_equal(tokenizer_load(dir, &tok, &err), DF_E_PARSE);
    assert_non_null(strstr(err.msg, "tokenizer.json: not a JSON object"));
    unlink(path);
    assert_int_equal(textfile_read(DF_TEST_DATA "/tokenizer/umt5_nobf/tokenizer/spiece.model", 1u << 26,
                                   &data, &len, &err), 0);
    snprintf(path, sizeof(path), "%s/spiece.model", dir);
    f = fopen(path, "wb");
    fwrite(data, 1, len - 7, f);
    fclose(f);
    free(data);
    df_err_clear(&err);
    assert_true(tokenizer_load(dir, &tok, &err) < 0);
    assert_non_null(strstr(err.msg, "spiece.model"));
    unlink(path);
    rmdir(dir);
    assert_null(tok);
}

/* ---- prompt_clean -------------------------------------------------------- */

static void test_prompt_clean(void **state)
{
    (void)state;
    cJSON *j = expected();
    const cJSON *cases = cJSON_GetObjectItem(j, "clean"), *c;
    int bad = 0, n = 0;
    cJSON_ArrayForEach(c, cases)
    {
        size_t in_len, want_len, got_len;
        char *in = unhex(cJSON_GetArrayItem(c, 0)->valuestring, &in_len);
        char *want = unhex(cJSON_GetArrayItem(c, 1)->valuestring, &want_len);
        char *got = NULL;
        struct df_err err = {0};
        int rc = prompt_clean(in, in_len, &got, &got_len, &err);
        if (rc == DF_E_UNSUPPORTED) {
            free(in);
            free(want);
            cJSON_Delete(j);
            skip();
        }
        if (rc < 0)
            fail_msg("prompt_clean case %d: %s", n, err.msg);
        if (got_len != want_len || memcmp(got, want, want_len) != 0) {
            fprintf(stderr, "prompt_clean case %d: '%s' -> '%s', want '%s'\n", n, in, got, want);
            bad++;
        }
        free(in);
        free(want);
        free(got);
        n++;
    }
    cJSON_Delete(j);
    if (bad)
        fail_msg("%d of %d prompt_clean cases differ from diffusers", bad, n);
    char *got = NULL;
    struct df_err err = {0};
    assert_int_equal(prompt_clean("caf\xc3\xa9 \xe2\x82", 8, &got, NULL, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "offset 6"));
    assert_null(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_umt5_byte_fallback),
        cmocka_unit_test(test_umt5_no_byte_fallback),
        cmocka_unit_test(test_t5_legacy_layout),
        cmocka_unit_test(test_edge_layouts),
        cmocka_unit_test(test_spiece_model_only),
        cmocka_unit_test(test_encode_all_and_truncation),
        cmocka_unit_test(test_invalid_utf8_names_offset),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_corrupt_charsmap_at_encode),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_prompt_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
