/* test_t5.c -- worker/model/t5/ against transformers' UMT5EncoderModel / T5EncoderModel.
 *
 * Fixtures (tests/data/t5/<cfg>/, made by tests/fixtures/make_t5_fixtures.py)
 * hold a text_encoder/ folder and, in expected.safetensors, token ids with
 * zero-padded rows and the real rows of transformers' last_hidden_state.
 * Every folder found there must match within 1e-4 relative L2 (fp32 forward;
 * F32, BF16, F16 and sharded weights), with the rows past each prompt's
 * length exactly zero (diffusers' _get_t5_prompt_embeds), both with the
 * weights kept and streamed, in one batch and one prompt per batch.  The
 * bucket rule must equal transformers' over +-1100 for several tables.  Bad
 * folders (missing, corrupt, misshapen, unsupported) must fail with a
 * message naming the file and the key or tensor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kern.h"
#include "safetensors.h"
#include "t5_config.h"
#include "t5_encoder.h"

#define TOL 1e-4
#define TOL_CUDA 3e-2 /* the CUDA backend's linears run in bf16 */

static kern_backend_t cpu(void)
{
    kern_backend_t be;
    struct df_err err = {0};
    if (kern_backend_create("cpu", 2, &be, &err) < 0)
        fail_msg("cpu backend: %s", err.msg);
    return be;
}

static int64_t *read_i64(const struct safetensors *st, const char *name, int64_t *n_out)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    assert_non_null(t);
    assert_int_equal(t->dtype, SAFETENSORS_DTYPE_I64);
    int64_t *v = malloc((size_t)t->numel * sizeof *v);
    assert_non_null(v);
    memcpy(v, t->data, (size_t)t->numel * sizeof *v); /* little-endian host */
    if (n_out)
        *n_out = t->numel;
    return v;
}

/* ------------------------------------------------------------------------- */

static void test_buckets(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/t5/buckets.safetensors", DF_TEST_DATA);
    struct safetensors *st;
    struct df_err err = {0};
    assert_int_equal(safetensors_open(path, &st, &err), 0);
    int tables = 0;
    for (int i = 0; i < safetensors_count(st); i++) {
        const struct safetensors_tensor *t = safetensors_at(st, i);
        int nb, md;
        if (sscanf(t->name, "buckets_%d_%d", &nb, &md) != 2)
            continue;
        int64_t n;
        int64_t *want = read_i64(st, t->name, &n);
        int64_t range = (n - 1) / 2;
        for (int64_t j = 0; j < n; j++) {
            int rel = (int)(j - range);
            int got = t5_relative_bucket(rel, nb, md);
            if (got != want[j])
                fail_msg("%s: distance %d: bucket %d, transformers %lld", t->name, rel, got,
                         (long long)want[j]);
        }
        free(want);
        tables++;
    }
    assert_true(tables >= 3);
    safetensors_close(st);
}

/* ------------------------------------------------------------------------- */

struct case_data {
    int64_t *ids;
    int *lens;
    int n, max_len, d;
    float *want; /* [sum lens, d] */
};

static void case_load(const char *dir, struct case_data *c)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    struct safetensors *st;
    struct df_err err = {0};
    assert_int_equal(safetensors_open(path, &st, &err), 0);
    const struct safetensors_tensor *ids = safetensors_find(st, "input_ids");
    assert_non_null(ids);
    c->n = (int)ids->shape[0];
    c->max_len = (int)ids->shape[1];
    c->ids = read_i64(st, "input_ids", NULL);
    int64_t *mask = read_i64(st, "attention_mask", NULL);
    c->lens = calloc((size_t)c->n, sizeof *c->lens);
    for (int p = 0; p < c->n; p++)
        for (int i = 0; i < c->max_len; i++)
            c->lens[p] += mask[(size_t)p * c->max_len + i] != 0;
    free(mask);
    const struct safetensors_tensor *w = safetensors_find(st, "prompt_embeds_real");
    assert_non_null(w);
    c->d = (int)w->shape[1];
    c->want = malloc((size_t)w->numel * sizeof *c->want);
    assert_int_equal(safetensors_to_f32(w, c->want, (size_t)w->numel, &err), 0);
    safetensors_close(st);
}

static void case_free(struct case_data *c)
{
    free(c->ids);
    free(c->lens);
    free(c->want);
}

static double check_output(const char *name, const struct case_data *c, const float *out)
{
    double num = 0, den = 0;
    size_t row = 0;
    for (int p = 0; p < c->n; p++) {
        for (int i = 0; i < c->max_len; i++) {
            const float *g = out + ((size_t)p * c->max_len + i) * c->d;
            for (int j = 0; j < c->d; j++) {
                if (i >= c->lens[p]) {
                    if (g[j] != 0.0f)
                        fail_msg("%s: prompt %d row %d (padding) is %g, not 0", name, p, i, g[j]);
                    continue;
                }
                double e = (double)g[j] - c->want[(row + i) * c->d + j];
                num += e * e;
                den += (double)c->want[(row + i) * c->d + j] * c->want[(row + i) * c->d + j];
            }
        }
        row += (size_t)c->lens[p];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static void run_case(kern_backend_t be, const char *name, const char *dir,
                     const struct t5_encoder_opts *opts, const char *how, double tol)
{
    struct case_data c;
    case_load(dir, &c);
    char te[1100];
    snprintf(te, sizeof te, "%s/text_encoder", dir);
    t5_encoder_t enc;
    struct df_err err = {0};
    if (t5_encoder_open(te, be, opts, &enc, &err) < 0)
        fail_msg("%s: open: %s", name, err.msg);
    assert_int_equal(t5_encoder_config(enc)->d_model, c.d);
    float *out = malloc((size_t)c.n * c.max_len * c.d * sizeof *out);
    if (t5_encoder_encode(enc, c.ids, c.lens, c.n, c.max_len, out, &err) < 0)
        fail_msg("%s: encode: %s", name, err.msg);
    double e = check_output(name, &c, out);
    printf("  %-10s %-18s %s rel L2 %.2e\n", name, how, t5_encoder_config(enc)->model_type, e);
    if (!(e < tol))
        fail_msg("%s (%s): relative L2 %.3e > %.0e", name, how, e, tol);
    free(out);
    t5_encoder_free(enc);
    case_free(&c);
}

static void test_fixtures(void **state)
{
    (void)state;
    char root[600];
    snprintf(root, sizeof root, "%s/t5", DF_TEST_DATA);
    DIR *d = opendir(root);
    assert_non_null(d);
    kern_backend_t be = cpu(), gpu = NULL;
    struct df_err gerr = {0};
    if (kern_backend_create("cuda", 0, &gpu, &gerr) < 0)
        printf("  (no cuda backend here: %s)\n", gerr.msg);
    int cases = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        char dir[1024], exp[1100];
        snprintf(dir, sizeof dir, "%s/%s", root, ent->d_name);
        snprintf(exp, sizeof exp, "%s/expected.safetensors", dir);
        if (ent->d_name[0] == '.' || access(exp, R_OK) != 0)
            continue;
        run_case(be, ent->d_name, dir, NULL, "kept, one batch", TOL);
        struct t5_encoder_opts streamed = {.resident_max_bytes = 1, .batch_rows = 1};
        run_case(be, ent->d_name, dir, &streamed, "streamed, per prompt", TOL);
        if (gpu) /* bf16 weights and linear inputs there: bf16 precision */
            run_case(gpu, ent->d_name, dir, NULL, "cuda", TOL_CUDA);
        cases++;
    }
    closedir(d);
    kern_backend_free(gpu);
    kern_backend_free(be);
    assert_true(cases >= 4);
}

/* ------------------------------------------------------------------------- */

/* A scratch folder with umt5_a's config.json and a model.safetensors written
 * from its tensors, except `drop` and with `reshape` given a wrong shape. */
static void make_variant_nan(const char *out_dir, const char *drop, const char *reshape,
                             const char *nan_in);

static void make_variant(const char *out_dir, const char *drop, const char *reshape)
{
    make_variant_nan(out_dir, drop, reshape, NULL);
}

/* ... with the weights in BF16 and a NaN at index 5 of `nan_in` (when set). */
static void make_variant_nan(const char *out_dir, const char *drop, const char *reshape,
                             const char *nan_in)
{
    char src[600], path[700];
    snprintf(src, sizeof src, "%s/t5/umt5_a/text_encoder", DF_TEST_DATA);
    mkdir(out_dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    struct safetensors *st;
    struct df_err err = {0};
    assert_int_equal(safetensors_open(path, &st, &err), 0);
    int n = safetensors_count(st), k = 0;
    struct safetensors_entry *e = calloc((size_t)n, sizeof *e);
    float **bufs = calloc((size_t)n, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        const struct safetensors_tensor *t = safetensors_at(st, i);
        if (drop && !strcmp(t->name, drop))
            continue;
        bufs[k] = malloc((size_t)t->numel * sizeof(float));
        assert_int_equal(safetensors_to_f32(t, bufs[k], (size_t)t->numel, &err), 0);
        e[k].name = t->name;
        e[k].dtype = nan_in ? SAFETENSORS_DTYPE_BF16 : SAFETENSORS_DTYPE_F32;
        if (nan_in && !strcmp(t->name, nan_in))
            bufs[k][5] = NAN;
        e[k].ndim = t->ndim;
        memcpy(e[k].shape, t->shape, sizeof e[k].shape);
        if (reshape && !strcmp(t->name, reshape) && t->ndim == 2) {
            e[k].shape[0] = t->shape[1]; /* transposed: same numel */
            e[k].shape[1] = t->shape[0];
        }
        e[k].data = bufs[k];
        k++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    assert_int_equal(safetensors_write(path, e, k, NULL, 0, &err), 0);
    for (int i = 0; i < k; i++)
        free(bufs[i]);
    free(bufs);
    free(e);
    safetensors_close(st);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cp '%s/config.json' '%s/config.json'", src, out_dir);
    assert_int_equal(system(cmd), 0);
}

static void expect_open_error(kern_backend_t be, const char *dir, int code, const char *needle)
{
    t5_encoder_t enc = NULL;
    struct df_err err = {0};
    int rc = t5_encoder_open(dir, be, NULL, &enc, &err);
    if (rc != code || !strstr(err.msg, needle))
        fail_msg("%s: got %d '%s', expected %d with '%s'", dir, rc, err.msg, code, needle);
    assert_null(enc);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_bad_folders(void **state)
{
    (void)state;
    char tmp[] = "/tmp/test_t5_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    kern_backend_t be = cpu();
    char dir[600], path[700], cmd[1400];

    snprintf(dir, sizeof dir, "%s/none", tmp);
    expect_open_error(be, dir, DF_E_NOTFOUND, "config.json");

    snprintf(dir, sizeof dir, "%s/missing", tmp);
    make_variant(dir, "encoder.block.1.layer.1.DenseReluDense.wo.weight", NULL);
    expect_open_error(be, dir, DF_E_NOTFOUND, "encoder.block.1.layer.1.DenseReluDense.wo.weight");

    snprintf(dir, sizeof dir, "%s/shape", tmp);
    make_variant(dir, NULL, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight");
    expect_open_error(be, dir, DF_E_INVAL, "has shape [32, 48], expected [48, 32]");

    /* A truncated weights file. */
    snprintf(dir, sizeof dir, "%s/trunc", tmp);
    make_variant(dir, NULL, NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(truncate(path, 3000), 0);
    expect_open_error(be, dir, DF_E_PARSE, "model.safetensors");

    /* No weights at all. */
    assert_int_equal(unlink(path), 0);
    expect_open_error(be, dir, DF_E_NOTFOUND, "model.safetensors");

    /* config.json: broken JSON, an activation we do not run, another model. */
    snprintf(dir, sizeof dir, "%s/cfg", tmp);
    make_variant(dir, NULL, NULL);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, "{\"model_type\": \"umt5\",\n \"d_model\": 32,,}");
    expect_open_error(be, dir, DF_E_PARSE, "config.json:2:");
    write_file(path, "{\"model_type\": \"umt5\", \"d_model\": 32, \"feed_forward_proj\": \"relu\"}");
    expect_open_error(be, dir, DF_E_UNSUPPORTED, "relu");
    write_file(path, "{\"model_type\": \"bert\"}");
    expect_open_error(be, dir, DF_E_UNSUPPORTED, "bert");
    write_file(path, "{\"model_type\": \"umt5\", \"d_model\": \"big\"}");
    expect_open_error(be, dir, DF_E_PARSE, "d_model");
    write_file(path, "{\"model_type\": \"umt5\", \"relative_attention_num_buckets\": 2}");
    expect_open_error(be, dir, DF_E_RANGE, "relative_attention_num_buckets");
    /* More blocks in the file than the config says. */
    snprintf(cmd, sizeof cmd,
             "sed 's/\"num_layers\": 2/\"num_layers\": 1/' '%s/t5/umt5_a/text_encoder/config.json' "
             "> '%s'",
             DF_TEST_DATA, path);
    assert_int_equal(system(cmd), 0);
    expect_open_error(be, dir, DF_E_INVAL, "num_layers = 1");

    /* A NaN in BF16 weights: refused when kept (at open) and when streamed
     * (at the matmul that converts it). */
    snprintf(dir, sizeof dir, "%s/nan", tmp);
    make_variant_nan(dir, NULL, NULL, "encoder.block.1.layer.1.DenseReluDense.wi_0.weight");
    expect_open_error(be, dir, DF_E_INVAL, "non-finite");
    t5_encoder_t enc;
    struct df_err err = {0};
    struct t5_encoder_opts streamed = {.resident_max_bytes = 1};
    assert_int_equal(t5_encoder_open(dir, be, &streamed, &enc, &err), 0);
    int64_t ids[4] = {5, 6, 1, 0};
    int len = 3;
    float out[4 * 32];
    assert_int_equal(t5_encoder_encode(enc, ids, &len, 1, 4, out, &err), DF_E_INVAL);
    /* streamed BF16 goes through kern_weight_load_bf16 (its message) or the
     * converter (the reader's message): either names the tensor and index 5 */
    if (!strstr(err.msg, "wi_0.weight': kern_weight_load_bf16: value 5 of [48, 32] is not finite") &&
        !strstr(err.msg, "wi_0.weight' holds non-finite values (NaN or Inf; first at index 5)"))
        fail_msg("message: %s", err.msg);
    assert_non_null(strstr(err.msg, "t5 block 1"));
    t5_encoder_free(enc);

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
    kern_backend_free(be);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    kern_backend_t be = cpu();
    char dir[600];
    snprintf(dir, sizeof dir, "%s/t5/umt5_a/text_encoder", DF_TEST_DATA);
    t5_encoder_t enc;
    struct df_err err = {0};
    assert_int_equal(t5_encoder_open(dir, be, NULL, &enc, &err), 0);
    int64_t ids[2 * 8] = {5, 6, 1, 0, 0, 0, 0, 0, 7, 96, 1, 0, 0, 0, 0, 0};
    int lens[2] = {3, 3};
    float out[2 * 8 * 32];
    assert_int_equal(t5_encoder_encode(enc, ids, lens, 2, 8, out, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "prompt 2, token index 1: id 96"));
    lens[1] = 9;
    assert_int_equal(t5_encoder_encode(enc, ids, lens, 2, 8, out, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "prompt 2 has 9 tokens"));
    /* An all-padding row gives zeros, and leaves the other row alone. */
    ids[9] = 9;
    lens[1] = 0;
    assert_int_equal(t5_encoder_encode(enc, ids, lens, 2, 8, out, &err), 0);
    for (int i = 8 * 32; i < 2 * 8 * 32; i++)
        assert_true(out[i] == 0.0f);
    assert_true(out[0] != 0.0f);
    t5_encoder_free(enc);
    kern_backend_free(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_bad_folders),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
