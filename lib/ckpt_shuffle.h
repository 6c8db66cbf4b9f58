/*
 * ckpt_shuffle.h -- byte-plane shuffle of fixed-size elements, the filter in
 * front of zstd for float tensors (CKPT_ENCODING_SHUFFLE_ZSTD).
 *
 * n elements of `elem` bytes become `elem` planes of n bytes: plane b holds
 * byte b of every element.  For float32 the top plane (sign + high exponent
 * bits) is nearly constant and the next one smooth, while the low mantissa
 * planes are noise; interleaved, zstd sees only noise.
 *
 *     ckpt_shuffle(tmp, floats, n, 4);   // tmp: n*4 bytes
 *     ckpt_unshuffle(floats, tmp, n, 4);
 */
#ifndef DF_CKPT_SHUFFLE_H
#define DF_CKPT_SHUFFLE_H

#include <stddef.h>

/* dst[b*n + i] = src[i*elem + b].  dst and src (n*elem bytes each) must not
 * overlap.  Returns nothing; cannot fail. */
void ckpt_shuffle(void *dst, const void *src, size_t n, size_t elem);

/* The inverse: dst[i*elem + b] = src[b*n + i]. */
void ckpt_unshuffle(void *dst, const void *src, size_t n, size_t elem);

#endif /* DF_CKPT_SHUFFLE_H */
