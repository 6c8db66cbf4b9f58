/* test_wan_model.c -- worker/model/wan/wan_model.c against diffusers' WanTransformer3DModel.
 *
 * Fixtures (tests/data/wan/<cfg>/, made by tests/fixtures/make_wan_fixtures.py)
 * hold a diffusers model folder, the inputs and the expected output of one
 * forward.  Every config must match within 1e-4 relative L2 in fp32; a
 * forward split in three token ranges (three "ranks" as threads, with an
 * attention hook that all-gathers K/V) must give the same output; missing
 * and mis-shaped tensors must be reported by name and shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kern.h"
#include "safetensors.h"
#include "wan_config.h"
#include "wan_model.h"
#include "wan_synth.h"

#define TOL 1e-4

struct fixture {
    char dir[512];        /* tests/data/wan/<cfg> */
    char tdir[600];       /* .../transformer */
    struct safetensors *in, *exp;
    struct wan_shape shape;
    float timestep;
    float *latent, *text; /* host copies */
    const struct safetensors_tensor *sample;
    size_t out_n;
};

static float *read_all(const struct safetensors *st, const char *name, size_t *n_out)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    assert_non_null(t);
    float *buf = malloc((size_t)t->numel * sizeof *buf);
    assert_non_null(buf);
    struct df_err err = {0};
    assert_int_equal(safetensors_to_f32(t, buf, (size_t)t->numel, &err), 0);
    if (n_out)
        *n_out = (size_t)t->numel;
    return buf;
}

static void fixture_open(const char *cfg, struct fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/wan/%s", DF_TEST_DATA, cfg);
    snprintf(f->tdir, sizeof f->tdir, "%s/transformer", f->dir);
    char path[700];
    struct df_err err = {0};
    snprintf(path, sizeof path, "%s/inputs.safetensors", f->dir);
    assert_int_equal(safetensors_open(path, &f->in, &err), 0);
    snprintf(path, sizeof path, "%s/expected.safetensors", f->dir);
    assert_int_equal(safetensors_open(path, &f->exp, &err), 0);
    const struct safetensors_tensor *lat = safetensors_find(f->in, "latent");
    const struct safetensors_tensor *txt = safetensors_find(f->in, "encoder_hidden_states");
    assert_non_null(lat);
    assert_non_null(txt);
    f->shape.frames = (int)lat->shape[2];
    f->shape.height = (int)lat->shape[3];
    f->shape.width = (int)lat->shape[4];
    f->shape.text_len = (int)txt->shape[1];
    f->latent = read_all(f->in, "latent", NULL);
    f->text = read_all(f->in, "encoder_hidden_states", NULL);
    float *ts = read_all(f->in, "timestep", NULL);
    f->timestep = ts[0];
    free(ts);
    f->sample = safetensors_find(f->exp, "sample");
    assert_non_null(f->sample);
    f->out_n = (size_t)f->sample->numel;
}

static void fixture_close(struct fixture *f)
{
    safetensors_close(f->in);
    safetensors_close(f->exp);
    free(f->latent);
    free(f->text);
}

static double rel_l2(const float *got, const float *want, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)got[i] - want[i];
        num += e * e;
        den += (double)want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static double rel_l2_expected(const struct fixture *f, const char *name, const float *got)
{
    size_t n;
    float *want = read_all(f->exp, name, &n);
    double e = rel_l2(got, want, n);
    free(want);
    return e;
}

static kern_backend_t cpu(int threads)
{
    kern_backend_t be;
    struct df_err err = {0};
    int rc = kern_backend_create("cpu", threads, &be, &err);
    if (rc < 0)
        fail_msg("cpu backend: %s", err.msg);
    return be;
}

/* ---------------------------------------------------------------------------
 * Parity with diffusers
 * ------------------------------------------------------------------------- */

/* Forward fixture `cfg` on backend `be` and compare within `tol`. */
static void check_config_on(const char *cfg, kern_backend_t be, double tol)
{
    struct fixture f;
    fixture_open(cfg, &f);
    struct wan_model *m;
    struct df_err err = {0};
    if (wan_model_load(be, f.tdir, &m, &err) < 0)
        fail_msg("load %s: %s", f.tdir, err.msg);
    if (wan_model_reserve(m, &f.shape, &err) < 0)
        fail_msg("reserve: %s", err.msg);
    float *out = calloc(f.out_n, sizeof *out);
    assert_non_null(out);
    if (wan_model_forward(m, &f.shape, f.latent, f.timestep, f.text, out, &err) < 0)
        fail_msg("forward: %s", err.msg);

    const struct wan_config *c = wan_model_config(m);
    double e_temb = rel_l2_expected(&f, "temb", wan_model_temb(m));
    double e_proj = rel_l2_expected(&f, "timestep_proj", wan_model_timestep_proj(m));
    int64_t rows;
    float *hidden = wan_model_hidden(m, &rows);
    size_t nh = (size_t)rows * c->dim;
    float *h = malloc(nh * sizeof *h);
    assert_non_null(h);
    assert_int_equal(kern_download(be, h, hidden, nh, &err), 0);
    double e_blocks = rel_l2_expected(&f, "blocks_out", h);
    double e_out = rel_l2_expected(&f, "sample", out);
    printf("wan fixture %s (%s): %d layers, %d heads x %d, patch %d,%d,%d, latent %dx%dx%d, "
           "%lld tokens: rel L2 temb %.2e, timestep_proj %.2e, blocks %.2e, output %.2e\n",
           cfg, kern_backend_name(be), c->num_layers, c->num_heads, c->head_dim, c->patch[0], c->patch[1], c->patch[2],
           f.shape.frames, f.shape.height, f.shape.width, (long long)rows, e_temb, e_proj,
           e_blocks, e_out);
    assert_true(e_temb < tol);
    assert_true(e_proj < tol);
    assert_true(e_blocks < tol);
    assert_true(e_out < tol);

    /* embed/blocks/head composed by hand gives the identical result. */
    float *out2 = calloc(f.out_n, sizeof *out2);
    assert_non_null(out2);
    assert_int_equal(wan_model_embed(m, &f.shape, f.latent, f.timestep, f.text, &err), 0);
    assert_int_equal(wan_model_blocks(m, &err), 0);
    assert_int_equal(wan_model_head(m, out2, &err), 0);
    assert_memory_equal(out, out2, f.out_n * sizeof *out);

    free(out2);
    free(h);
    free(out);
    wan_model_free(m);
    fixture_close(&f);
}

static void check_config(const char *cfg)
{
    kern_backend_t be = cpu(0);
    check_config_on(cfg, be, TOL);
    kern_backend_free(be);
}

/* Every fixture folder under tests/data/wan/ (a config added by
 * make_wan_fixtures.py is picked up without touching this file); the four
 * committed ones must all be there. */
static int fixture_names(char names[][64], int cap)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/wan", DF_TEST_DATA);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        char probe[1200];
        snprintf(probe, sizeof probe, "%s/%s/expected.safetensors", dir, e->d_name);
        size_t len = strlen(e->d_name);
        if (e->d_name[0] != '.' && len < 64 && access(probe, R_OK) == 0)
            memcpy(names[n++], e->d_name, len + 1);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    return n;
}

/* The CUDA backend stores weights as bf16, so it is held to bf16 accuracy;
 * skipped where no CUDA device (or no CUDA build) is present. */
static void test_parity_cuda(void **state)
{
    (void)state;
    kern_backend_t be;
    struct df_err err = {0};
    if (kern_backend_create("cuda", 0, &be, &err) < 0) {
        printf("cuda backend unavailable (%s): skipped\n", err.msg);
        skip();
    }
    char names[64][64];
    int n = fixture_names(names, 64);
    for (int i = 0; i < n; i++)
        check_config_on(names[i], be, 3e-2);
    kern_backend_free(be);
}

static void test_parity_all_fixtures(void **state)
{
    (void)state;
    char names[64][64];
    int n = fixture_names(names, 64);
    assert_true(n >= 4); /* a: F32, b: BF16, c: F16 + patch 2,2,2, d: sharded + patch 1,1,1 */
    for (int i = 0; i < n; i++)
        check_config(names[i]);
}

/* ---------------------------------------------------------------------------
 * Token ranges: three "ranks" as threads, K/V all-gathered through a hook
 * ------------------------------------------------------------------------- */

#define RANKS 3

struct gather {
    pthread_barrier_t bar;
    float *k, *v; /* host [S, d] */
    int64_t seq;
};

struct rank {
    struct gather *g;
    const struct fixture *f;
    int64_t begin, count;
    float *out;     /* shared output, disjoint positions per rank */
    float *kd, *vd; /* this rank's backend copies of the full K/V */
    int rc;
    char msg[DF_ERR_MSG_CAP];
};

static int attend_gather(void *ctx, kern_backend_t be, int layer, const float *q, const float *k,
                         const float *v, float *o, int64_t s, int heads, int head_dim,
                         struct df_err *err)
{
    (void)layer;
    struct rank *r = ctx;
    struct gather *g = r->g;
    const size_t d = (size_t)heads * head_dim;
    DF_TRY(kern_download(be, g->k + r->begin * d, k, (size_t)s * d, err));
    DF_TRY(kern_download(be, g->v + r->begin * d, v, (size_t)s * d, err));
    pthread_barrier_wait(&g->bar); /* every rank's slice is in place */
    DF_TRY(kern_upload(be, r->kd, g->k, (size_t)g->seq * d, err));
    DF_TRY(kern_upload(be, r->vd, g->v, (size_t)g->seq * d, err));
    pthread_barrier_wait(&g->bar); /* everyone copied: the next layer may overwrite */
    return kern_attention(be, q, r->kd, r->vd, o, NULL, (int)s, (int)g->seq, heads, head_dim,
                          (int)g->seq, 1.0f / sqrtf((float)head_dim), err);
}

static void *rank_main(void *arg)
{
    struct rank *r = arg;
    struct df_err err = {0};
    kern_backend_t be = NULL;
    struct wan_model *m = NULL;
    r->rc = kern_backend_create("cpu", 1, &be, &err);
    if (r->rc == 0)
        r->rc = wan_model_load(be, r->f->tdir, &m, &err);
    struct wan_shape sh = r->f->shape;
    sh.tok_begin = r->begin;
    sh.tok_count = r->count;
    if (r->rc == 0)
        r->rc = wan_model_reserve(m, &sh, &err);
    size_t full = (size_t)r->g->seq * wan_model_config(m)->dim;
    if (r->rc == 0) {
        r->kd = kern_alloc(be, full, &err);
        r->vd = kern_alloc(be, full, &err);
        r->rc = r->kd && r->vd ? 0 : DF_E_NOMEM;
    }
    struct wan_attn_hook hook = {attend_gather, r};
    if (r->rc == 0) {
        wan_model_set_attn_hook(m, &hook);
        r->rc = wan_model_forward(m, &sh, r->f->latent, r->f->timestep, r->f->text, r->out, &err);
    }
    snprintf(r->msg, sizeof r->msg, "%s", err.msg);
    if (r->rc < 0) /* a failed rank would leave the others waiting at the barrier */
        abort();
    kern_release(be, r->kd);
    kern_release(be, r->vd);
    wan_model_free(m);
    kern_backend_free(be);
    return NULL;
}

static void check_ranges(const char *cfg)
{
    struct fixture f;
    fixture_open(cfg, &f);
    struct df_err err = {0};
    struct wan_config c;
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", f.tdir);
    assert_int_equal(wan_config_load(path, &c, &err), 0);
    long long S = wan_config_tokens(&c, f.shape.frames, f.shape.height, f.shape.width, &err);
    if (S < RANKS + 1) { /* too short to cut in three non-empty ranges */
        fixture_close(&f);
        return;
    }

    struct gather g = {.seq = S};
    g.k = malloc((size_t)S * c.dim * sizeof(float));
    g.v = malloc((size_t)S * c.dim * sizeof(float));
    assert_non_null(g.k);
    assert_non_null(g.v);
    pthread_barrier_init(&g.bar, NULL, RANKS);
    float *out = calloc(f.out_n, sizeof *out);
    assert_non_null(out);
    /* Uneven ranges, none aligned to a frame or row: RoPE must use global
     * positions. */
    int64_t c1 = S / 3 + 1, c2 = (2 * S) / 3 - 1;
    if (c2 <= c1)
        c2 = c1 + 1;
    int64_t cut[RANKS + 1] = {0, c1, c2, S};
    struct rank r[RANKS];
    pthread_t th[RANKS];
    for (int i = 0; i < RANKS; i++) {
        r[i] = (struct rank){.g = &g, .f = &f, .begin = cut[i], .count = cut[i + 1] - cut[i],
                             .out = out};
        assert_int_equal(pthread_create(&th[i], NULL, rank_main, &r[i]), 0);
    }
    for (int i = 0; i < RANKS; i++) {
        pthread_join(th[i], NULL);
        if (r[i].rc < 0)
            fail_msg("rank %d: %s", i, r[i].msg);
    }
    double e = rel_l2_expected(&f, "sample", out);
    printf("wan fixture %s in %d token ranges [%lld,%lld,%lld,%lld): rel L2 output %.2e\n", cfg,
           RANKS, (long long)cut[0], (long long)cut[1], (long long)cut[2], (long long)cut[3], e);
    assert_true(e < TOL);

    /* A range with the default (local) hook is refused, not silently wrong. */
    kern_backend_t be = cpu(1);
    struct wan_model *m;
    assert_int_equal(wan_model_load(be, f.tdir, &m, &err), 0);
    struct wan_shape sh = f.shape;
    sh.tok_begin = 1;
    sh.tok_count = 2;
    assert_int_equal(wan_model_reserve(m, &sh, &err), 0);
    assert_int_equal(wan_model_forward(m, &sh, f.latent, f.timestep, f.text, out, &err),
                     DF_E_INVAL);
    assert_non_null(strstr(err.msg, "needs an attention hook"));
    wan_model_free(m);
    kern_backend_free(be);

    pthread_barrier_destroy(&g.bar);
    free(out);
    free(g.k);
    free(g.v);
    fixture_close(&f);
}

static void test_ranges_all_fixtures(void **state)
{
    (void)state;
    char names[64][64];
    int n = fixture_names(names, 64);
    for (int i = 0; i < n; i++)
        check_ranges(names[i]);
}

/* ---------------------------------------------------------------------------
 * Bad weights and configs
 * ------------------------------------------------------------------------- */

/* Copy fixture a's folder into tmp with one tensor dropped or reshaped. */
static void write_variant(const char *tmpdir, const char *drop, const char *reshape)
{
    char src[700], dst[700];
    snprintf(src, sizeof src, "%s/wan/a/transformer/diffusion_pytorch_model.safetensors",
             DF_TEST_DATA);
    struct safetensors *st;
    struct df_err err = {0};
    assert_int_equal(safetensors_open(src, &st, &err), 0);
    int n = safetensors_count(st);
    struct safetensors_entry *e = calloc((size_t)n, sizeof *e);
    float **bufs = calloc((size_t)n, sizeof *bufs);
    int k = 0;
    for (int i = 0; i < n; i++) {
        const struct safetensors_tensor *t = safetensors_at(st, i);
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        bufs[k] = read_all(st, t->name, NULL);
        e[k] = (struct safetensors_entry){.name = t->name, .dtype = SAFETENSORS_DTYPE_F32,
                                          .ndim = t->ndim, .data = bufs[k]};
        memcpy(e[k].shape, t->shape, sizeof t->shape);
        if (reshape && strcmp(t->name, reshape) == 0) { /* [d, d] -> [2d, d/2] */
            e[k].shape[0] *= 2;
            e[k].shape[1] /= 2;
        }
        k++;
    }
    snprintf(dst, sizeof dst, "%s/diffusion_pytorch_model.safetensors", tmpdir);
    assert_int_equal(safetensors_write(dst, e, k, NULL, 0, &err), 0);
    for (int i = 0; i < k; i++)
        free(bufs[i]);
    free(bufs);
    free(e);
    safetensors_close(st);
    char cfg_src[700], cfg_dst[700], cmd[1600];
    snprintf(cfg_src, sizeof cfg_src, "%s/wan/a/transformer/config.json", DF_TEST_DATA);
    snprintf(cfg_dst, sizeof cfg_dst, "%s/config.json", tmpdir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", cfg_src, cfg_dst);
    assert_int_equal(system(cmd), 0);
}

static void test_missing_and_misshaped_tensor(void **state)
{
    (void)state;
    char tmp[] = "/tmp/test_wan_model.XXXXXX";
    assert_non_null(mkdtemp(tmp));
    kern_backend_t be = cpu(1);
    struct wan_model *m = NULL;
    struct df_err err = {0};
    char want[1200];

    write_variant(tmp, "blocks.1.attn2.norm_k.weight", NULL);
    assert_int_equal(wan_model_load(be, tmp, &m, &err), DF_E_NOTFOUND);
    snprintf(want, sizeof want,
             "%s/diffusion_pytorch_model.safetensors: tensor 'blocks.1.attn2.norm_k.weight' not "
             "found",
             tmp);
    assert_string_equal(err.msg, want);
    assert_null(m);

    write_variant(tmp, NULL, "blocks.1.attn1.to_q.weight");
    assert_int_equal(wan_model_load(be, tmp, &m, &err), DF_E_INVAL);
    snprintf(want, sizeof want,
             "%s/diffusion_pytorch_model.safetensors: tensor 'blocks.1.attn1.to_q.weight' has "
             "shape [64, 16], expected [32, 32]",
             tmp);
    assert_string_equal(err.msg, want);

    /* A whole block missing: the config/weights cross-check names the count. */
    write_variant(tmp, NULL, NULL);
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config.json", tmp);
    FILE *fp = fopen(cfg, "w");
    assert_non_null(fp);
    fputs("{\"_class_name\": \"WanTransformer3DModel\", \"num_layers\": 3, "
          "\"num_attention_heads\": 2, \"attention_head_dim\": 16, \"ffn_dim\": 64, "
          "\"in_channels\": 16, \"out_channels\": 16, \"text_dim\": 32, \"freq_dim\": 32, "
          "\"patch_size\": [1, 2, 2]}\n",
          fp);
    fclose(fp);
    assert_int_equal(wan_model_load(be, tmp, &m, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "weights have 2 transformer blocks"));
    assert_non_null(strstr(err.msg, "num_layers is 3"));

    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
    kern_backend_free(be);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_config_errors(void **state)
{
    (void)state;
    char path[] = "/tmp/test_wan_config.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct wan_config c;
    struct df_err err = {0};

    write_text(path, "{\"num_layers\": 2, \"image_dim\": 1280}");
    assert_int_equal(wan_config_load(path, &c, &err), DF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'image_dim'"));

    write_text(path, "{\"num_layers\": 2,\n \"attention_head_dim\": }");
    assert_int_equal(wan_config_load(path, &c, &err), DF_E_PARSE);
    assert_non_null(strstr(err.msg, ":2:"));

    write_text(path, "{\"attention_head_dim\": 5}");
    assert_int_equal(wan_config_load(path, &c, &err), DF_E_RANGE);
    assert_non_null(strstr(err.msg, "attention_head_dim"));

    write_text(path, "{\"num_layers\": \"two\"}");
    assert_int_equal(wan_config_load(path, &c, &err), DF_E_PARSE);
    assert_non_null(strstr(err.msg, "'num_layers' must be an integer"));

    write_text(path, "{\"_class_name\": \"CogVideoXTransformer3DModel\"}");
    assert_int_equal(wan_config_load(path, &c, &err), DF_E_UNSUPPORTED);

    /* Defaults are diffusers' (the 14B model); out_channels null -> in. */
    write_text(path, "{\"out_channels\": null, \"in_channels\": 36}");
    assert_int_equal(wan_config_load(path, &c, &err), 0);
    assert_int_equal(c.num_layers, 40);
    assert_int_equal(c.dim, 5120);
    assert_int_equal(c.out_channels, 36);
    assert_int_equal(c.rope_dims[0], 44);
    assert_int_equal(c.rope_dims[1], 42);
    assert_int_equal(c.rope_dims[2], 42);
    assert_true(c.cross_attn_norm);

    /* Token count: multiples of the patch only. */
    c.patch[0] = 1, c.patch[1] = 2, c.patch[2] = 2;
    assert_int_equal(wan_config_tokens(&c, 21, 60, 104, &err), 21 * 30 * 52);
    assert_int_equal(wan_config_tokens(&c, 21, 61, 104, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "height 61"));
    unlink(path);
}

/* ---------------------------------------------------------------------------
 * The synthetic demo model: same weights in memory and on disk
 * ------------------------------------------------------------------------- */

static void test_tiny_synth(void **state)
{
    (void)state;
    char tmp[] = "/tmp/test_wan_tiny.XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char cmd[1200], cfg_path[700];
    snprintf(cmd, sizeof cmd, "cp '%s/configs/models/tiny/transformer/config.json' '%s/'",
             DF_SOURCE_DIR, tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", tmp);
    struct df_err err = {0};
    struct wan_config c;
    assert_int_equal(wan_config_load(cfg_path, &c, &err), 0);
    assert_int_equal(c.dim, 64); /* configs/models/tiny.yaml geometry */
    assert_int_equal(c.num_layers, 2);
    assert_int_equal(c.text_dim, 64);
    assert_int_equal(wan_synth_write(tmp, 7, &err), 0);

    kern_backend_t be = cpu(0);
    struct wan_synth ws = {.seed = 7};
    struct wan_tensor_source src = {wan_synth_read, &ws};
    struct wan_model *mem, *disk;
    assert_int_equal(wan_model_create(be, &c, &src, &mem, &err), 0);
    if (wan_model_load(be, tmp, &disk, &err) < 0)
        fail_msg("%s", err.msg);
    struct wan_shape sh = {.frames = 2, .height = 6, .width = 8, .text_len = 16};
    assert_int_equal(wan_model_reserve(mem, &sh, &err), 0);
    assert_int_equal(wan_model_reserve(disk, &sh, &err), 0);
    size_t n = (size_t)16 * 2 * 6 * 8;
    float *lat = malloc(n * sizeof *lat), *text = malloc(16 * 64 * sizeof *text);
    float *o1 = calloc(n, sizeof *o1), *o2 = calloc(n, sizeof *o2);
    for (size_t i = 0; i < n; i++)
        lat[i] = sinf((float)i * 0.37f);
    for (int i = 0; i < 16 * 64; i++)
        text[i] = cosf((float)i * 0.11f);
    assert_int_equal(wan_model_forward(mem, &sh, lat, 900.0f, text, o1, &err), 0);
    assert_int_equal(wan_model_forward(disk, &sh, lat, 900.0f, text, o2, &err), 0);
    assert_memory_equal(o1, o2, n * sizeof *o1);
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(isfinite(o1[i]));
        ss += (double)o1[i] * o1[i];
    }
    double rms = sqrt(ss / (double)n);
    assert_true(rms > 0.05 && rms < 20.0); /* a live network, not zeros or blow-up */

    /* Too large for the reservation: refused, not overrun. */
    struct wan_shape big = sh;
    big.frames = 4;
    assert_int_equal(wan_model_forward(mem, &big, lat, 900.0f, text, o1, &err), DF_E_RANGE);
    assert_non_null(strstr(err.msg, "exceeds wan_model_reserve()"));

    free(lat), free(text), free(o1), free(o2);
    wan_model_free(mem);
    wan_model_free(disk);
    kern_backend_free(be);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_all_fixtures),
        cmocka_unit_test(test_parity_cuda),
        cmocka_unit_test(test_ranges_all_fixtures),
        cmocka_unit_test(test_missing_and_misshaped_tensor),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_tiny_synth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
