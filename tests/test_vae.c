/* test_vae.c -- worker/vae/: the Wan VAE decoder against diffusers fixtures
 * (tests/fixtures/make_vae_fixtures.py), plus bad-input checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"
#include "safetensors.h"
#include "vae.h"
#include "vae_synth.h"

#include <unistd.h>

struct collect {
    float *out;  /* [3, F, H, W] */
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

/* Decode fixture `name` on `backend` and compare with diffusers (relative
 * L2 <= tol).  Skips when the backend is not available here. */
static void check_fixture_on(const char *name, const char *backend, double tol)
{
    char dir[512], io[512];
    snprintf(dir, sizeof(dir), "%s/vae/%s/vae", DF_TEST_DATA, name);
    snprintf(io, sizeof(io), "%s/vae/%s/io.safetensors", DF_TEST_DATA, name);
    struct df_err err = {0};
    kern_backend_t be = NULL;
    if (kern_backend_create(backend, 0, &be, &err) < 0) {
        printf("backend %s unavailable, skipping: %s\n", backend, err.msg);
        skip();
    }
    struct vae *vae = NULL;
    if (vae_load(be, dir, &vae, &err) < 0)
        fail_msg("%s", err.msg);
    struct safetensors *st = NULL;
    assert_int_equal(safetensors_open(io, &st, &err), 0);
    const struct safetensors_tensor *z = safetensors_find(st, "z");
    const struct safetensors_tensor *s = safetensors_find(st, "sample");
    assert_non_null(z);
    assert_non_null(s);
    int T = (int)z->shape[2], h = (int)z->shape[3], w = (int)z->shape[4];
    float *latent = malloc((size_t)z->numel * sizeof(float));
    float *want = malloc((size_t)s->numel * sizeof(float));
    assert_int_equal(safetensors_to_f32(z, latent, (size_t)z->numel, &err), 0);
    assert_int_equal(safetensors_to_f32(s, want, (size_t)s->numel, &err), 0);

    struct collect c = {0};
    vae_output_size(vae, T, h, w, &c.frames, &c.height, &c.width);
    assert_int_equal(c.frames, (int)s->shape[2]);
    assert_int_equal(c.height, (int)s->shape[3]);
    assert_int_equal(c.width, (int)s->shape[4]);
    c.out = calloc((size_t)s->numel, sizeof(float));
    if (vae_decode(vae, latent, T, h, w, on_frame, &c, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(c.seen, c.frames);
    double num = 0, den = 0;
    for (int64_t i = 0; i < s->numel; i++) {
        double d = (double)c.out[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    double rel = sqrt(num / den);
    printf("vae fixture %s on %s: %d latent frames -> %d frames %dx%d, rel L2 %.3g\n", name,
           backend, T, c.frames, c.height, c.width, rel);
    assert_true(rel < tol);
    free(c.out);
    free(latent);
    free(want);
    safetensors_close(st);
    vae_free(vae);
    kern_backend_free(be);
}

static void check_fixture(const char *name)
{
    check_fixture_on(name, "cpu", 1e-4);
}

/* The same decode on the CUDA backend (skipped without a device): its
 * linear rounds weights and activations to bf16, hence the looser bound. */
static void test_fixture_a_cuda(void **state)
{
    (void)state;
    check_fixture_on("a", "cuda", 3e-2);
}

static void test_fixture_a(void **state)
{
    (void)state;
    check_fixture("a");
}
static void test_fixture_b(void **state)
{
    (void)state;
    check_fixture("b");
}
static void test_fixture_c(void **state)
{
    (void)state;
    check_fixture("c");
}

static void test_missing_folder(void **state)
{
    (void)state;
    struct df_err err = {0};
    kern_backend_t be = NULL;
    assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
    struct vae *vae = NULL;
    assert_int_equal(vae_load(be, "/nonexistent/vae", &vae, &err), DF_E_NOTFOUND);
    assert_string_equal(err.msg,
                        "VAE /nonexistent/vae: /nonexistent/vae/config.json: cannot open: No such "
                        "file or directory");
    kern_backend_free(be);
}

static int count_frames(void *user, int index, const float *rgb, int height, int width,
                        struct df_err *err)
{
    (void)rgb, (void)height, (void)width, (void)err;
    int *n = user;
    *n = index + 1;
    return 0;
}

/* The synthetic demo VAE loads and decodes 3 latent frames into 9 frames. */
static void test_synth_roundtrip(void **state)
{
    (void)state;
    char dir[] = "/tmp/df_vae_synth_XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct df_err err = {0};
    struct vae_synth_opts o = {.base_dim = 4, .z_dim = 16, .num_res_blocks = 1, .seed = 7};
    if (vae_synth_write(dir, &o, &err) < 0)
        fail_msg("%s", err.msg);
    kern_backend_t be = NULL;
    assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
    struct vae *vae = NULL;
    if (vae_load(be, dir, &vae, &err) < 0)
        fail_msg("%s", err.msg);
    float *lat = calloc((size_t)16 * 3 * 2 * 2, sizeof(float));
    vae_denormalize(vae, lat, 3, 2, 2);
    int frames = 0;
    assert_int_equal(vae_decode(vae, lat, 3, 2, 2, count_frames, &frames, &err), 0);
    assert_int_equal(frames, 9);
    free(lat);
    vae_free(vae);
    kern_backend_free(be);
    char path[600];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/diffusion_pytorch_model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

/* A mis-shaped tensor names the tensor and both shapes. */
static void test_wrong_shape(void **state)
{
    (void)state;
    char dir[] = "/tmp/df_vae_bad_XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct df_err err = {0};
    struct vae_synth_opts o = {.base_dim = 4, .z_dim = 16, .num_res_blocks = 1, .seed = 7};
    assert_int_equal(vae_synth_write(dir, &o, &err), 0);
    /* claim two res blocks: up_blocks.0.resnets.2 does not exist */
    char path[600];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strstr(buf, "\"num_res_blocks\": 1");
    assert_non_null(p);
    p[strlen("\"num_res_blocks\": ")] = '2';
    f = fopen(path, "w");
    fputs(buf, f);
    fclose(f);
    kern_backend_t be = NULL;
    assert_int_equal(kern_backend_create("cpu", 1, &be, &err), 0);
    struct vae *vae = NULL;
    assert_int_equal(vae_load(be, dir, &vae, &err), DF_E_NOTFOUND);
    printf("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "tensor 'decoder.up_blocks.0.resnets.2.norm1.gamma' not found"));
    kern_backend_free(be);
    unlink(path);
    snprintf(path, sizeof(path), "%s/diffusion_pytorch_model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_a),
        cmocka_unit_test(test_fixture_b),
        cmocka_unit_test(test_fixture_c),
        cmocka_unit_test(test_fixture_a_cuda),
        cmocka_unit_test(test_missing_folder),
        cmocka_unit_test(test_synth_roundtrip),
        cmocka_unit_test(test_wrong_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
