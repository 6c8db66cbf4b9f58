/* ckpt_shuffle.c -- byte-plane shuffle (see ckpt_shuffle.h).
 *
 * The 4-byte case has an SSE2 path because every f32 tensor goes through it
 * and the byte loop runs at ~450 MB/s, slower than zstd -1 (bench_ckpt.c).
 * Why it works: take 16 floats (64 bytes) as four 16-byte vectors and give
 * each byte its 6-bit address (vector:2, lane:4) = (e3 e2 e1 e0 b1 b0) for
 * byte b of element e.  unpacklo/hi_epi8 of vectors k and k+2, written back
 * as vectors 2k and 2k+1, rotates every address left by one bit.  Four such
 * rounds give (b1 b0 e3 e2 e1 e0): vector b now holds byte b of the 16
 * elements, i.e. 16 bytes of plane b.  Since 6 rotations are the identity,
 * two rounds undo four, which is the unshuffle. */
#include "ckpt_shuffle.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>

static inline void rotate_round(__m128i v[4])
{
    __m128i a = _mm_unpacklo_epi8(v[0], v[2]);
    __m128i b = _mm_unpackhi_epi8(v[0], v[2]);
    __m128i c = _mm_unpacklo_epi8(v[1], v[3]);
    __m128i d = _mm_unpackhi_epi8(v[1], v[3]);
    v[0] = a;
    v[1] = b;
    v[2] = c;
    v[3] = d;
}

/* Elements [0, n - n % 16); returns how many were done. */
static size_t shuffle4_simd(uint8_t *d, const uint8_t *s, size_t n)
{
    size_t blocks = n / 16;
    for (size_t k = 0; k < blocks; k++) {
        __m128i v[4];
        for (int j = 0; j < 4; j++)
            v[j] = _mm_loadu_si128((const __m128i *)(s + 64 * k + 16 * (size_t)j));
        for (int r = 0; r < 4; r++)
            rotate_round(v);
        for (size_t b = 0; b < 4; b++)
            _mm_storeu_si128((__m128i *)(d + b * n + 16 * k), v[b]);
    }
    return blocks * 16;
}

static size_t unshuffle4_simd(uint8_t *d, const uint8_t *s, size_t n)
{
    size_t blocks = n / 16;
    for (size_t k = 0; k < blocks; k++) {
        __m128i v[4];
        for (size_t b = 0; b < 4; b++)
            v[b] = _mm_loadu_si128((const __m128i *)(s + b * n + 16 * k));
        rotate_round(v);
        rotate_round(v);
        for (int j = 0; j < 4; j++)
            _mm_storeu_si128((__m128i *)(d + 64 * k + 16 * (size_t)j), v[j]);
    }
    return blocks * 16;
}
#else
static size_t shuffle4_simd(uint8_t *d, const uint8_t *s, size_t n)
{
    (void)d, (void)s, (void)n;
    return 0;
}

static size_t unshuffle4_simd(uint8_t *d, const uint8_t *s, size_t n)
{
    (void)d, (void)s, (void)n;
    return 0;
}
#endif

void ckpt_shuffle(void *dst, const void *src, size_t n, size_t elem)
{
    uint8_t *restrict d = dst;
    const uint8_t *restrict s = src;
    size_t i0 = elem == 4 ? shuffle4_simd(d, s, n) : 0;
    for (size_t b = 0; b < elem; b++)
        for (size_t i = i0; i < n; i++)
            d[b * n + i] = s[i * elem + b];
}

void ckpt_unshuffle(void *dst, const void *src, size_t n, size_t elem)
{
    uint8_t *restrict d = dst;
    const uint8_t *restrict s = src;
    size_t i0 = elem == 4 ? unshuffle4_simd(d, s, n) : 0;
    for (size_t b = 0; b < elem; b++)
        for (size_t i = i0; i < n; i++)
            d[i * elem + b] = s[b * n + i];
}
