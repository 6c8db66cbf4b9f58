/*
 * vmath_cpu.c -- polynomial exp and the loops built on it (see vmath_cpu.h).
 *
 * 8-lane GCC vector types: one ymm register on AVX2, two xmm on the
 * baseline.  Tails are run through the same vector code via a zero-padded
 * block so every element takes the same arithmetic path.
 */
#include "vmath_cpu.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VMATH_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VMATH_CLONES
#endif

/* The 8-lane helpers must be inlined into each target clone: called out of
 * line (as -O0 does) a 32-byte vector crosses between code built for AVX2
 * and for the baseline, whose calling conventions pass it differently, and
 * the values arrive as garbage (a crash in Debug builds). */
#define VMATH_INLINE static inline __attribute__((always_inline))

typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));

VMATH_INLINE vf8 load8(const float *p)
{
    vf8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

VMATH_INLINE void store8(float *p, vf8 v)
{
    memcpy(p, &v, sizeof v);
}

VMATH_INLINE vf8 select8(vi8 mask, vf8 a, vf8 b)
{
    return (vf8)(((vi8)a & mask) | ((vi8)b & ~mask));
}

VMATH_INLINE vf8 max8(vf8 a, vf8 b)
{
    return select8(a > b, a, b);
}

/* exp(x) for 8 lanes, x already in [-87, 88].  Range reduction
 * x = n·ln2 + f with |f| <= ln2/2 (ln2 split in two for exactness),
 * degree-6 polynomial on f, 2^n built in the exponent bits; the range keeps
 * n in [-126, 127]. */
VMATH_INLINE vf8 exp8_in_range(vf8 x)
{
    vf8 r = x * 1.44269504088896341f + 12582912.0f; /* 1.5·2^23: round to nearest */
    vf8 n = r - 12582912.0f;
    vf8 f = x - n * 0.693359375f;
    f = f - n * -2.12194440e-4f;
    vf8 z = f * f;
    vf8 p = 1.9875691500e-4f * f + 1.3981999507e-3f;
    p = p * f + 8.3334519073e-3f;
    p = p * f + 4.1665795894e-2f;
    p = p * f + 1.6666665459e-1f;
    p = p * f + 5.0000001201e-1f;
    p = p * z + f + 1.0f;
    vi8 e = (__builtin_convertvector(n, vi8) + 127) << 23;
    return p * (vf8)e;
}

/* exp(x) for any x (clamped: below -87 gives ~1.6e-38, above 88 ~1.7e38). */
VMATH_INLINE vf8 exp8(vf8 x)
{
    const vf8 zero = {0}, hi = zero + 88.0f, lo = zero - 87.0f;
    x = select8(x > hi, hi, x);
    x = select8(x < lo, lo, x);
    return exp8_in_range(x);
}

/* exp(x) for x <= 0, the softmax case (x = score − row max): only the lower
 * clamp is needed, which saves a sixth of the work in attention's hottest
 * non-GEMM loop. */
VMATH_INLINE vf8 exp8_nonpos(vf8 x)
{
    const vf8 zero = {0}, lo = zero - 87.0f;
    return exp8_in_range(select8(x < lo, lo, x));
}

VMATH_CLONES float vmath_cpu_max(const float *x, size_t n)
{
    size_t i = 0;
    float m = x[0];
    if (n >= 8) {
        vf8 acc = load8(x);
        for (i = 8; i + 8 <= n; i += 8)
            acc = max8(acc, load8(x + i));
        for (int j = 0; j < 8; j++)
            m = acc[j] > m ? acc[j] : m;
    }
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

VMATH_CLONES float vmath_cpu_exp_sum(float *x, size_t n, float shift)
{
    vf8 acc = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vf8 e = exp8_nonpos(load8(x + i) - shift);
        store8(x + i, e);
        acc += e;
    }
    double sum = 0.0;
    for (int j = 0; j < 8; j++)
        sum += acc[j];
    if (i < n) {
        float tail[8];
        size_t rest = n - i;
        for (size_t j = 0; j < 8; j++)
            tail[j] = j < rest ? x[i + j] - shift : 0.0f;
        vf8 e = exp8_nonpos(load8(tail));
        store8(tail, e);
        for (size_t j = 0; j < rest; j++) {
            x[i + j] = tail[j];
            sum += tail[j];
        }
    }
    return (float)sum;
}

VMATH_CLONES void vmath_cpu_scale(float *x, size_t n, float a)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        store8(x + i, load8(x + i) * a);
    for (; i < n; i++)
        x[i] *= a;
}

/* gelu_tanh(x) = 0.5·x·(1 + tanh(u)) = x − x / (e^{2u} + 1). */
VMATH_INLINE vf8 gelu8(vf8 x)
{
    vf8 u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x - x / (exp8(u + u) + 1.0f);
}

VMATH_INLINE vf8 silu8(vf8 x)
{
    return x / (exp8(-x) + 1.0f);
}

/* Shared body of the unary loops: f applied to full blocks, then the tail. */
#define UNARY_LOOP(F)                                                                              \
    size_t i = 0;                                                                                  \
    for (; i + 8 <= n; i += 8)                                                                     \
        store8(y + i, F(load8(x + i)));                                                            \
    if (i < n) {                                                                                   \
        float tail[8] = {0};                                                                       \
        memcpy(tail, x + i, (n - i) * sizeof *x);                                                  \
        store8(tail, F(load8(tail)));                                                              \
        memcpy(y + i, tail, (n - i) * sizeof *y);                                                  \
    }

VMATH_CLONES void vmath_cpu_gelu_tanh(const float *x, float *y, size_t n)
{
    UNARY_LOOP(gelu8);
}

VMATH_CLONES void vmath_cpu_silu(const float *x, float *y, size_t n)
{
    UNARY_LOOP(silu8);
}
