/*
 * t5_synth.c -- a tiny synthetic text encoder and tokenizer for the demo
 * model (t5_synth.h), so the demo's `prompt:` goes through the same path as
 * a real model folder's: prompt_clean, a SentencePiece unigram tokenizer.json,
 * a umT5 encoder.
 *
 * The tokenizer knows the special tokens, "▁", single letters, digits and
 * punctuation, and a few dozen whole words (preferred by their scores), with
 * no normalizer; anything else is <unk>.  The encoder is a 2-block umT5 of
 * width d_model whose weights are noise_fill() streams scaled by 1/sqrt(fan
 * in), so every machine writes the same bytes for a given seed.
 */
#include "t5_synth.h"

#include "noise.h"
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SYNTH_LAYERS 2
#define SYNTH_HEADS 4
#define SYNTH_BUCKETS 32
#define SYNTH_MAX_DISTANCE 128

static const char *const k_words[] = {
    "a",     "an",    "the",   "of",     "in",    "on",     "over",  "and",   "with",  "at",
    "red",   "blue",  "green", "golden", "calm",  "slow",   "sun",   "sea",   "sky",   "forest",
    "wind",  "city",  "night", "rising", "camera", "pan",   "river", "cat",   "dog",   "mountain",
    "light", "rain",  "snow",  "walks",  "flying", "blurry", "low",  "quality", "bright", "dark"};

static int mkdir_p(const char *path, struct df_err *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return df_err_errno(err, DF_E_IO, "mkdir %s", path);
    return 0;
}

/* The pieces in id order: <pad> </s> <unk>, then ▁, characters, ▁words. */
static int vocab_build(cJSON *vocab, int *n_out)
{
    int n = 0;
    const char *specials[] = {"<pad>", "</s>", "<unk>"};
    char piece[32];
#define ADD(str, score)                                                                            \
    do {                                                                                           \
        cJSON *e = cJSON_CreateArray();                                                            \
        cJSON_AddItemToArray(e, cJSON_CreateString(str));                                          \
        cJSON_AddItemToArray(e, cJSON_CreateNumber(score));                                        \
        cJSON_AddItemToArray(vocab, e);                                                            \
        n++;                                                                                       \
    } while (0)
    for (int i = 0; i < 3; i++)
        ADD(specials[i], 0.0);
    ADD("\xe2\x96\x81", -3.0);
    for (const char *c = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,.!?-':;()";
         *c; c++) {
        snprintf(piece, sizeof piece, "%c", *c);
        ADD(piece, -8.0);
    }
    for (size_t i = 0; i < sizeof k_words / sizeof k_words[0]; i++) {
        snprintf(piece, sizeof piece, "\xe2\x96\x81%s", k_words[i]);
        ADD(piece, -2.0 - 0.01 * (double)i);
    }
#undef ADD
    *n_out = n;
    return 0;
}

static cJSON *added_token(int id, const char *content)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "single_word", 0);
    cJSON_AddBoolToObject(t, "lstrip", 0);
    cJSON_AddBoolToObject(t, "rstrip", 0);
    cJSON_AddBoolToObject(t, "normalized", 0);
    cJSON_AddBoolToObject(t, "special", 1);
    return t;
}

static int write_json(const char *path, cJSON *root, struct df_err *err)
{
    char *text = cJSON_Print(root);
    DF_FAIL_IF(!text, err, DF_E_NOMEM, "%s: out of memory", path);
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) < 0;
    if (f)
        bad |= fclose(f) != 0;
    free(text);
    DF_FAIL_IF(bad, err, DF_E_IO, "cannot write %s", path);
    return 0;
}

static int write_tokenizer(const char *dir, int *vocab_size, struct df_err *err)
{
    cJSON *root = cJSON_CreateObject(), *model = cJSON_CreateObject();
    cJSON *vocab = cJSON_CreateArray(), *added = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    const char *specials[] = {"<pad>", "</s>", "<unk>"};
    for (int i = 0; i < 3; i++)
        cJSON_AddItemToArray(added, added_token(i, specials[i]));
    cJSON_AddItemToObject(root, "added_tokens", added);
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = cJSON_CreateObject();
    cJSON_AddStringToObject(pre, "type", "Metaspace");
    cJSON_AddStringToObject(pre, "replacement", "\xe2\x96\x81");
    cJSON_AddStringToObject(pre, "prepend_scheme", "always");
    cJSON_AddBoolToObject(pre, "split", 1);
    cJSON_AddItemToObject(root, "pre_tokenizer", pre);
    cJSON *post = cJSON_Parse(
        "{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
        "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],\"pair\":[{\"Sequence\":{\"id\":\"A\","
        "\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}},{\"Sequence\":{\"id\":"
        "\"B\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
        "\"special_tokens\":{\"</s>\":{\"id\":\"</s>\",\"ids\":[1],\"tokens\":[\"</s>\"]}}}");
    cJSON_AddItemToObject(root, "post_processor", post);
    cJSON_AddItemToObject(root, "decoder", cJSON_Duplicate(pre, 1));
    cJSON_AddStringToObject(model, "type", "Unigram");
    cJSON_AddNumberToObject(model, "unk_id", 2);
    vocab_build(vocab, vocab_size);
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddItemToObject(root, "model", model);
    char path[4400];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = write_json(path, root, err);
    cJSON_Delete(root);
    if (rc == 0) {
        root = cJSON_Parse("{\"tokenizer_class\":\"T5Tokenizer\",\"eos_token\":\"</s>\","
                           "\"unk_token\":\"<unk>\",\"pad_token\":\"<pad>\",\"extra_ids\":0,"
                           "\"model_max_length\":512}");
        snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
        rc = write_json(path, root, err);
        cJSON_Delete(root);
    }
    return rc;
}

static int write_config(const char *dir, int vocab, int d_model, int v11, struct df_err *err)
{
    char text[1024], path[4400];
    snprintf(text, sizeof text,
             "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n"
             "  \"vocab_size\": %d,\n  \"d_model\": %d,\n  \"d_kv\": %d,\n  \"d_ff\": %d,\n"
             "  \"num_layers\": %d,\n  \"num_heads\": %d,\n"
             "  \"relative_attention_num_buckets\": %d,\n"
             "  \"relative_attention_max_distance\": %d,\n  \"layer_norm_epsilon\": 1e-06,\n"
             "  \"feed_forward_proj\": \"gated-gelu\",\n  \"dense_act_fn\": \"gelu_new\",\n"
             "  \"is_gated_act\": true,\n  \"pad_token_id\": 0,\n  \"eos_token_id\": 1,\n"
             "  \"_ditfarm\": \"synthetic demo weights (ditfarm-worker make-tiny)\"\n}\n",
             v11 ? "T5EncoderModel" : "UMT5EncoderModel", v11 ? "t5" : "umt5", vocab, d_model,
             d_model / SYNTH_HEADS, 2 * d_model, SYNTH_LAYERS, SYNTH_HEADS,
             SYNTH_BUCKETS, SYNTH_MAX_DISTANCE);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) < 0;
    if (f)
        bad |= fclose(f) != 0;
    DF_FAIL_IF(bad, err, DF_E_IO, "cannot write %s", path);
    return 0;
}

/* One tensor: noise scaled by `scale`, or `one` + noise·scale for norms. */
struct synth_t {
    char name[96];
    int64_t rows, cols; /* cols 0: a vector */
    float scale, one;
};

static int write_weights(const char *dir, int vocab, int d, int v11, uint64_t seed,
                         struct df_err *err)
{
    struct synth_t t[3 + SYNTH_LAYERS * 10];
    int n = 0, ff = 2 * d;
    const float sd = 1.0f / sqrtf((float)d), sf = 1.0f / sqrtf((float)ff);
    t[n++] = (struct synth_t){"shared.weight", vocab, d, 1.0f, 0.0f};
    t[n++] = (struct synth_t){"encoder.final_layer_norm.weight", d, 0, 0.1f, 1.0f};
    for (int l = 0; l < SYNTH_LAYERS; l++) {
        const struct {
            const char *leaf;
            int64_t r, c;
            float s, one;
        } parts[] = {{"0.layer_norm", d, 0, 0.1f, 1.0f},
                     {"0.SelfAttention.q", d, d, sd, 0},
                     {"0.SelfAttention.k", d, d, sd, 0},
                     {"0.SelfAttention.v", d, d, sd, 0},
                     {"0.SelfAttention.o", d, d, sd, 0},
                     {"0.SelfAttention.relative_attention_bias", SYNTH_BUCKETS, SYNTH_HEADS, 0.5f, 0},
                     {"1.layer_norm", d, 0, 0.1f, 1.0f},
                     {"1.DenseReluDense.wi_0", ff, d, sd, 0},
                     {"1.DenseReluDense.wi_1", ff, d, sd, 0},
                     {"1.DenseReluDense.wo", d, ff, sf, 0}};
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            /* T5 v1.1: only the first block has the bias (shared by all) */
            if (v11 && l > 0 && strstr(parts[i].leaf, "relative_attention_bias"))
                continue;
            t[n] = (struct synth_t){"", parts[i].r, parts[i].c, parts[i].s, parts[i].one};
            snprintf(t[n].name, sizeof t[n].name, "encoder.block.%d.layer.%s.weight", l,
                     parts[i].leaf);
            n++;
        }
    }
    struct safetensors_entry e[3 + SYNTH_LAYERS * 10];
    float *bufs[3 + SYNTH_LAYERS * 10] = {0};
    int rc = 0;
    uint64_t offset = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        size_t numel = (size_t)t[i].rows * (size_t)(t[i].cols ? t[i].cols : 1);
        if (!(bufs[i] = malloc(numel * sizeof(float)))) {
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
            break;
        }
        noise_fill(seed ^ 0x7435000000000000ull, offset, numel, bufs[i]);
        offset += numel;
        for (size_t j = 0; j < numel; j++)
            bufs[i][j] = t[i].one + t[i].scale * bufs[i][j];
        e[i] = (struct safetensors_entry){.name = t[i].name, .dtype = SAFETENSORS_DTYPE_F32,
                                          .ndim = t[i].cols ? 2 : 1,
                                          .shape = {t[i].rows, t[i].cols}, .data = bufs[i]};
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (rc == 0)
        rc = safetensors_write(path, e, n, NULL, 0, err);
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    return rc;
}

int t5_synth_write(const char *model_dir, int d_model, uint64_t seed, struct df_err *err)
{
    return t5_synth_write_kind(model_dir, d_model, 0, seed, err);
}

int t5_synth_write_kind(const char *model_dir, int d_model, int v11, uint64_t seed,
                        struct df_err *err)
{
    DF_FAIL_IF(d_model < SYNTH_HEADS || d_model % SYNTH_HEADS, err, DF_E_INVAL,
               "t5 synth: d_model %d must be a positive multiple of %d", d_model, SYNTH_HEADS);
    char tok[4200], te[4200];
    snprintf(tok, sizeof tok, "%s/tokenizer", model_dir);
    snprintf(te, sizeof te, "%s/text_encoder", model_dir);
    DF_TRY(mkdir_p(tok, err));
    DF_TRY(mkdir_p(te, err));
    int vocab = 0;
    DF_TRY(write_tokenizer(tok, &vocab, err));
    DF_TRY(write_config(te, vocab, d_model, v11, err));
    return write_weights(te, vocab, d_model, v11, seed, err);
}
