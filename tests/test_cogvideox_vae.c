/* test_cogvideox_vae.c -- worker/vae/cogvideox/ against diffusers'
 * AutoencoderKLCogVideoX.decode as CogVideoXPipeline.decode_latents calls it.
 *
 * Fixtures tests/data/cogvideox/vae_<cfg>/ (make_cogvideox_fixtures.py):
 * tiny random VAEs, the transformer-layout latents and the decoded video,
 * whole (frame chunks of 2, the first of 3 for an odd count: per-chunk
 * group-norm statistics, caches across chunks) and, where diffusers' tiles
 * cover the frame, tiled.  Within 1e-4 relative L2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cogvideox_vae.h"
#include "kern.h"
#include "safetensors.h"

static float *read_all(const struct safetensors *st, const char *name, size_t *n_out)
{
    const struct safetensors_tensor *t = safetensors_find(st, name);
    if (!t)
        return NULL;
    float *buf = malloc((size_t)t->numel * sizeof *buf);
    assert_non_null(buf);
    assert_int_equal(safetensors_to_f32(t, buf, (size_t)t->numel, NULL), 0);
    if (n_out)
        *n_out = (size_t)t->numel;
    return buf;
}

static double rel_l2(const float *got, const float *want, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)got[i] - want[i];
        num += e * e, den += (double)want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static void check_vae(const char *cfg)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/cogvideox/vae_%s", DF_TEST_DATA, cfg);
    struct safetensors *in, *ex;
    struct df_err err = {0};
    snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
    assert_int_equal(safetensors_open(path, &in, &err), 0);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    assert_int_equal(safetensors_open(path, &ex, &err), 0);
    kern_backend_t be;
    assert_int_equal(kern_backend_create("cpu", 0, &be, &err), 0);
    struct cogvideox_vae *v;
    snprintf(path, sizeof path, "%s/vae", dir);
    if (cogvideox_vae_load(be, path, &v, &err) < 0)
        fail_msg("load: %s", err.msg);
    const struct safetensors_tensor *tl = safetensors_find(in, "latents");
    const struct safetensors_tensor *tv = safetensors_find(ex, "video");
    const int F = (int)tl->shape[1], h = (int)tl->shape[3], w = (int)tl->shape[4];
    int T, H, W;
    cogvideox_vae_output_size(v, F, h, w, &T, &H, &W);
    assert_int_equal(T, tv->shape[2]);
    assert_int_equal(H, tv->shape[3]);
    assert_int_equal(W, tv->shape[4]);
    float *lat = read_all(in, "latents", NULL);
    size_t n = 0;
    float *want = read_all(ex, "video", &n), *got = calloc(n, sizeof *got);
    if (cogvideox_vae_decode(v, lat, F, h, w, 0, got, &err) < 0)
        fail_msg("decode: %s", err.msg);
    const double e = rel_l2(got, want, n);
    free(want);
    want = read_all(ex, "video_tiled", NULL);
    double et = -1;
    if (want) {
        memset(got, 0, n * sizeof *got);
        if (cogvideox_vae_decode(v, lat, F, h, w, 1, got, &err) < 0)
            fail_msg("tiled decode: %s", err.msg);
        et = rel_l2(got, want, n);
    } else { /* diffusers' tiling would change the frame size: refused */
        assert_int_equal(cogvideox_vae_decode(v, lat, F, h, w, 1, got, &err), DF_E_INVAL);
        assert_non_null(strstr(err.msg, "decode untiled"));
    }
    printf("cogvideox vae %s: %d latent frames %dx%d -> %d frames %dx%d: rel L2 %.2e, tiled %.2e\n",
           cfg, F, h, w, T, H, W, e, et);
    assert_true(e < 1e-4);
    assert_true(et < 1e-4);
    free(want), free(got), free(lat);
    cogvideox_vae_free(v);
    kern_backend_free(be);
    safetensors_close(in);
    safetensors_close(ex);
}

static void test_decode(void **state)
{
    (void)state;
    check_vae("a");
    check_vae("b");
}

static void test_refusals(void **state)
{
    (void)state;
    struct df_err err = {0};
    char path[700];
    snprintf(path, sizeof path, "%s/wan/a/transformer", DF_TEST_DATA);
    assert_int_equal(cogvideox_vae_config_check(path, NULL, &err), DF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "expected AutoencoderKLCogVideoX"));
    struct cogvideox_vae_info info;
    snprintf(path, sizeof path, "%s/cogvideox/vae_b/vae", DF_TEST_DATA);
    assert_int_equal(cogvideox_vae_config_check(path, &info, &err), 0);
    assert_int_equal(info.stride_s, 8);
    assert_int_equal(info.stride_t, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
