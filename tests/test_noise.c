/* test_noise.c -- lib/noise.c: Philox known answers, pinned samples, shard
 * independence, seeds, and the moments of the distribution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* Random123's kat_vectors for philox4x32 with 10 rounds. */
static void test_philox_known_answers(void **state)
{
    (void)state;
    static const struct {
        uint32_t ctr[4], key[2], want[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        noise_philox4x32_10(kat[i].ctr, kat[i].key, out);
        for (int w = 0; w < 4; w++)
            assert_int_equal(out[w], kat[i].want[w]);
    }
}

/* Exact float bits; tests/fixtures/make_sampler_fixtures.py (numpy) produces
 * the same.  Changing any of these changes every seeded render: don't. */
static void test_pinned_samples(void **state)
{
    (void)state;
    static const struct {
        uint64_t seed, offset;
        uint32_t bits[4];
    } pins[] = {
        {0, 0, {0xbecb9b14, 0xbe9eec28, 0x3fb1841e, 0x3ea88ea2}},
        {42, 0, {0xbf2a5602, 0x3f849c6e, 0xbfb789ae, 0x3ed8b7eb}},
        {0xDEADBEEFCAFEF00Dull, 1000000007ull, {0x3fa02c91, 0x3f806852, 0xbf9135a2, 0xbf053b59}},
    };
    for (size_t i = 0; i < sizeof pins / sizeof pins[0]; i++) {
        float z[4];
        noise_fill(pins[i].seed, pins[i].offset, 4, z);
        for (int k = 0; k < 4; k++)
            assert_int_equal(bits_of(z[k]), pins[i].bits[k]);
    }
    float z;
    noise_fill(42, 1, 1, &z); /* an odd offset is the second normal of pair 0 */
    assert_int_equal(bits_of(z), 0x3f849c6eu);
}

/* P ranks generating their slices = one rank generating the whole. */
static void test_shards_equal_whole(void **state)
{
    (void)state;
    enum { N = 1001 };
    float whole[N], parts[N];
    noise_fill(7, 0, N, whole);
    static const size_t cuts[] = {0, 1, 2, 333, 334, 700, 999, N};
    for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
        noise_fill(7, cuts[c], cuts[c + 1] - cuts[c], parts + cuts[c]);
    assert_memory_equal(whole, parts, sizeof whole);

    float one;
    for (size_t i = 0; i < N; i += 97) {
        noise_fill(7, i, 1, &one);
        assert_int_equal(bits_of(one), bits_of(whole[i]));
    }
    noise_fill(7, 5, 0, NULL); /* n = 0 touches nothing */
}

/* Our polynomials against libm: the same Box-Muller within float rounding.
 * (The numpy twin shares our algorithm, so only this catches a wrong idea.) */
static void test_matches_libm_box_muller(void **state)
{
    (void)state;
    enum { PAIRS = 20000 };
    static float z[2 * PAIRS];
    const uint64_t seed = 0x0123456789abcdefull;
    noise_fill(seed, 0, 2 * PAIRS, z);
    double worst = 0;
    for (uint64_t p = 0; p < PAIRS; p++) {
        const uint32_t ctr[4] = {(uint32_t)p, (uint32_t)(p >> 32), 0, 0};
        const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
        uint32_t r[4];
        noise_philox4x32_10(ctr, key, r);
        const double u1 = ((double)((((uint64_t)r[1] << 32) | r[0]) >> 11) + 1.0) * 0x1p-53;
        const double u2 = (double)((((uint64_t)r[3] << 32) | r[2]) >> 11) * 0x1p-53;
        const double rad = sqrt(-2.0 * log(u1));
        const double want[2] = {rad * cos(2.0 * M_PI * u2), rad * sin(2.0 * M_PI * u2)};
        for (int k = 0; k < 2; k++)
            worst = fmax(worst, fabs(z[2 * p + k] - want[k]) / (1.0 + fabs(want[k])));
    }
    print_message("noise: worst deviation from libm Box-Muller %.3g\n", worst);
    assert_true(worst < 2e-7);
}

static void test_seeds_differ(void **state)
{
    (void)state;
    enum { N = 256 };
    float a[N], b[N], c[N];
    noise_fill(1, 0, N, a);
    noise_fill(2, 0, N, b);
    noise_fill(1ull << 32 | 1, 0, N, c); /* the high key word counts too */
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < N; i++) {
        same_ab += a[i] == b[i];
        same_ac += a[i] == c[i];
    }
    assert_true(same_ab < 2 && same_ac < 2);
}

static void test_moments(void **state)
{
    (void)state;
    enum { N = 1 << 18 };
    float *z = malloc(N * sizeof *z);
    assert_non_null(z);
    noise_fill(12345, 0, N, z);
    double sum = 0, sq = 0, q4 = 0, maxabs = 0;
    size_t below = 0;
    for (size_t i = 0; i < N; i++) {
        assert_true(isfinite(z[i]));
        sum += z[i];
        sq += (double)z[i] * z[i];
        q4 += (double)z[i] * z[i] * z[i] * z[i];
        below += z[i] < -1.0f;
        maxabs = fmax(maxabs, fabs(z[i]));
    }
    const double mean = sum / N, var = sq / N - mean * mean;
    print_message("noise: mean %.5f var %.5f kurtosis %.4f P(z<-1) %.5f max|z| %.3f\n", mean, var,
                  q4 / N / (var * var), (double)below / N, maxabs);
    assert_true(fabs(mean) < 0.01);
    assert_true(fabs(var - 1.0) < 0.01);
    assert_true(fabs(q4 / N / (var * var) - 3.0) < 0.05);
    assert_true(fabs((double)below / N - 0.158655) < 0.003);
    assert_true(maxabs > 3.5 && maxabs < 7.0);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers), cmocka_unit_test(test_pinned_samples),
        cmocka_unit_test(test_shards_equal_whole),   cmocka_unit_test(test_matches_libm_box_muller),
        cmocka_unit_test(test_seeds_differ),         cmocka_unit_test(test_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
