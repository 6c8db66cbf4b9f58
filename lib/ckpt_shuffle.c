/* ckpt_shuffle.c -- byte-plane shuffle (see ckpt_shuffle.h).  The 4-byte case
 * gets its own loop because every f32 tensor goes through it; the compiler
 * keeps the four planes as sequential streams, which is what keeps this near
 * memory speed (measured in bench/bench_ckpt.c). */
#include "ckpt_shuffle.h"

#include <stdint.h>

void ckpt_shuffle(void *dst, const void *src, size_t n, size_t elem)
{
    uint8_t *restrict d = dst;
    const uint8_t *restrict s = src;
    if (elem == 4) {
        uint8_t *restrict p0 = d, *restrict p1 = d + n, *restrict p2 = d + 2 * n,
                          *restrict p3 = d + 3 * n;
        for (size_t i = 0; i < n; i++) {
            p0[i] = s[4 * i];
            p1[i] = s[4 * i + 1];
            p2[i] = s[4 * i + 2];
            p3[i] = s[4 * i + 3];
        }
        return;
    }
    for (size_t b = 0; b < elem; b++)
        for (size_t i = 0; i < n; i++)
            d[b * n + i] = s[i * elem + b];
}

void ckpt_unshuffle(void *dst, const void *src, size_t n, size_t elem)
{
    uint8_t *restrict d = dst;
    const uint8_t *restrict s = src;
    if (elem == 4) {
        const uint8_t *restrict p0 = s, *restrict p1 = s + n, *restrict p2 = s + 2 * n,
                                *restrict p3 = s + 3 * n;
        for (size_t i = 0; i < n; i++) {
            d[4 * i] = p0[i];
            d[4 * i + 1] = p1[i];
            d[4 * i + 2] = p2[i];
            d[4 * i + 3] = p3[i];
        }
        return;
    }
    for (size_t b = 0; b < elem; b++)
        for (size_t i = 0; i < n; i++)
            d[i * elem + b] = s[b * n + i];
}
