/*
 * render_text.c -- prompt text or files to the rows the DiT attends to
 * (render_text.h).
 *
 * Rank 0 alone tokenizes and runs the encoder (umT5-XXL is 11 GB of weights:
 * one mapping per node would be wasted on the others), then the rows travel
 * to every rank as one byte buffer:
 *     int32 n_cond, int32 n_uncond, float cond[text_len·text_dim],
 *     float uncond[text_len·text_dim] (when guided)
 * The same buffer is the cache file's payload, so a resume reads back exactly
 * the rows the first run used.  The encoder runs on a CPU backend of its own,
 * whatever the render's backend: it streams its weights from the mapping, and
 * on a GPU render the device memory belongs to the DiT.
 */
#include "render_text.h"

#include "render_int.h"

#include "model_folder.h"
#include "model_id.h"
#include "paths.h"
#include "safetensors.h"
#include "t5_prompt.h"
#include "text_embed.h"
#include "textfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TOKENIZER_FILE_MAX ((size_t)256 << 20)

/* What each branch gets its rows from. */
enum text_from { TEXT_FROM_FILE, TEXT_FROM_ENCODER, TEXT_FROM_STANDIN };

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- the cache key --------------------------------------------------------- */

/* Fingerprint of the tokenizer files present (tokenizer.json, spiece.model,
 * tokenizer_config.json) and of the encoder's weights (model_id.h). */
static int encoder_id(const char *model_dir, uint64_t *out, struct df_err *err)
{
    static const char *const files[] = {"tokenizer.json", "spiece.model",
                                        "tokenizer_config.json"};
    char path[PATH_MAX + 64];
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/tokenizer/%s", model_dir, files[i]);
        char *data;
        size_t len;
        struct df_err e = {0};
        int rc = textfile_read(path, TOKENIZER_FILE_MAX, &data, &len, &e);
        if (rc == DF_E_NOTFOUND)
            continue;
        if (rc < 0) {
            if (err)
                *err = e;
            return rc;
        }
        h = fnv_bytes(fnv_bytes(h, files[i], strlen(files[i]) + 1), data, len);
        free(data);
    }
    uint64_t w;
    snprintf(path, sizeof path, "%s/text_encoder", model_dir);
    DF_TRY(model_id_weights(path, &w, err));
    *out = fnv_bytes(h, &w, sizeof w);
    return 0;
}

static uint64_t text_key(const struct render *r, uint64_t enc_id, const char *cond,
                         const char *uncond)
{
    uint64_t h = fnv_bytes(1469598103934665603ull, "ditfarm-text-1", 15);
    int32_t dims[4] = {r->text_len, r->text_dim, r->guided,
                       r->text_rows_whole};
    h = fnv_bytes(h, dims, sizeof dims);
    h = fnv_bytes(h, &enc_id, sizeof enc_id);
    h = fnv_bytes(h, cond ? cond : "", strlen(cond ? cond : "") + 1);
    return fnv_bytes(h, uncond ? uncond : "", strlen(uncond ? uncond : "") + 1);
}

/* ---- rank 0: cache or encoder ----------------------------------------------- */

static size_t payload_size(const struct render *r)
{
    return 2 * sizeof(int32_t) +
           (size_t)(r->guided ? 2 : 1) * r->text_len * r->text_dim * sizeof(float);
}

static void cache_path(const struct render *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s.text.safetensors", r->o->ckpt_dir, r->shot->id);
}

/* The cached payload when the file exists and its key matches; 0 = miss. */
static int cache_read(const struct render *r, uint64_t key, void *payload)
{
    char path[PATH_MAX + 64];
    cache_path(r, path, sizeof path);
    struct safetensors *st = NULL;
    if (safetensors_open(path, &st, NULL) < 0)
        return 0;
    const struct safetensors_tensor *k = safetensors_find(st, "key");
    const struct safetensors_tensor *p = safetensors_find(st, "payload");
    int hit = k && p && k->dtype == SAFETENSORS_DTYPE_I64 && k->numel == 1 &&
              p->dtype == SAFETENSORS_DTYPE_U8 && p->nbytes == payload_size(r);
    uint64_t have = 0;
    if (hit)
        memcpy(&have, k->data, sizeof have);
    hit = hit && have == key;
    if (hit)
        memcpy(payload, p->data, p->nbytes);
    safetensors_close(st);
    return hit;
}

static int cache_write(const struct render *r, uint64_t key, const void *payload,
                       struct df_err *err)
{
    char path[PATH_MAX + 64];
    cache_path(r, path, sizeof path);
    struct safetensors_entry e[2] = {
        {.name = "key", .dtype = SAFETENSORS_DTYPE_I64, .ndim = 1, .shape = {1}},
        {.name = "payload", .dtype = SAFETENSORS_DTYPE_U8, .ndim = 1,
         .shape = {(int64_t)payload_size(r)}},
    };
    const void *raw[2] = {&key, payload};
    DF_TRY(paths_mkdirs_for(path, err));
    return safetensors_write_raw(path, e, raw, 2, NULL, 0, err);
}

/* Tokenize the texts of the branches that need it and encode them in one
 * batch (one pass over the streamed weights), into the payload's rows: the
 * branches' rows are consecutive there, [n, text_len, text_dim]. */
static int encode(struct render *r, const char *const *texts, const int *want, int32_t *n_rows,
                  float *rows, struct df_err *err)
{
    const int L = r->text_len;
    const size_t plane = (size_t)L * r->text_dim;
    int first = want[0] ? 0 : 1, count = want[0] + want[1];
    kern_backend_t be = NULL;
    struct t5_prompt *tp = NULL;
    int64_t *ids = malloc((size_t)2 * L * sizeof *ids), *mask = malloc((size_t)2 * L * sizeof *mask);
    int lens[2] = {0, 0};
    int rc = ids && mask ? 0 : df_err_set(err, DF_E_NOMEM, "out of memory");
    /* Its own CPU backend: see the file comment. */
    if (rc == 0)
        rc = kern_backend_create("cpu", r->o->threads, &be, err);
    if (rc == 0)
        rc = t5_prompt_open(r->md->dir, be, &tp, err);
    if (rc == 0) /* the family says how its pipeline makes the rows */
        tp->style = r->text_rows_whole ? T5_PROMPT_STYLE_COGVIDEOX : T5_PROMPT_STYLE_WAN;
    const struct t5_config *c = rc == 0 ? t5_prompt_config(tp, err) : NULL;
    if (rc == 0 && !c)
        rc = err ? err->code : DF_E_INVAL;
    if (rc == 0 && c->d_model != r->text_dim)
        rc = df_err_set(err, DF_E_INVAL,
                        "%s/text_encoder: d_model %d but the transformer's text_dim is %d",
                        r->md->dir, c->d_model, r->text_dim);
    for (int b = first, i = 0; rc == 0 && i < count; b++, i++) {
        struct tokenizer_info info;
        rc = t5_prompt_tokenize(tp, &texts[b], 1, L, ids + (size_t)i * L, mask + (size_t)i * L,
                                &lens[i], &info, err);
        if (rc < 0)
            df_err_prefix(err, "%s prompt", b ? "negative" : "positive");
        else if (info.truncated)
            DF_WARN(r->log,
                    "shot %s: %s prompt has %zu tokens, truncated to %d as the pipeline does "
                    "(</s> kept)",
                    r->shot->id, b ? "negative" : "positive", info.n_total, L);
    }
    if (rc == 0)
        rc = t5_prompt_encode(tp, ids, lens, count, L, rows + (size_t)first * plane, err);
    for (int i = 0; rc == 0 && i < count; i++)
        n_rows[first + i] = lens[i];
    t5_prompt_close(tp);
    kern_backend_free(be);
    free(ids), free(mask);
    return rc;
}

/* ---- every rank ----------------------------------------------------------- */

static int from_file(struct render *r, const char *path, float *rows, int32_t *n,
                     struct df_err *err)
{
    int k = 0;
    DF_TRY(text_embed_load(path, r->text_len, r->text_dim, rows, &k, err));
    *n = k;
    return 0;
}

/* Rank 0 fills the payload of the encoded branches (cache or encoder); every
 * rank gets it. */
static int share_encoded(struct render *r, const char *const *texts, const int *want,
                         unsigned char *payload, struct df_err *err)
{
    const size_t size = payload_size(r);
    int rc = 0, hit = 0;
    struct df_err perr = {0};
    double t0 = df_clock_s();
    if (render_is_root(r)) {
        uint64_t enc_id = 0, key = 0;
        rc = encoder_id(r->md->dir, &enc_id, &perr);
        key = text_key(r, enc_id, want[0] ? texts[0] : NULL, want[1] ? texts[1] : NULL);
        hit = rc == 0 && r->o->ckpt_dir && cache_read(r, key, payload);
        if (rc == 0 && !hit) {
            int32_t n[2] = {0, 0};
            rc = encode(r, texts, want, n, (float *)(payload + 2 * sizeof(int32_t)), &perr);
            memcpy(payload, n, sizeof n);
            if (rc == 0 && r->o->ckpt_dir)
                rc = cache_write(r, key, payload, &perr);
        }
    }
    int any = render_par_any(&r->par, rc < 0, err);
    void *buf = payload;
    size_t len = size;
    if (any == 0 && r->par.size > 1)
        any = render_par_share_bytes(&r->par, &buf, &len, err);
    if (rc < 0) {
        *err = perr;
        df_err_prefix(err, "text encoder");
        return rc;
    }
    DF_TRY(any);
    DF_FAIL_IF(any > 0, err, DF_E_INVAL, "shot %s: rank 0 could not encode the prompts",
               r->shot->id);
    if (buf != payload) {
        rc = len == size ? 0 : df_err_set(err, DF_E_COMM, "text rows: %zu bytes, expected %zu", len, size);
        if (rc == 0)
            memcpy(payload, buf, size);
        free(buf);
        DF_TRY(rc);
    }
    r->t_text = df_clock_s() - t0;
    if (render_is_root(r))
        DF_INFO(r->log, "shot %s: prompts %s with %s/text_encoder (%d rows%s) in %.2f s",
                r->shot->id, hit ? "read from the job's cache" : "encoded", r->md->dir,
                ((int32_t *)payload)[0], r->guided ? " + negative" : "", r->t_text);
    return 0;
}

int render_text_setup(struct render *r, struct df_err *err)
{
    const struct shot *s = r->shot;
    const int n = r->guided ? 2 : 1;
    const size_t plane = (size_t)r->text_len * r->text_dim;
    const char *files[2] = {s->prompt_embeds, s->negative_prompt_embeds};
    /* WanPipeline and CogVideoXPipeline alike: negative_prompt = negative_prompt or "" */
    const char *texts[2] = {s->prompt ? s->prompt : "",
                            s->negative_prompt ? s->negative_prompt : ""};
    int want[2] = {!files[0], n == 2 && !files[1]};
    enum text_from from = TEXT_FROM_FILE;
    char te[PATH_MAX + 32], tk[PATH_MAX + 32];
    snprintf(te, sizeof te, "%s/text_encoder", r->md->dir);
    snprintf(tk, sizeof tk, "%s/tokenizer", r->md->dir);
    if (want[0] || want[1]) {
        from = is_dir(te) && is_dir(tk) ? TEXT_FROM_ENCODER : TEXT_FROM_STANDIN;
        DF_FAIL_IF(from == TEXT_FROM_STANDIN && !model_folder_is_demo(s->model), err,
                   DF_E_UNSUPPORTED,
                   "%s:%d:%d: shot '%s': model folder %s has no text encoder (tokenizer/ and "
                   "text_encoder/): give prompt_embeds: files or use the full diffusers folder",
                   s->file, s->line, s->col, s->id, r->md->dir);
    }
    unsigned char *payload = calloc(1, payload_size(r));
    DF_FAIL_IF(!payload, err, DF_E_NOMEM, "out of memory for the text rows");
    int32_t *nr = (int32_t *)payload;
    float *rows = (float *)(payload + 2 * sizeof(int32_t));
    int rc = 0;
    if (from == TEXT_FROM_ENCODER)
        rc = share_encoded(r, texts, want, payload, err);
    for (int b = 0; rc == 0 && b < n; b++) {
        if (files[b])
            rc = from_file(r, files[b], rows + b * plane, &nr[b], err);
        else if (from == TEXT_FROM_STANDIN) {
            int k = 0;
            text_embed_derive(texts[b], r->text_len, r->text_dim, rows + b * plane, &k);
            nr[b] = k;
        }
    }
    if (rc == 0 && (!(r->text_cond = malloc(plane * sizeof(float))) ||
                    (n == 2 && !(r->text_uncond = malloc(plane * sizeof(float))))))
        rc = df_err_set(err, DF_E_NOMEM, "out of memory for the text rows");
    if (rc == 0) {
        memcpy(r->text_cond, rows, plane * sizeof(float));
        if (n == 2)
            memcpy(r->text_uncond, rows + plane, plane * sizeof(float));
        r->n_text_cond = nr[0];
        r->text_standin = from == TEXT_FROM_STANDIN && want[0];
        snprintf(r->text_source, sizeof r->text_source, "%s",
                 files[0]               ? "prompt_embeds file"
                 : from == TEXT_FROM_ENCODER ? "text encoder (tokenizer/, text_encoder/)"
                                             : "stand-in: derived from the prompt text "
                                               "(demo model without a text encoder)");
        if (from == TEXT_FROM_STANDIN && render_is_root(r))
            DF_INFO(r->log,
                    "shot %s: model %s has no text encoder: stand-in prompt embeddings derived "
                    "from the text (not a real encoding)",
                    s->id, s->model);
    }
    free(payload);
    return rc;
}
