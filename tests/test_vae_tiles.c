/* test_vae_tiles.c -- worker/vae/vae_tiles.c: the tile plan, and the tiled decode
 * on one rank against diffusers' tiled_decode (fixture `tiled` from
 * tests/fixtures/make_vae_fixtures.py, on config c's VAE).  Several ranks
 * are checked under mpirun by tests/integration/vae_tiles_mpirun.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "kern.h"
#include "safetensors.h"
#include "vae.h"
#include "vae_tiles.h"

struct collect {
    float *out; /* [3, F, H, W] like diffusers' sample */
    int frames, height, width;
    int seen;
};

static int on_frame(void *user, int index, const float *rgb, int height, int width,
                    struct df_err *err)
{
    struct collect *c = user;
    if (index != c->seen || height != c->height || width != c->width || index >= c->frames)
        return df_err_set(err, DF_E_INTERNAL, "unexpected frame %d (%dx%d)", index, height, width);
    size_t hw = (size_t)height * width;
    for (int ch = 0; ch < 3; ch++)
        memcpy(c->out + ((size_t)ch * c->frames + index) * hw, rgb + ch * hw, hw * sizeof(float));
    c->seen++;
    return 0;
}

static float *read_tensor(const struct safetensors *st, const char *name,
                          const struct safetensors_tensor **out)
{
    struct df_err err = {0};
    const struct safetensors_tensor *t = safetensors_find(st, name);
    assert_non_null(t);
    float *buf = malloc((size_t)t->numel * sizeof(float));
    assert_int_equal(safetensors_to_f32(t, buf, (size_t)t->numel, &err), 0);
    *out = t;
    return buf;
}

static void test_plan(void **state)
{
    (void)state;
    struct df_err err = {0};
    struct vae_tile_plan p;
    struct vae_tile_opts o = {.tile_h = 4, .tile_w = 5, .stride_h = 2, .stride_w = 3};
    assert_int_equal(vae_tiles_plan(&o, 7, 11, &p, &err), 0);
    assert_true(p.tiled);
    assert_int_equal(p.n_rows, 4); /* rows start at 0, 2, 4, 6 */
    assert_int_equal(p.n_cols, 4); /* cols at 0, 3, 6, 9 */
    assert_int_equal(p.n_tiles, 16);
    struct vae_tile t = vae_tiles_get(&p, 15);
    assert_int_equal(t.row, 3);
    assert_int_equal(t.col, 3);
    assert_int_equal(t.y0, 6);
    assert_int_equal(t.x0, 9);
    assert_int_equal(t.h, 1); /* clipped at the edges */
    assert_int_equal(t.w, 2);
    t = vae_tiles_get(&p, 5);
    assert_int_equal(t.y0, 2);
    assert_int_equal(t.x0, 3);
    assert_int_equal(t.h, 4);
    assert_int_equal(t.w, 5);
    assert_int_equal(vae_tiles_owner(5, 3), 2);

    /* diffusers' defaults: a 480x832 video (60x104 latent) is 3 x 5 tiles */
    struct vae_tile_opts d = vae_tile_opts_default();
    assert_int_equal(vae_tiles_plan(&d, 60, 104, &p, &err), 0);
    assert_int_equal(p.n_rows * 10 + p.n_cols, 35);
    /* a latent that fits one tile is not tiled */
    assert_int_equal(vae_tiles_plan(&d, 32, 20, &p, &err), 0);
    assert_false(p.tiled);
    assert_int_equal(p.n_tiles, 1);

    o.stride_w = 6;
    assert_int_equal(vae_tiles_plan(&o, 7, 11, &p, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "would leave gaps"));
    o.stride_w = 0;
    assert_int_equal(vae_tiles_plan(&o, 7, 11, &p, &err), DF_E_INVAL);
}

/* Decode the `tiled` fixture on one rank (comm NULL, then a self comm) and
 * compare with diffusers' tiled decode. */
static void test_tiled_fixture(void **state)
{
    (void)state;
    char dir[512], io[512];
    snprintf(dir, sizeof(dir), "%s/vae/c/vae", DF_TEST_DATA);
    snprintf(io, sizeof(io), "%s/vae/tiled/io.safetensors", DF_TEST_DATA);
    struct df_err err = {0};
    kern_backend_t be = NULL;
    assert_int_equal(kern_backend_create("cpu", 0, &be, &err), 0);
    struct vae *vae = NULL;
    if (vae_load(be, dir, &vae, &err) < 0)
        fail_msg("%s", err.msg);
    struct safetensors *st = NULL;
    assert_int_equal(safetensors_open(io, &st, &err), 0);
    const struct safetensors_tensor *z, *s, *tt;
    float *latent = read_tensor(st, "z", &z);
    float *want = read_tensor(st, "sample", &s);
    float *tiles = read_tensor(st, "tiles", &tt);
    struct vae_tile_opts o = {(int)tiles[0], (int)tiles[1], (int)tiles[2], (int)tiles[3]};
    int T = (int)z->shape[2], h = (int)z->shape[3], w = (int)z->shape[4];

    struct comm_opts co = comm_opts_default();
    comm_t self = NULL;
    assert_int_equal(comm_open(COMM_BACKEND_SELF, NULL, &co, &self, &err), 0);
    for (int pass = 0; pass < 2; pass++) {
        struct collect c = {0};
        vae_output_size(vae, T, h, w, &c.frames, &c.height, &c.width);
        assert_int_equal(c.frames, (int)s->shape[2]);
        assert_int_equal(c.height, (int)s->shape[3]);
        assert_int_equal(c.width, (int)s->shape[4]);
        c.out = calloc((size_t)s->numel, sizeof(float));
        if (vae_decode_tiled(vae, pass ? self : NULL, latent, T, h, w, &o, on_frame, &c, &err) < 0)
            fail_msg("%s", err.msg);
        assert_int_equal(c.seen, c.frames);
        double num = 0, den = 0, worst = 0;
        for (int64_t i = 0; i < s->numel; i++) {
            double d = (double)c.out[i] - want[i];
            num += d * d;
            den += (double)want[i] * want[i];
            worst = fabs(d) > worst ? fabs(d) : worst;
        }
        double rel = sqrt(num / den);
        printf("vae tiled (%s): %dx%d latent in %dx%d tiles every %dx%d -> %d frames %dx%d, "
               "rel L2 %.3g, max abs %.3g\n",
               pass ? "self comm" : "no comm", h, w, o.tile_h, o.tile_w, o.stride_h, o.stride_w,
               c.frames, c.height, c.width, rel, worst);
        assert_true(rel < 1e-4);
        free(c.out);
    }
    comm_close(self);
    free(latent), free(want), free(tiles);
    safetensors_close(st);
    vae_free(vae);
    kern_backend_free(be);
}

/* A latent that fits one tile decodes exactly as vae_decode (diffusers does
 * not tile it either); bad sizes are refused. */
static void test_untiled_is_plain(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/vae/c/vae", DF_TEST_DATA);
    struct df_err err = {0};
    kern_backend_t be = NULL;
    assert_int_equal(kern_backend_create("cpu", 0, &be, &err), 0);
    struct vae *vae = NULL;
    assert_int_equal(vae_load(be, dir, &vae, &err), 0);
    const int T = 2, h = 3, w = 2;
    size_t n = (size_t)16 * T * h * w;
    float *lat = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        lat[i] = (float)sin(0.37 * (double)i);
    struct collect a = {0}, b = {0};
    vae_output_size(vae, T, h, w, &a.frames, &a.height, &a.width);
    b = a;
    size_t total = (size_t)3 * a.frames * a.height * a.width;
    a.out = calloc(total, sizeof(float));
    b.out = calloc(total, sizeof(float));
    struct vae_tile_opts o = vae_tile_opts_default();
    assert_int_equal(vae_decode(vae, lat, T, h, w, on_frame, &a, &err), 0);
    assert_int_equal(vae_decode_tiled(vae, NULL, lat, T, h, w, &o, on_frame, &b, &err), 0);
    assert_int_equal(memcmp(a.out, b.out, total * sizeof(float)), 0);
    assert_int_equal(vae_decode_tiled(vae, NULL, lat, 0, h, w, &o, on_frame, &b, &err), DF_E_INVAL);
    free(a.out), free(b.out), free(lat);
    vae_free(vae);
    kern_backend_free(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_tiled_fixture),
        cmocka_unit_test(test_untiled_is_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
