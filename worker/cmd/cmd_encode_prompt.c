/* cmd_encode_prompt.c -- `ditfarm-worker encode-prompt MODEL_DIR (--prompt TEXT ... |
 * --prompts FILE) OUT.safetensors [--backend cpu|cuda] [--tokens-only] [--max-len N]`:
 * what diffusers' WanPipeline._get_t5_prompt_embeds makes of the prompts, one row
 * per prompt, written as
 *   input_ids      [N, max_len] I64   (tokenizer/, padded with the pad id)
 *   attention_mask [N, max_len] I64
 *   prompt_embeds  [N, max_len, d_model] F32   (text_encoder/; not with --tokens-only)
 * --style wan|cogvideox says how the pipeline feeds its encoder (t5_prompt.h;
 * default: cogvideox when MODEL_DIR's transformer is a CogVideoX one, else wan),
 * and the default --max-len (512 for wan, 226 for cogvideox).
 * FILE is UTF-8 with one prompt per line (a final newline ends the last one;
 * CR before LF is dropped).  A prompt over max_len tokens (512, the
 * pipeline's) is truncated with a warning, as the pipeline does; invalid
 * UTF-8 fails naming the line and the byte offset.
 *
 * For parity checks against transformers without a tokenizer:
 *   --ids FILE       take input_ids / attention_mask from FILE instead
 *   --expected FILE  compare with FILE's prompt_embeds_real (the real rows,
 *                    prompts one after the other: tests/fixtures/make_t5_fixtures.py)
 *                    or prompt_embeds [N, max_len, d]; --tol X (1e-4) */
#include "kern.h"
#include "clock.h"
#include "log.h"
#include "model_geom.h"
#include "safetensors.h"
#include "t5_prompt.h"
#include "textfile.h"
#include "worker_exit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROMPTS_FILE_MAX ((size_t)64 << 20)
#define PROMPTS_MAX 100000

struct opts {
    const char *model, *out, *backend, *prompts_file, *ids_file, *expected, *style;
    const char **prompts; /* --prompt values (argv) */
    int n_prompts, max_len, tokens_only;
    double tol;
};

struct batch {
    char **lines;  /* prompts read from --prompts (heap), or NULL */
    const char **texts;
    int *line_no;  /* 1-based line of each text in --prompts, 0 for --prompt */
    int n, max_len, d;
    int64_t *ids, *mask;
    int *lens;
    float *embeds;
};

/* Split FILE into lines; each must hold no NUL byte. */
static int read_prompts(const char *path, struct batch *b, struct df_err *err)
{
    char *text;
    size_t len;
    DF_TRY(textfile_read(path, PROMPTS_FILE_MAX, &text, &len, err));
    int cap = 16, rc = 0, line = 0;
    b->lines = malloc((size_t)cap * sizeof *b->lines);
    b->line_no = malloc((size_t)cap * sizeof *b->line_no);
    for (size_t at = 0; rc == 0 && at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len, stop = end;
        line++;
        if (stop > at && text[stop - 1] == '\r')
            stop--;
        const char *nul = memchr(text + at, '\0', stop - at);
        if (nul)
            rc = df_err_set(err, DF_E_INVAL, "%s:%d: NUL byte at byte offset %zu of the line",
                            path, line, (size_t)(nul - (text + at)));
        else if (b->n == PROMPTS_MAX)
            rc = df_err_set(err, DF_E_RANGE, "%s: more than %d prompts", path, PROMPTS_MAX);
        if (rc == 0 && b->n == cap) {
            cap *= 2;
            char **l = realloc(b->lines, (size_t)cap * sizeof *l);
            int *n = realloc(b->line_no, (size_t)cap * sizeof *n);
            if (l)
                b->lines = l;
            if (n)
                b->line_no = n;
            if (!l || !n)
                rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
        }
        if (rc == 0 && !(b->lines[b->n] = strndup(text + at, stop - at)))
            rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
        if (rc == 0)
            b->line_no[b->n++] = line;
        at = end + 1;
    }
    free(text);
    DF_FAIL_IF(rc == 0 && b->n == 0, err, DF_E_INVAL, "%s: no prompts (the file is empty)", path);
    return rc;
}

/* input_ids / attention_mask [N, L] I64 from a fixture file. */
static int read_ids(const char *path, struct batch *b, struct df_err *err)
{
    struct safetensors *st;
    DF_TRY(safetensors_open(path, &st, err));
    const struct safetensors_tensor *ti = safetensors_find(st, "input_ids");
    const struct safetensors_tensor *tm = safetensors_find(st, "attention_mask");
    int rc = 0;
    if (!ti || !tm || ti->dtype != SAFETENSORS_DTYPE_I64 || tm->dtype != SAFETENSORS_DTYPE_I64 ||
        ti->ndim != 2 || tm->ndim != 2 || ti->shape[0] != tm->shape[0] ||
        ti->shape[1] != tm->shape[1] || ti->shape[0] < 1 || ti->shape[1] < 1 ||
        ti->shape[0] > PROMPTS_MAX || ti->shape[1] > (1 << 16)) {
        rc = df_err_set(err, DF_E_INVAL,
                        "%s: expected I64 tensors input_ids and attention_mask of one shape [N, L]",
                        path);
        goto done;
    }
    b->n = (int)ti->shape[0];
    b->max_len = (int)ti->shape[1];
    size_t n = (size_t)ti->numel;
    b->ids = malloc(n * sizeof *b->ids);
    b->mask = malloc(n * sizeof *b->mask);
    b->lens = calloc((size_t)b->n, sizeof *b->lens);
    if (!b->ids || !b->mask || !b->lens) {
        rc = df_err_set(err, DF_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(b->ids, ti->data, n * sizeof *b->ids);
    memcpy(b->mask, tm->data, n * sizeof *b->mask);
    for (int p = 0; p < b->n; p++)
        for (int i = 0; i < b->max_len; i++)
            b->lens[p] += b->mask[(size_t)p * b->max_len + i] != 0;
done:
    safetensors_close(st);
    return rc;
}

/* --style, else the transformer's family (model_geom.h), else wan. */
static enum t5_prompt_style pick_style(const struct opts *o)
{
    if (o->style)
        return strcmp(o->style, "cogvideox") ? T5_PROMPT_STYLE_WAN : T5_PROMPT_STYLE_COGVIDEOX;
    struct model_geom g;
    if (model_geom_load(o->model, NULL, &g, NULL) == 0 && !strcmp(g.family, "cogvideox"))
        return T5_PROMPT_STYLE_COGVIDEOX;
    return T5_PROMPT_STYLE_WAN;
}

static int tokenize(struct t5_prompt *tp, const struct opts *o, struct batch *b,
                    struct df_log *log, struct df_err *err)
{
    size_t n = (size_t)b->n * b->max_len;
    b->ids = malloc(n * sizeof *b->ids);
    b->mask = malloc(n * sizeof *b->mask);
    b->lens = calloc((size_t)b->n, sizeof *b->lens);
    DF_FAIL_IF(!b->ids || !b->mask || !b->lens, err, DF_E_NOMEM, "out of memory for the ids");
    for (int p = 0; p < b->n; p++) {
        struct tokenizer_info info;
        int rc = t5_prompt_tokenize(tp, &b->texts[p], 1, b->max_len, b->ids + (size_t)p * b->max_len,
                                    b->mask + (size_t)p * b->max_len, &b->lens[p], &info, err);
        if (rc < 0) {
            if (b->line_no[p])
                df_err_prefix(err, "%s:%d", o->prompts_file, b->line_no[p]);
            else
                df_err_prefix(err, "--prompt %d", p + 1);
            return rc;
        }
        if (info.truncated)
            DF_WARN(log,
                    "prompt %d: %zu tokens, truncated to %d (the pipeline's max_sequence_length; "
                    "</s> kept)",
                    p + 1, info.n_total, b->max_len);
    }
    return 0;
}

static int write_out(const struct opts *o, const struct batch *b, struct df_err *err)
{
    struct safetensors_entry e[3] = {
        {.name = "input_ids", .dtype = SAFETENSORS_DTYPE_I64, .ndim = 2,
         .shape = {b->n, b->max_len}},
        {.name = "attention_mask", .dtype = SAFETENSORS_DTYPE_I64, .ndim = 2,
         .shape = {b->n, b->max_len}},
        {.name = "prompt_embeds", .dtype = SAFETENSORS_DTYPE_F32, .ndim = 3,
         .shape = {b->n, b->max_len, b->d}, .data = b->embeds},
    };
    const void *raw[3] = {b->ids, b->mask, NULL};
    return safetensors_write_raw(o->out, e, raw, b->embeds ? 3 : 2, NULL, 0, err);
}

/* Relative L2 of the real rows against --expected. */
static int compare(const struct opts *o, const struct batch *b, struct df_err *err)
{
    struct safetensors *st;
    DF_TRY(safetensors_open(o->expected, &st, err));
    const struct safetensors_tensor *real = safetensors_find(st, "prompt_embeds_real");
    const struct safetensors_tensor *full = safetensors_find(st, "prompt_embeds");
    size_t rows = 0;
    for (int p = 0; p < b->n; p++)
        rows += (size_t)b->lens[p];
    const struct safetensors_tensor *t = real ? real : full;
    size_t want_n = real ? rows * b->d : (size_t)b->n * b->max_len * b->d;
    float *want = t && (size_t)t->numel == want_n ? malloc(want_n * sizeof *want) : NULL;
    int rc = want ? safetensors_to_f32(t, want, want_n, err)
                  : df_err_set(err, DF_E_INVAL,
                               "%s: no prompt_embeds_real [%zu, %d] nor prompt_embeds [%d, %d, %d]",
                               o->expected, rows, b->d, b->n, b->max_len, b->d);
    double num = 0, den = 0;
    for (int p = 0, r = 0; rc == 0 && p < b->n; r += b->lens[p], p++)
        for (int i = 0; i < (real ? b->lens[p] : b->max_len); i++)
            for (int j = 0; j < b->d; j++) {
                double g = b->embeds[((size_t)p * b->max_len + i) * b->d + j];
                double w = want[(real ? (size_t)(r + i) : (size_t)p * b->max_len + i) * b->d + j];
                num += (g - w) * (g - w), den += w * w;
            }
    const struct safetensors_tensor *ti = safetensors_find(st, "input_ids");
    if (rc == 0 && ti && ti->dtype == SAFETENSORS_DTYPE_I64 &&
        ti->numel == (int64_t)b->n * b->max_len) {
        size_t diff = 0, first = 0;
        for (size_t i = (size_t)ti->numel; i-- > 0;) {
            int64_t w;
            memcpy(&w, (const char *)ti->data + i * sizeof w, sizeof w);
            if (w != b->ids[i])
                diff++, first = i;
        }
        printf("input_ids vs %s: %s\n", o->expected, diff ? "DIFFER" : "identical");
        if (diff)
            rc = df_err_set(err, DF_E_RANGE, "%zu token ids differ, the first at prompt %zu, index %zu",
                            diff, first / b->max_len + 1, first % b->max_len);
    }
    if (rc == 0) {
        double rel = sqrt(num / (den > 0 ? den : 1));
        printf("relative L2 vs %s: %.3e (tolerance %.1e): %s\n", o->expected, rel, o->tol,
               rel <= o->tol ? "ok" : "FAIL");
        if (!(rel <= o->tol))
            rc = df_err_set(err, DF_E_RANGE, "relative L2 %.3e exceeds %.1e", rel, o->tol);
    }
    free(want);
    safetensors_close(st);
    return rc;
}

static int run(const struct opts *o, struct batch *b, struct df_log *log, struct df_err *err)
{
    kern_backend_t be = NULL;
    struct t5_prompt *tp = NULL;
    int rc = o->tokens_only ? 0 : kern_backend_create(o->backend, 0, &be, err);
    if (rc == 0 && o->ids_file)
        rc = read_ids(o->ids_file, b, err);
    else if (rc == 0)
        rc = t5_prompt_open(o->model, be, &tp, err);
    if (rc == 0 && tp)
        tp->style = pick_style(o);
    if (rc == 0 && !o->ids_file)
        rc = tokenize(tp, o, b, log, err);
    if (rc == 0 && !tp && !o->tokens_only) { /* --ids: the encoder alone, no tokenizer/ */
        tp = calloc(1, sizeof *tp);
        if (!tp)
            rc = df_err_set(err, DF_E_NOMEM, "out of memory");
        else
            tp->be = be, snprintf(tp->dir, sizeof tp->dir, "%s", o->model);
    }
    if (rc == 0 && !o->tokens_only) {
        const struct t5_config *c = t5_prompt_config(tp, err);
        rc = c ? 0 : err->code;
        b->d = c ? c->d_model : 0;
        size_t n = (size_t)b->n * b->max_len * b->d;
        if (rc == 0 && !(b->embeds = malloc(n * sizeof *b->embeds)))
            rc = df_err_set(err, DF_E_NOMEM, "out of memory for %zu floats of embeddings", n);
        double t0 = df_clock_s();
        if (rc == 0)
            rc = t5_prompt_encode(tp, b->ids, b->lens, b->n, b->max_len, b->embeds, err);
        if (rc == 0)
            DF_INFO(log, "encoded %d prompt(s) with %s (%s, d_model %d, %d layers) in %.2f s on %s",
                    b->n, tp->dir, c->model_type, c->d_model, c->num_layers, df_clock_s() - t0,
                    kern_backend_name(be));
    }
    if (rc == 0)
        rc = write_out(o, b, err);
    if (rc == 0)
        printf("wrote %s: %d prompt(s) x %d tokens%s\n", o->out, b->n, b->max_len,
               b->embeds ? ", prompt_embeds" : " (tokens only)");
    if (rc == 0 && o->expected && b->embeds)
        rc = compare(o, b, err);
    t5_prompt_close(tp);
    kern_backend_free(be);
    return rc;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    o->prompts = calloc((size_t)argc, sizeof *o->prompts);
    if (!o->prompts)
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--prompt") && v)
            o->prompts[o->n_prompts++] = argv[++i];
        else if (!strcmp(a, "--prompts") && v)
            o->prompts_file = argv[++i];
        else if (!strcmp(a, "--backend") && v)
            o->backend = argv[++i];
        else if (!strcmp(a, "--ids") && v)
            o->ids_file = argv[++i];
        else if (!strcmp(a, "--expected") && v)
            o->expected = argv[++i];
        else if (!strcmp(a, "--tol") && v)
            o->tol = atof(argv[++i]);
        else if (!strcmp(a, "--max-len") && v)
            o->max_len = atoi(argv[++i]);
        else if (!strcmp(a, "--style") && v)
            o->style = argv[++i];
        else if (!strcmp(a, "--tokens-only"))
            o->tokens_only = 1;
        else if (a[0] != '-' && npos < 2)
            pos[npos++] = a;
        else
            return -1;
    }
    o->model = pos[0], o->out = pos[1];
    int sources = (o->n_prompts > 0) + (o->prompts_file != NULL) + (o->ids_file != NULL);
    int style_ok = !o->style || !strcmp(o->style, "wan") || !strcmp(o->style, "cogvideox");
    /* the pipelines' max_sequence_length: Wan 512, CogVideoX 226 */
    if (o->max_len == 0 && o->model)
        o->max_len = pick_style(o) == T5_PROMPT_STYLE_COGVIDEOX ? 226 : TOKENIZER_MAX_LEN;
    return npos == 2 && sources == 1 && style_ok && o->max_len >= 1 && o->max_len <= (1 << 16)
               ? 0
               : -1;
}

int cmd_encode_prompt(int argc, char **argv, struct df_log *log)
{
    struct opts o = {.backend = "cpu", .max_len = 0, .tol = 1e-4};
    if (parse_args(argc, argv, &o) < 0) {
        free(o.prompts);
        fprintf(stderr,
                "usage: ditfarm-worker encode-prompt MODEL_DIR (--prompt TEXT ... | --prompts FILE) "
                "OUT.safetensors [--backend cpu|cuda] [--tokens-only] [--max-len N]\n"
                "                             [--style wan|cogvideox]\n"
                "       ditfarm-worker encode-prompt MODEL_DIR --ids FILE OUT.safetensors "
                "[--expected FILE] [--tol X]\n");
        return WORKER_EXIT_USAGE;
    }
    struct batch b = {.max_len = o.max_len};
    struct df_err err = {0};
    int rc = 0;
    if (o.prompts_file) {
        rc = read_prompts(o.prompts_file, &b, &err);
        b.texts = (const char **)b.lines;
    } else if (o.n_prompts) {
        b.n = o.n_prompts;
        b.texts = o.prompts;
        b.line_no = calloc((size_t)b.n, sizeof *b.line_no);
    }
    if (rc == 0)
        rc = run(&o, &b, log, &err);
    if (rc < 0)
        DF_ERROR(log, "encode-prompt: %s", err.msg);
    for (int i = 0; b.lines && i < b.n; i++)
        free(b.lines[i]);
    free(b.lines), free(b.line_no), free(b.ids), free(b.mask), free(b.lens), free(b.embeds);
    free(o.prompts);
    return rc < 0 ? WORKER_EXIT_FAILED : WORKER_EXIT_DONE;
}
