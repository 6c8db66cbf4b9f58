/*
 * noise.c -- counter-based Gaussian noise (algorithm documented in noise.h).
 *
 * Why not libm: glibc, musl and CUDA's libdevice may differ in the last bit of
 * log/sin/cos, and a last-bit difference occasionally flips the float rounding
 * of a sample.  Our own short polynomials use only + - * / and sqrt, which
 * IEEE-754 fixes exactly, so every machine produces the same floats.  This file
 * never lets the compiler fuse a multiply and an add, for the same reason.
 */
#include "noise.h"

/* Every operation rounds on its own: no fused multiply-add, whatever the
 * compiler's default or -march (GCC's -std=c11 is already off; clang's is on). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

#define NOISE_LN2 0x1.62e42fefa39efp-1
#define NOISE_PI_2 0x1.921fb54442d18p+0
#define NOISE_SQRT1_2 0x1.6a09e667f3bcdp-1
#define NOISE_2POW_M53 0x1p-53

void noise_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        const uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        const uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        const uint32_t n1 = (uint32_t)p1;
        const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        const uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* The series constants, as hex literals so no division runs per sample.
 * RFACT[k] = 1.0 / k! with k! accumulated in double (noise.h step 6) and
 * RODD[i] = 1.0 / (2i + 1) (step 5).  A wrong digit breaks the pinned samples
 * of tests/test_noise.c and the numpy twin used by tests/test_sampler.c. */
static const double RFACT[24] = {
    0x1p+0,                /* 1/0! */
    0x1p+0,                /* 1/1! */
    0x1p-1,                /* 1/2! */
    0x1.5555555555555p-3,  /* 1/3! */
    0x1.5555555555555p-5,  /* 1/4! */
    0x1.1111111111111p-7,  /* 1/5! */
    0x1.6c16c16c16c17p-10, /* 1/6! */
    0x1.a01a01a01a01ap-13, /* 1/7! */
    0x1.a01a01a01a01ap-16, /* 1/8! */
    0x1.71de3a556c734p-19, /* 1/9! */
    0x1.27e4fb7789f5cp-22, /* 1/10! */
    0x1.ae64567f544e4p-26, /* 1/11! */
    0x1.1eed8eff8d898p-29, /* 1/12! */
    0x1.6124613a86d09p-33, /* 1/13! */
    0x1.93974a8c07c9dp-37, /* 1/14! */
    0x1.ae7f3e733b81fp-41, /* 1/15! */
    0x1.ae7f3e733b81fp-45, /* 1/16! */
    0x1.952c77030ad4ap-49, /* 1/17! */
    0x1.6827863b97d97p-53, /* 1/18! */
    0x1.2f49b46814157p-57, /* 1/19! */
    0x1.e542ba4020225p-62, /* 1/20! */
    0x1.71b8ef6dcf572p-66, /* 1/21! */
    0x1.0ce396db7f853p-70, /* 1/22! */
    0x1.761b413163819p-75, /* 1/23! */
};
static const double RODD[11] = {
    0x1p+0,               /* 1/1 */
    0x1.5555555555555p-2, /* 1/3 */
    0x1.999999999999ap-3, /* 1/5 */
    0x1.2492492492492p-3, /* 1/7 */
    0x1.c71c71c71c71cp-4, /* 1/9 */
    0x1.745d1745d1746p-4, /* 1/11 */
    0x1.3b13b13b13b14p-4, /* 1/13 */
    0x1.1111111111111p-4, /* 1/15 */
    0x1.e1e1e1e1e1e1ep-5, /* 1/17 */
    0x1.af286bca1af28p-5, /* 1/19 */
    0x1.8618618618618p-5, /* 1/21 */
};

/* Natural log of u in (0, 1] by the atanh series: |s| <= 0.1716, so eleven
 * terms leave a truncation error far below one double ulp. */
static double noise_log(double u)
{
    int e = 0;
    double m = frexp(u, &e);
    if (m < NOISE_SQRT1_2) {
        m = m * 2.0;
        e = e - 1;
    }
    const double s = (m - 1.0) / (m + 1.0);
    const double s2 = s * s;
    double poly = RODD[10];
    for (int i = 9; i >= 0; i--)
        poly = poly * s2 + RODD[i];
    return (double)e * NOISE_LN2 + 2.0 * s * poly;
}

/* cos and sin of 2*pi*u for u in [0, 1): reduce by quadrant exactly using u
 * itself (no pi in the reduction), then Taylor on [0, pi/2). */
static void noise_cos_sin_2pi(double u, double *cos_out, double *sin_out)
{
    const double u4 = u * 4.0;
    const double q = floor(u4);
    const double t = (u4 - q) * NOISE_PI_2;
    const double t2 = t * t;

    double ps = RFACT[23];
    double pc = RFACT[22];
    for (int j = 10; j >= 0; j--) {
        ps = RFACT[2 * j + 1] - t2 * ps;
        pc = RFACT[2 * j] - t2 * pc;
    }
    const double s = t * ps, c = pc;
    switch ((int)q) {
    case 0:
        *cos_out = c, *sin_out = s;
        break;
    case 1:
        *cos_out = -s, *sin_out = c;
        break;
    case 2:
        *cos_out = -c, *sin_out = -s;
        break;
    default:
        *cos_out = s, *sin_out = -c;
        break;
    }
}

/* The two normals of pair p (noise.h steps 2-4). */
static void noise_pair(uint64_t seed, uint64_t p, float z[2])
{
    const uint32_t ctr[4] = {(uint32_t)p, (uint32_t)(p >> 32), 0, 0};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t r[4];
    noise_philox4x32_10(ctr, key, r);

    const uint64_t a = (((uint64_t)r[1] << 32) | r[0]) >> 11;
    const uint64_t b = (((uint64_t)r[3] << 32) | r[2]) >> 11;
    const double u1 = ((double)a + 1.0) * NOISE_2POW_M53;
    const double u2 = (double)b * NOISE_2POW_M53;

    const double rad = sqrt(-2.0 * noise_log(u1));
    double c, s;
    noise_cos_sin_2pi(u2, &c, &s);
    z[0] = (float)(rad * c);
    z[1] = (float)(rad * s);
}

void noise_fill(uint64_t seed, uint64_t offset, size_t n, float *out)
{
    size_t i = 0;
    float z[2];
    if (n > 0 && (offset & 1u)) { /* shard starts on the second half of a pair */
        noise_pair(seed, offset >> 1, z);
        out[i++] = z[1];
    }
    for (; i + 1 < n; i += 2) {
        noise_pair(seed, (offset + i) >> 1, z);
        out[i] = z[0];
        out[i + 1] = z[1];
    }
    if (i < n) {
        noise_pair(seed, (offset + i) >> 1, z);
        out[i] = z[0];
    }
}
