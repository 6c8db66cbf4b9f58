/* tokenizer_load.c -- find and read the files of a model folder's tokenizer/:
 * tokenizer.json when present (what the fast tokenizer loads), else
 * spiece.model; tokenizer_config.json, when present, gives pad_token (which
 * transformers pads with) and, for spiece.model, extra_ids. */
#include "text_int.h"
#include "textfile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* umT5-XXL's tokenizer.json is ~16 MB; leave room for larger vocabularies. */
#define TOKENIZER_FILE_MAX (512u << 20)

int tokenizer_load_buffer(enum tokenizer_format fmt, const void *data, size_t len, const char *name,
                          int extra_ids, struct tokenizer **out, struct df_err *err)
{
    DF_FAIL_IF(!data && len, err, DF_E_INVAL, "%s: no data", name);
    switch (fmt) {
    case TOKENIZER_FORMAT_JSON:
        return tokenizer_parse_json(data ? data : "", len, name, out, err);
    case TOKENIZER_FORMAT_SPM:
        return tokenizer_parse_spm(data ? data : "", len, name, extra_ids, NULL, out, err);
    default:
        return df_err_set(err, DF_E_INVAL, "%s: unknown tokenizer format %d", name, (int)fmt);
    }
}

/* tokenizer_config.json's pad_token (a string or {"content": ...}) and extra_ids. */
struct tok_config {
    char pad[256]; /* "" when absent */
    int extra_ids; /* -1 when absent */
};

static int read_config(const char *dir, struct tok_config *cfg, struct df_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    cfg->pad[0] = '\0';
    cfg->extra_ids = -1;
    char *text;
    size_t len;
    struct df_err e2 = {0};
    int rc = textfile_read(path, 64u << 20, &text, &len, &e2);
    if (rc == DF_E_NOTFOUND)
        return 0;
    if (rc < 0)
        return df_err_set(err, rc, "%s", e2.msg);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    DF_FAIL_IF(!cJSON_IsObject(root), err, DF_E_PARSE, "%s: not a JSON object", path);
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "pad_token");
    if (cJSON_IsObject(pad))
        pad = cJSON_GetObjectItemCaseSensitive(pad, "content");
    if (cJSON_IsString(pad))
        snprintf(cfg->pad, sizeof(cfg->pad), "%s", pad->valuestring);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(root, "extra_ids");
    if (cJSON_IsNumber(ex) && ex->valuedouble >= 0 && ex->valuedouble <= 100000)
        cfg->extra_ids = (int)ex->valuedouble;
    cJSON_Delete(root);
    return 0;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int tokenizer_load(const char *dir, struct tokenizer **out, struct df_err *err)
{
    char json[4096], spm[4096];
    snprintf(json, sizeof(json), "%s/tokenizer.json", dir);
    snprintf(spm, sizeof(spm), "%s/spiece.model", dir);
    struct tok_config cfg;
    DF_TRY(read_config(dir, &cfg, err));
    int is_json = exists(json);
    if (!is_json && !exists(spm))
        return df_err_set(err, DF_E_NOTFOUND, "%s: no tokenizer.json nor spiece.model", dir);
    const char *path = is_json ? json : spm;
    char *data;
    size_t len;
    DF_TRY(textfile_read(path, TOKENIZER_FILE_MAX, &data, &len, err));
    struct tokenizer *tok = NULL;
    int rc = is_json ? tokenizer_parse_json(data, len, path, &tok, err)
                     : tokenizer_parse_spm(data, len, path, cfg.extra_ids,
                                           cfg.pad[0] ? cfg.pad : NULL, &tok, err);
    free(data);
    if (rc < 0)
        return rc;
    if (cfg.pad[0]) {
        int64_t id = tokenizer_token_id(tok, cfg.pad, strlen(cfg.pad));
        if (id < 0) {
            tokenizer_free(tok);
            return df_err_set(err, DF_E_PARSE, "%s/tokenizer_config.json: pad_token '%s' is not in the vocabulary",
                              dir, cfg.pad);
        }
        tok->pad_id = id;
    }
    *out = tok;
    return 0;
}
