/* t5_config.c -- transformers config.json -> struct t5_config, and the bucket rule. */
#include "t5_config.h"

#include "config_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const act_names[T5_ACT_COUNT] = {"gelu_tanh", "silu"};
_Static_assert(sizeof act_names / sizeof act_names[0] == T5_ACT_COUNT, "t5_act names");

const char *t5_act_name(enum t5_act a)
{
    return a >= 0 && a < T5_ACT_COUNT ? act_names[a] : "?";
}

/* transformers' ACT2FN names that are the tanh GELU or SiLU. */
static const struct {
    const char *name;
    enum t5_act act;
} act_table[] = {{"gelu_new", T5_ACT_GELU_TANH}, {"gelu_pytorch_tanh", T5_ACT_GELU_TANH},
                 {"gelu_fast", T5_ACT_GELU_TANH}, {"silu", T5_ACT_SILU},
                 {"swish", T5_ACT_SILU}};

/* Per family, the defaults of its transformers config class. */
struct family {
    const char *model_type;
    int bias_per_layer;
    int vocab, d_model, d_kv, d_ff, layers, heads;
    const char *ffn;
};
static const struct family families[] = {
    {"umt5", 1, 250112, 512, 64, 1024, 8, 6, "gated-gelu"},
    {"t5", 0, 32128, 512, 64, 2048, 6, 8, "relu"},
    {"mt5", 0, 250112, 512, 64, 1024, 8, 6, "gated-gelu"},
};

static const struct family *find_family(const char *path, const cJSON *root, struct df_err *err)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const char *name = cJSON_IsString(mt) ? mt->valuestring : NULL;
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a0 = cJSON_IsArray(arch) ? cJSON_GetArrayItem(arch, 0) : NULL;
    if (!name && cJSON_IsString(a0)) /* old configs: only the class name */
        name = !strncmp(a0->valuestring, "UMT5", 4) ? "umt5"
               : !strncmp(a0->valuestring, "MT5", 3) ? "mt5"
               : !strncmp(a0->valuestring, "T5", 2)  ? "t5"
                                                     : a0->valuestring;
    if (!name) {
        df_err_set(err, DF_E_PARSE, "%s: neither 'model_type' nor 'architectures' says the model",
                   path);
        return NULL;
    }
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (!strcmp(name, families[i].model_type))
            return &families[i];
    df_err_set(err, DF_E_UNSUPPORTED,
               "%s: model_type '%s' is not a T5 text encoder (umt5, t5 or mt5)", path, name);
    return NULL;
}

/* transformers' rule: "gated-ACT" or "ACT"; "gated-gelu" means gelu_new. */
static int parse_ffn(const char *path, const char *ffn, struct t5_config *c, struct df_err *err)
{
    const char *dash = strchr(ffn, '-');
    const char *act = ffn;
    c->gated = 0;
    if (dash) {
        DF_FAIL_IF(strncmp(ffn, "gated-", 6) || strchr(dash + 1, '-'), err, DF_E_PARSE,
                   "%s: key 'feed_forward_proj' = '%s' must be 'gated-ACT' or 'ACT'", path, ffn);
        c->gated = 1;
        act = dash + 1;
    }
    if (!strcmp(ffn, "gated-gelu"))
        act = "gelu_new";
    for (size_t i = 0; i < sizeof act_table / sizeof act_table[0]; i++)
        if (!strcmp(act, act_table[i].name)) {
            c->act = act_table[i].act;
            return 0;
        }
    return df_err_set(err, DF_E_UNSUPPORTED,
                      "%s: feed_forward_proj '%s': activation '%s' is not supported (gelu_new, "
                      "gelu_pytorch_tanh, silu)",
                      path, ffn, act);
}

static int check_ranges(const char *path, struct t5_config *c, struct df_err *err)
{
    const struct {
        const char *key;
        int v;
    } pos[] = {{"vocab_size", c->vocab_size}, {"d_model", c->d_model},  {"d_kv", c->d_kv},
               {"num_heads", c->num_heads},   {"d_ff", c->d_ff},        {"num_layers", c->num_layers},
               {"relative_attention_max_distance", c->max_distance}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        DF_FAIL_IF(pos[i].v <= 0 || pos[i].v > (1 << 20), err, DF_E_RANGE,
                   "%s: key '%s' = %d must be in [1, %d]", path, pos[i].key, pos[i].v, 1 << 20);
    DF_FAIL_IF(c->num_buckets < 4 || c->num_buckets > 4096, err, DF_E_RANGE,
               "%s: key 'relative_attention_num_buckets' = %d must be in [4, 4096]", path,
               c->num_buckets);
    /* The log-spaced buckets divide by log(max_distance / exact buckets). */
    DF_FAIL_IF(c->max_distance <= c->num_buckets / 4, err, DF_E_RANGE,
               "%s: relative_attention_max_distance = %d must exceed num_buckets / 4 = %d", path,
               c->max_distance, c->num_buckets / 4);
    DF_FAIL_IF((long long)c->num_heads * c->d_kv > (1 << 20), err, DF_E_RANGE,
               "%s: num_heads * d_kv too large", path);
    DF_FAIL_IF(!(c->eps > 0.0f) || !isfinite(c->eps), err, DF_E_RANGE,
               "%s: key 'layer_norm_epsilon' must be > 0", path);
    c->inner_dim = c->num_heads * c->d_kv;
    return 0;
}

static int parse(const struct config_json *cj, struct t5_config *c, struct df_err *err)
{
    const char *path = cj->path;
    const cJSON *root = cj->root;
    DF_FAIL_IF(!cJSON_IsObject(root), err, DF_E_PARSE, "%s: not a JSON object", path);
    const struct family *f = find_family(path, root, err);
    if (!f)
        return err ? err->code : DF_E_PARSE;
    snprintf(c->model_type, sizeof c->model_type, "%s", f->model_type);
    c->bias_per_layer = f->bias_per_layer;
    DF_TRY(config_json_int_null(cj, "vocab_size", f->vocab, 0, 0, &c->vocab_size, err));
    DF_TRY(config_json_int_null(cj, "d_model", f->d_model, 0, 0, &c->d_model, err));
    DF_TRY(config_json_int_null(cj, "d_kv", f->d_kv, 0, 0, &c->d_kv, err));
    DF_TRY(config_json_int_null(cj, "d_ff", f->d_ff, 0, 0, &c->d_ff, err));
    DF_TRY(config_json_int_null(cj, "num_layers", f->layers, 0, 0, &c->num_layers, err));
    DF_TRY(config_json_int_null(cj, "num_heads", f->heads, 0, 0, &c->num_heads, err));
    DF_TRY(config_json_int_null(cj, "relative_attention_num_buckets", 32, 0, 0, &c->num_buckets, err));
    DF_TRY(config_json_int_null(cj, "relative_attention_max_distance", 128, 0, 0, &c->max_distance, err));
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    DF_FAIL_IF(eps && !cJSON_IsNumber(eps), err, DF_E_PARSE,
               "%s: key 'layer_norm_epsilon' must be a number", path);
    c->eps = eps ? (float)eps->valuedouble : 1e-6f;
    const cJSON *ffn = cJSON_GetObjectItemCaseSensitive(root, "feed_forward_proj");
    DF_FAIL_IF(ffn && !cJSON_IsString(ffn), err, DF_E_PARSE,
               "%s: key 'feed_forward_proj' must be a string", path);
    DF_TRY(parse_ffn(path, ffn ? ffn->valuestring : f->ffn, c, err));
    return check_ranges(path, c, err);
}

int t5_config_load(const char *path, struct t5_config *out, struct df_err *err)
{
    memset(out, 0, sizeof *out);
    struct config_json cj;
    DF_TRY(config_json_open(path, &cj, err));
    int rc = parse(&cj, out, err);
    config_json_close(&cj);
    return rc;
}

int t5_relative_bucket(int rel, int num_buckets, int max_distance)
{
    /* Bidirectional: half the buckets for keys after the query. */
    int half = num_buckets / 2;
    int bucket = rel > 0 ? half : 0;
    int n = rel < 0 ? -rel : rel;
    int max_exact = half / 2;
    if (n < max_exact)
        return bucket + n;
    /* torch: log(n.float() / max_exact) / math.log(max_distance / max_exact)
     * * (half - max_exact), every step in fp32 (the Python double is cast to
     * the tensor's float), then truncated: keep each rounding as torch does. */
    float ratio = (float)n / (float)max_exact;
    float denom = (float)log((double)max_distance / (double)max_exact);
    float scaled = logf(ratio) / denom * (float)(half - max_exact);
    long large = max_exact + (long)scaled;
    if (large > half - 1)
        large = half - 1;
    return bucket + (int)large;
}
