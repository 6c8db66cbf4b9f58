/* test_cogvideox.c -- worker/model/cogvideox/ against diffusers' CogVideoXTransformer3DModel.
 *
 * Fixtures (tests/data/cogvideox/<cfg>/, made by
 * tests/fixtures/make_cogvideox_fixtures.py): a diffusers model folder, the
 * inputs and the expected output of one forward, with the positional tables
 * the pipeline would compute.  Every config must match within 1e-4 relative
 * L2 in fp32 (2B sin-cos, 5B RoPE with a half-to-even crop, 1.5 temporal
 * patching + ofs); the forward split in three ranges of the JOINT [text;
 * video] sequence (threads, K/V all-gathered by the hook) must give the same
 * output, whichever range holds the text; bad inputs are refused by name.
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
#include <unistd.h>

#include "cogvideox_config.h"
#include "cogvideox_model.h"
#include "cogvideox_pos.h"
#include "family.h"
#include "kern.h"
#include "safetensors.h"

#define TOL 1e-4

struct fixture {
    char dir[512], tdir[600];
    struct safetensors *in, *exp;
    struct cogvideox_shape shape;
    float timestep, ofs;
    float *hidden, *text;
    size_t out_n;
};

static float *read_all(const struct safetensors *st, const char *name, size_t *n_out)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    if (!t)
        return NULL;
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
    snprintf(f->dir, sizeof f->dir, "%s/cogvideox/%s", DF_TEST_DATA, cfg);
    snprintf(f->tdir, sizeof f->tdir, "%s/transformer", f->dir);
    char path[700];
    struct df_err err = {0};
    snprintf(path, sizeof path, "%s/inputs.safetensors", f->dir);
    assert_int_equal(safetensors_open(path, &f->in, &err), 0);
    snprintf(path, sizeof path, "%s/expected.safetensors", f->dir);
    assert_int_equal(safetensors_open(path, &f->exp, &err), 0);
    const struct safetensors_tensor *hs = safetensors_find(f->in, "hidden_states");
    const struct safetensors_tensor *txt = safetensors_find(f->in, "encoder_hidden_states");
    assert_non_null(hs);
    assert_non_null(txt);
    f->shape.frames = (int)hs->shape[1];
    f->shape.height = (int)hs->shape[3];
    f->shape.width = (int)hs->shape[4];
    f->shape.text_len = (int)txt->shape[1];
    f->hidden = read_all(f->in, "hidden_states", NULL);
    f->text = read_all(f->in, "encoder_hidden_states", NULL);
    float *ts = read_all(f->in, "timestep", NULL), *ofs = read_all(f->in, "ofs", NULL);
    f->timestep = ts[0];
    f->ofs = ofs ? ofs[0] : 0.0f;
    free(ts);
    free(ofs);
    f->out_n = (size_t)safetensors_find(f->exp, "sample")->numel;
}

static void fixture_close(struct fixture *f)
{
    safetensors_close(f->in);
    safetensors_close(f->exp);
    free(f->hidden);
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
    size_t n = 0;
    float *want = read_all(f->exp, name, &n);
    assert_non_null(want);
    double e = rel_l2(got, want, n);
    free(want);
    return e;
}

static kern_backend_t cpu(int threads)
{
    kern_backend_t be;
    struct df_err err = {0};
    if (kern_backend_create("cpu", threads, &be, &err) < 0)
        fail_msg("cpu backend: %s", err.msg);
    return be;
}

static int fixture_names(char names[][64], int cap)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/cogvideox", DF_TEST_DATA);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        char probe[1200];
        snprintf(probe, sizeof probe, "%s/%s/transformer/config.json", dir, e->d_name);
        size_t len = strlen(e->d_name);
        char probe2[1200]; /* a transformer fixture, not a trajectory (sample_*) */
        snprintf(probe2, sizeof probe2, "%s/%s/inputs.safetensors", dir, e->d_name);
        if (e->d_name[0] != '.' && len < 64 && access(probe, R_OK) == 0 &&
            access(probe2, R_OK) == 0)
            memcpy(names[n++], e->d_name, len + 1);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    return n;
}

/* ---------------------------------------------------------------------------
 * Positional tables
 * ------------------------------------------------------------------------- */

static void test_crop_region(void **state)
{
    (void)state;
    int r[4];
    /* 5B at 720x480: the 30x45 grid is the base grid itself. */
    cogvideox_pos_crop_region(30, 45, 45, 30, r);
    assert_int_equal(r[0], 0), assert_int_equal(r[1], 0);
    assert_int_equal(r[2], 30), assert_int_equal(r[3], 45);
    /* (8 - 7) / 2 = 0.5 rounds to 0 (Python), not 1 (C round()). */
    cogvideox_pos_crop_region(3, 5, 8, 4, r);
    assert_int_equal(r[1], 0), assert_int_equal(r[3], 7);
    /* 5/4*2 = 2.5 -> 2; (3 - 2) / 2 = 0.5 -> 0. */
    cogvideox_pos_crop_region(4, 2, 3, 5, r);
    assert_int_equal(r[0], 0), assert_int_equal(r[1], 0);
    assert_int_equal(r[2], 5), assert_int_equal(r[3], 2);
    /* 2.5 -> 2 and 3.5 -> 4 both go to the even side. */
    cogvideox_pos_crop_region(1, 8, 8, 6, r); /* wide: rw = 8, rh = round(1.0) = 1; top = 2.5 */
    assert_int_equal(r[0], 2);
    cogvideox_pos_crop_region(1, 8, 8, 8, r); /* top = round(3.5) = 4 */
    assert_int_equal(r[0], 4);
}

/* RoPE tables against the pipeline's own (stored by the fixture script as
 * the repeat_interleaved [S, D] tensors). */
static void test_rope_tables(void **state)
{
    (void)state;
    const char *cfgs[] = {"5b", "5bc", "15"};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        struct fixture f;
        fixture_open(cfgs[i], &f);
        struct cogvideox_config c;
        struct df_err err = {0};
        char path[700];
        snprintf(path, sizeof path, "%s/config.json", f.tdir);
        assert_int_equal(cogvideox_config_load(path, &c, &err), 0);
        int grid[3];
        long long S = cogvideox_config_grid(&c, f.shape.frames, f.shape.height, f.shape.width,
                                            grid, &err);
        assert_true(S > 0);
        const int half = c.head_dim / 2;
        float *co = malloc((size_t)S * half * sizeof *co), *si = malloc((size_t)S * half * sizeof *si);
        assert_int_equal(cogvideox_pos_rope(&c, grid, 0, S, co, si, &err), 0);
        size_t n = 0;
        float *wc = read_all(f.exp, "rope_cos", &n), *ws = read_all(f.exp, "rope_sin", &n);
        assert_int_equal(n, (size_t)S * c.head_dim);
        double worst = 0;
        for (long long j = 0; j < S; j++)
            for (int k = 0; k < half; k++) {
                worst = fmax(worst, fabs(co[j * half + k] - wc[j * c.head_dim + 2 * k]));
                worst = fmax(worst, fabs(si[j * half + k] - ws[j * c.head_dim + 2 * k + 1]));
            }
        printf("cogvideox %s: RoPE tables max |diff| %.2e over %lld tokens\n", cfgs[i], worst, S);
        assert_true(worst < 1e-6);
        free(co), free(si), free(wc), free(ws);
        fixture_close(&f);
    }
}

/* ---------------------------------------------------------------------------
 * Parity with diffusers
 * ------------------------------------------------------------------------- */

static void check_config(const char *cfg)
{
    struct fixture f;
    fixture_open(cfg, &f);
    kern_backend_t be = cpu(0);
    struct cogvideox_model *m;
    struct df_err err = {0};
    if (cogvideox_model_load(be, f.tdir, &m, &err) < 0)
        fail_msg("load %s: %s", f.tdir, err.msg);
    if (cogvideox_model_reserve(m, &f.shape, &err) < 0)
        fail_msg("reserve: %s", err.msg);
    float *out = calloc(f.out_n, sizeof *out);
    assert_non_null(out);
    if (cogvideox_model_forward(m, &f.shape, f.hidden, f.timestep, f.ofs, f.text, out, &err) < 0)
        fail_msg("forward: %s", err.msg);
    const struct cogvideox_config *c = cogvideox_model_config(m);
    /* emb = time_embedding(t) + ofs_embedding(ofs) where the model has one. */
    size_t ne = 0;
    float *want_emb = read_all(f.exp, "emb", &ne), *ofs_emb = read_all(f.exp, "ofs_emb", NULL);
    for (size_t i = 0; ofs_emb && i < ne; i++)
        want_emb[i] += ofs_emb[i];
    double e_emb = rel_l2(cogvideox_model_emb(m), want_emb, ne);
    free(want_emb), free(ofs_emb);
    int64_t rows;
    float *hidden = cogvideox_model_hidden(m, &rows);
    const size_t nh = (size_t)rows * c->dim, L = (size_t)f.shape.text_len * c->dim;
    float *h = malloc(nh * sizeof *h);
    assert_non_null(h);
    assert_int_equal(kern_download(be, h, hidden, nh, &err), 0);
    double e_blocks = rel_l2_expected(&f, "blocks_out", h + L); /* video stream */
    double e_out = rel_l2_expected(&f, "sample", out);
    printf("cogvideox fixture %s: %d layers, %d heads x %d, %s, patch %d/%d, latent %dx%dx%d, "
           "text %d: rel L2 emb %.2e, blocks %.2e, output %.2e\n",
           cfg, c->num_layers, c->num_heads, c->head_dim,
           c->pos == COGVIDEOX_POS_ROPE ? "rope" : "sincos", c->patch, c->patch_t, f.shape.frames,
           f.shape.height, f.shape.width, f.shape.text_len, e_emb, e_blocks, e_out);
    assert_true(e_emb < TOL);
    assert_true(e_blocks < TOL);
    assert_true(e_out < TOL);
    free(h);
    free(out);
    cogvideox_model_free(m);
    kern_backend_free(be);
    fixture_close(&f);
}

static void test_parity_all_fixtures(void **state)
{
    (void)state;
    char names[64][64];
    int n = fixture_names(names, 64);
    assert_true(n >= 5); /* 2b, 2bx, 5b, 5bc, 15 */
    for (int i = 0; i < n; i++)
        check_config(names[i]);
}

/* ---------------------------------------------------------------------------
 * Ranges of the joint sequence: three "ranks" as threads
 * ------------------------------------------------------------------------- */

#define RANKS 3

struct gather {
    pthread_barrier_t bar;
    float *k, *v; /* host [N, d] */
    int64_t seq;
};

struct rank {
    struct gather *g;
    const struct fixture *f;
    int64_t begin, count;
    float *out;
    float *kd, *vd;
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
    pthread_barrier_wait(&g->bar);
    DF_TRY(kern_upload(be, r->kd, g->k, (size_t)g->seq * d, err));
    DF_TRY(kern_upload(be, r->vd, g->v, (size_t)g->seq * d, err));
    pthread_barrier_wait(&g->bar);
    return kern_attention(be, q, r->kd, r->vd, o, NULL, (int)s, (int)g->seq, heads, head_dim,
                          (int)g->seq, 1.0f / sqrtf((float)head_dim), err);
}

static void *rank_main(void *arg)
{
    struct rank *r = arg;
    struct df_err err = {0};
    kern_backend_t be = NULL;
    struct cogvideox_model *m = NULL;
    r->rc = kern_backend_create("cpu", 1, &be, &err);
    if (r->rc == 0)
        r->rc = cogvideox_model_load(be, r->f->tdir, &m, &err);
    struct cogvideox_shape sh = r->f->shape;
    sh.tok_begin = r->begin;
    sh.tok_count = r->count;
    if (r->rc == 0)
        r->rc = cogvideox_model_reserve(m, &sh, &err);
    if (r->rc == 0) {
        size_t full = (size_t)r->g->seq * cogvideox_model_config(m)->dim;
        r->kd = kern_alloc(be, full, &err);
        r->vd = kern_alloc(be, full, &err);
        r->rc = r->kd && r->vd ? 0 : DF_E_NOMEM;
    }
    struct cogvideox_attn_hook hook = {attend_gather, r};
    if (r->rc == 0) {
        cogvideox_model_set_attn_hook(m, &hook);
        r->rc = cogvideox_model_forward(m, &sh, r->f->hidden, r->f->timestep, r->f->ofs,
                                        r->f->text, r->out, &err);
    }
    snprintf(r->msg, sizeof r->msg, "%s", err.msg);
    if (r->rc < 0) {
        fprintf(stderr, "rank failed: %s\n", r->msg);
        abort(); /* the others would wait at the barrier forever */
    }
    kern_release(be, r->kd);
    kern_release(be, r->vd);
    cogvideox_model_free(m);
    kern_backend_free(be);
    return NULL;
}

/* Cuts at c1, c2: the text/video boundary may fall inside any range. */
static void check_ranges(const char *cfg, int64_t c1, int64_t c2)
{
    struct fixture f;
    fixture_open(cfg, &f);
    struct df_err err = {0};
    struct cogvideox_config c;
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", f.tdir);
    assert_int_equal(cogvideox_config_load(path, &c, &err), 0);
    long long N = cogvideox_model_seq_len(&c, &f.shape, &err);
    assert_true(N > c2 && c2 > c1 && c1 > 0);
    struct gather g = {.seq = N};
    g.k = malloc((size_t)N * c.dim * sizeof(float));
    g.v = malloc((size_t)N * c.dim * sizeof(float));
    pthread_barrier_init(&g.bar, NULL, RANKS);
    float *out = calloc(f.out_n, sizeof *out);
    int64_t cut[RANKS + 1] = {0, c1, c2, N};
    struct rank r[RANKS];
    pthread_t th[RANKS];
    for (int i = 0; i < RANKS; i++) {
        r[i] = (struct rank){.g = &g, .f = &f, .begin = cut[i], .count = cut[i + 1] - cut[i],
                             .out = out};
        assert_int_equal(pthread_create(&th[i], NULL, rank_main, &r[i]), 0);
    }
    for (int i = 0; i < RANKS; i++)
        pthread_join(th[i], NULL);
    double e = rel_l2_expected(&f, "sample", out);
    printf("cogvideox fixture %s in ranges [0,%lld,%lld,%lld) (text %d): rel L2 output %.2e\n",
           cfg, (long long)c1, (long long)c2, N, f.shape.text_len, e);
    assert_true(e < TOL);
    pthread_barrier_destroy(&g.bar);
    free(out), free(g.k), free(g.v);
    fixture_close(&f);
}

static void test_ranges(void **state)
{
    (void)state;
    check_ranges("5b", 4, 31);  /* text split across ranks 0 and 1 */
    check_ranges("2b", 9, 40);  /* rank 0 text + 2 video tokens */
    check_ranges("15", 7, 20);  /* rank 0 exactly the text */
}

/* ---------------------------------------------------------------------------
 * Refusals
 * ------------------------------------------------------------------------- */

static void test_refusals(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open("15", &f);
    kern_backend_t be = cpu(1);
    struct cogvideox_model *m;
    struct df_err err = {0};
    assert_int_equal(cogvideox_model_load(be, f.tdir, &m, &err), 0);
    struct cogvideox_shape sh = f.shape;
    sh.frames = 3; /* not a multiple of patch_size_t 2 */
    assert_int_equal(cogvideox_model_reserve(m, &sh, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "frames 3"));
    sh = f.shape;
    sh.height = 10; /* grid 5 > trained 4 */
    assert_int_equal(cogvideox_model_reserve(m, &sh, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "larger than the model"));
    sh = f.shape;
    sh.tok_begin = 2, sh.tok_count = 5;
    assert_int_equal(cogvideox_model_reserve(m, &sh, &err), 0);
    float *out = calloc(f.out_n, sizeof *out);
    assert_int_equal(cogvideox_model_forward(m, &sh, f.hidden, f.timestep, f.ofs, f.text, out,
                                             &err),
                     DF_E_INVAL);
    assert_non_null(strstr(err.msg, "needs an attention hook"));
    free(out);
    cogvideox_model_free(m);
    fixture_close(&f);

    /* 2B: the sin-cos table fixes the text length. */
    fixture_open("2b", &f);
    assert_int_equal(cogvideox_model_load(be, f.tdir, &m, &err), 0);
    sh = f.shape;
    sh.text_len = 3;
    assert_int_equal(cogvideox_model_reserve(m, &sh, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "max_text_seq_length"));
    cogvideox_model_free(m);
    fixture_close(&f);

    /* A Wan config is not a CogVideoX one. */
    char path[700];
    struct cogvideox_config c;
    snprintf(path, sizeof path, "%s/wan/a/transformer/config.json", DF_TEST_DATA);
    assert_int_equal(cogvideox_config_load(path, &c, &err), DF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "WanTransformer3DModel"));
    /* Weights of another config: num_layers disagrees. */
    snprintf(path, sizeof path, "%s/cogvideox/2bx/transformer", DF_TEST_DATA);
    char tmp[] = "/tmp/df_cogvideox_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cp %s/diffusion_pytorch_model.safetensors %s/ && "
             "sed 's/\"num_layers\": 1/\"num_layers\": 2/' %s/config.json > %s/config.json",
             path, tmp, path, tmp);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cogvideox_model_load(be, tmp, &m, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "num_layers is 2"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    assert_int_equal(system(cmd), 0);
    kern_backend_free(be);
}

/* The family registry runs CogVideoX like any family: joint tokens, TCHW. */
static void test_family(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open("15", &f);
    kern_backend_t be = cpu(0);
    family_model_t *fm;
    struct df_err err = {0};
    if (family_load(be, f.dir, &fm, &err) < 0)
        fail_msg("%s", err.msg);
    struct family_info fi;
    family_info(fm, &fi);
    assert_string_equal(fi.name, "cogvideox");
    assert_int_equal(fi.layout, FAMILY_LAYOUT_TCHW);
    assert_int_equal(fi.text_in_sequence, 1);
    assert_int_equal(fi.patch[0], 2);
    struct family_shape sh = {.frames = f.shape.frames, .height = f.shape.height,
                              .width = f.shape.width, .text_len = f.shape.text_len, .ofs = f.ofs};
    assert_int_equal(family_tokens(fm, &sh, &err), 7 + 2 * 3 * 4);
    assert_int_equal(family_reserve(fm, &sh, &err), 0);
    float *out = calloc(f.out_n, sizeof *out);
    assert_int_equal(family_forward(fm, &sh, f.hidden, f.timestep, f.text, out, &err), 0);
    const double e = rel_l2_expected(&f, "sample", out);
    printf("cogvideox through family.h: rel L2 %.2e\n", e);
    assert_true(e < TOL);
    free(out);
    family_free(fm);
    kern_backend_free(be);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crop_region),
        cmocka_unit_test(test_rope_tables),
        cmocka_unit_test(test_parity_all_fixtures),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
