/*
 * noise.h -- seeded Gaussian noise that is the same on every machine and for
 * every sharding.
 *
 * A shot's initial latent is `noise_fill(seed, 0, numel, out)` over the latent
 * laid out row-major in its canonical [C, F, H, W] order.  Because element i's
 * value depends only on (seed, i), a rank that owns elements [off, off+n) calls
 * `noise_fill(seed, off, n, out)` and gets exactly the slice one rank would have
 * produced for the whole tensor: P ranks = 1 rank, bit for bit.
 *
 *     float *lat = malloc(n * sizeof *lat);
 *     noise_fill(manifest_seed, shard_offset, n, lat);
 *
 * THE ALGORITHM (normative; tests/fixtures/make_sampler_fixtures.py is a second
 * implementation in numpy and tests/test_noise.c checks known answers)
 *
 *  1. Elements come in pairs: element i belongs to pair p = floor(i / 2) and is
 *     the first (i even) or second (i odd) normal of that pair.
 *  2. Pair p draws one Philox-4x32-10 block (Salmon et al., SC'11, as in
 *     Random123): counter = {lo32(p), hi32(p), 0, 0}, key = {lo32(seed),
 *     hi32(seed)}; ten rounds, the key bumped by (0x9E3779B9, 0xBB67AE85)
 *     between rounds, multipliers 0xD2511F53 and 0xCD9E8D57.  Output r0..r3.
 *  3. Two uniforms with 53 random bits each, in double:
 *         a  = (r1 << 32 | r0) >> 11,  u1 = (a + 1) * 2^-53   in (0, 1]
 *         b  = (r3 << 32 | r2) >> 11,  u2 =  b      * 2^-53   in [0, 1)
 *  4. Box-Muller in double, with OUR log/sin/cos (below) instead of libm so no
 *     libm difference can change a bit:
 *         rad = sqrt(-2 * noise_log(u1))          (IEEE sqrt, correctly rounded)
 *         z0 = rad * cos(2 pi u2),  z1 = rad * sin(2 pi u2)
 *     element 2p gets (float)z0, element 2p+1 gets (float)z1 (round to nearest).
 *  5. noise_log(u): frexp(u) = m * 2^e with m in [0.5, 1); if
 *     m < 0x1.6a09e667f3bcdp-1 (1/sqrt 2) then m = 2m, e = e - 1.
 *     s = (m - 1) / (m + 1), s2 = s * s, poly = 1/21, then for
 *     k = 19, 17, ..., 3, 1: poly = poly * s2 + 1/k;
 *     log = e * LN2 + 2 * s * poly, with LN2 = 0x1.62e42fefa39efp-1.
 *     (The constants 1/k are the doubles nearest to 1/k, i.e. 1.0 / k.)
 *  6. sin/cos(2 pi u2): q = floor(4 u2) (0..3), f = 4 u2 - q (both exact),
 *     t = f * PI_2 with PI_2 = 0x1.921fb54442d18p+0, t2 = t * t.  With
 *     F[k] = k! computed as F[0] = 1, F[k] = F[k-1] * k in double (exact up to
 *     22!), R[k] = 1.0 / F[k]:
 *       sin t = t * p,  p = R[23]; for j = 10 down to 0: p = R[2j+1] - t2 * p
 *       cos t = p,      p = R[22]; for j = 10 down to 0: p = R[2j]   - t2 * p
 *     The quadrant q maps (c, s) = (cos t, sin t) to (cos, sin) of 2 pi u2:
 *       q=0: (c, s)   q=1: (-s, c)   q=2: (-c, -s)   q=3: (s, -c).
 *  Every step is a single IEEE-754 double operation in the order written, and
 *  noise.c forbids fused multiply-add (FP_CONTRACT OFF), so no rounding moves.
 *
 * Known answers (seed 0, elements 0..3; seed 42, elements 0..3): see
 * tests/test_noise.c, which pins them as exact float bit patterns.
 */
#ifndef DF_NOISE_H
#define DF_NOISE_H

#include <stddef.h>
#include <stdint.h>

/* Philox-4x32-10 of one counter block under a key; writes out[4].  Exposed so
 * tests can check it against the Random123 known-answer vectors. */
void noise_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Standard normal samples for elements [offset, offset + n) of the stream keyed
 * by `seed` (algorithm above).  Writes out[0..n); never fails.  The result does
 * not depend on how [0, N) is split into calls. */
void noise_fill(uint64_t seed, uint64_t offset, size_t n, float *out);

#endif /* DF_NOISE_H */
