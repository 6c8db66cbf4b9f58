/* test_preview.c -- worker/render/preview.c: the PNG writer (structure, CRCs,
 * stored deflate + Adler-32 give back the pixels), x0 and the linear map on
 * a sharded latent (the right pixels, only from this rank's tokens), and the
 * map fitted to the tiny demo VAE. */
#include "preview.h"
#include "kern.h"
#include "vae.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t crc(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* Parse our PNG back (stored blocks only): width, height, RGB. */
static uint8_t *png_decode(const uint8_t *b, size_t len, int *w, int *h)
{
    assert_memory_equal(b, "\x89PNG\r\n\x1a\n", 8);
    size_t pos = 8;
    uint8_t *z = malloc(len), *rgb = NULL;
    size_t zn = 0;
    while (pos + 12 <= len) {
        uint32_t n = be32(b + pos);
        assert_true(pos + 12 + n <= len);
        assert_int_equal(crc(b + pos + 4, 4 + n), be32(b + pos + 8 + n));
        if (memcmp(b + pos + 4, "IHDR", 4) == 0) {
            *w = (int)be32(b + pos + 8), *h = (int)be32(b + pos + 12);
            assert_int_equal(b[pos + 16], 8);
            assert_int_equal(b[pos + 17], 2);
        } else if (memcmp(b + pos + 4, "IDAT", 4) == 0) {
            memcpy(z + zn, b + pos + 8, n);
            zn += n;
        }
        pos += 12 + n;
    }
    assert_int_equal(pos, len);
    size_t raw_n = (size_t)*h * (1 + 3 * (size_t)*w), got = 0, zp = 2;
    uint8_t *raw = malloc(raw_n);
    for (int last = 0; !last;) {
        last = z[zp] & 1;
        assert_int_equal(z[zp] & 6, 0); /* stored */
        size_t n = z[zp + 1] | (size_t)z[zp + 2] << 8;
        assert_int_equal((n ^ 0xffff), (z[zp + 3] | (size_t)z[zp + 4] << 8));
        memcpy(raw + got, z + zp + 5, n);
        got += n, zp += 5 + n;
    }
    assert_int_equal(got, raw_n);
    uint32_t a = 1, s = 0;
    for (size_t i = 0; i < raw_n; i++)
        a = (a + raw[i]) % 65521, s = (s + a) % 65521;
    assert_int_equal(be32(z + zp), s << 16 | a);
    rgb = malloc((size_t)*w * *h * 3);
    for (int y = 0; y < *h; y++) {
        assert_int_equal(raw[(size_t)y * (1 + 3 * *w)], 0);
        memcpy(rgb + (size_t)y * *w * 3, raw + (size_t)y * (1 + 3 * *w) + 1, (size_t)*w * 3);
    }
    free(z);
    free(raw);
    return rgb;
}

static void test_png_round_trip(void **state)
{
    (void)state;
    /* wide enough for several 65535-byte stored blocks */
    int w = 300, h = 100;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        rgb[i] = (uint8_t)(i * 7 + i / 13);
    uint8_t *png = NULL;
    size_t len = 0;
    assert_int_equal(preview_png(rgb, w, h, &png, &len, NULL), 0);
    int w2 = 0, h2 = 0;
    uint8_t *back = png_decode(png, len, &w2, &h2);
    assert_int_equal(w2, w);
    assert_int_equal(h2, h);
    assert_memory_equal(back, rgb, (size_t)w * h * 3);
    free(back);
    free(png);
    free(rgb);
}

/* A latent whose channel 0 is the frame index: the map reads back which
 * frames were shown, and only from this rank's tokens. */
static void test_write_picks_whole_frames_of_the_shard(void **state)
{
    (void)state;
    struct latent_dims d = {.C = 2, .T = 6, .H = 4, .W = 4, .pt = 1, .ph = 2, .pw = 2};
    int64_t per_frame = 4, row = latent_row_size(&d); /* 2x2 tokens per frame, row = 8 */
    int64_t begin = 6, count = 12;                    /* frames 2, 3 whole; 1, 4 in part */
    float *rows = calloc((size_t)(count * row), sizeof(float));
    float *vel = calloc((size_t)(count * row), sizeof(float));
    for (int64_t t = 0; t < count; t++)
        for (int k = 0; k < 4; k++) {
            rows[t * row + k] = (float)((begin + t) / per_frame) / 10; /* channel 0 */
            vel[t * row + 4 + k] = 1;                                  /* channel 1 */
        }
    struct preview_map m = {.z_dim = 2};
    m.w[0][0] = 1;     /* red = frame / 10 */
    m.w[1][1] = -0.5f; /* green = -0.5 * x0[1] = -0.5 * (0 - 2 * 1) = 1 */
    m.bias[2] = -1;
    char path[] = "/tmp/df-test-preview-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(preview_write(&m, &d, rows, begin, count, 1, 2, vel, path, NULL), 0);
    FILE *f = fopen(path, "rb");
    uint8_t buf[65536];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    int w = 0, h = 0;
    uint8_t *rgb = png_decode(buf, len, &w, &h);
    assert_int_equal(h, 64); /* 4 rows enlarged 16x */
    assert_int_equal(w, 2 * 64);
    for (int k = 0; k < 2; k++) {
        const uint8_t *px = rgb + ((size_t)10 * w + (size_t)k * 64 + 5) * 3;
        assert_int_equal(px[0], (int)((1 + (2 + k) / 10.0f) * 127.5f + 0.5f));
        assert_int_equal(px[1], 255);
        assert_int_equal(px[2], 0);
    }
    free(rgb);
    struct df_err err = {0};
    assert_int_equal(preview_write(&m, &d, rows, 1, 2, 1, 0, NULL, path, &err), DF_E_INVAL);
    assert_non_null(strstr(err.msg, "no whole frame"));
    unlink(path);
    free(rows);
    free(vel);
}

static void test_fit_to_tiny_vae(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/configs/models/tiny/vae", DF_SOURCE_DIR);
    kern_backend_t be = NULL;
    struct vae *vae = NULL;
    assert_int_equal(kern_backend_create("cpu", 1, &be, NULL), 0);
    if (vae_load(be, dir, &vae, NULL) < 0) {
        kern_backend_free(be);
        skip(); /* scripts/setup generates the tiny model */
    }
    struct preview_map m;
    assert_int_equal(preview_map_fit(vae, &m, NULL), 0);
    assert_int_equal(m.z_dim, vae_get_info(vae)->z_dim);
    double norm = 0;
    for (int c = 0; c < 3; c++) {
        assert_true(isfinite(m.bias[c]));
        for (int z = 0; z < m.z_dim; z++) {
            assert_true(isfinite(m.w[c][z]));
            norm += fabs(m.w[c][z]);
        }
    }
    assert_true(norm > 0);
    struct preview_map again;
    assert_int_equal(preview_map_fit(vae, &again, NULL), 0);
    assert_memory_equal(&m, &again, sizeof(m)); /* a fixed seed: the same fit */
    vae_free(vae);
    kern_backend_free(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_round_trip),
        cmocka_unit_test(test_write_picks_whole_frames_of_the_shard),
        cmocka_unit_test(test_fit_to_tiny_vae),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
