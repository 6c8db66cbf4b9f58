/*
 * ckd.h -- checked integer arithmetic for sizes computed from untrusted input
 * (config.json widths, tensor shapes, checkpoint headers, manifest numbers).
 *
 * Every size that comes from a file goes through these before it reaches an
 * allocation, an index or a loop bound: a product that wraps in `int` is
 * undefined behaviour, and one that wraps in `size_t` silently allocates too
 * little.  The shape follows C23's <stdckdint.h> (`ckd_mul(&r, a, b)` returns
 * true on overflow) so the calls read the same once we move to C23; the
 * range helpers add the usual "and at most this much" bound in one call.
 *
 *     int64_t n;
 *     if (ckd_prod_i64(&n, shape, ndim, (int64_t)1 << 40))   // overflow or > 2^40
 *         return df_err_set(err, DF_E_RANGE, "tensor '%s' too large", name);
 *     int64_t v;
 *     if (ckd_double_to_i64(json->valuedouble, 1, 64, &v))   // not an integer in [1, 64]
 *         ...
 *
 * Header-only: each helper is a few instructions (the compiler builtins) and
 * the fuzz and sanitizer builds see through them.
 */
#ifndef DF_CKD_H
#define DF_CKD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* a*b, a+b into *r; true when the exact result does not fit (then *r is the
 * wrapped value and must not be used). */
static inline bool ckd_mul_i64(int64_t *r, int64_t a, int64_t b)
{
    return __builtin_mul_overflow(a, b, r);
}

static inline bool ckd_add_i64(int64_t *r, int64_t a, int64_t b)
{
    return __builtin_add_overflow(a, b, r);
}

static inline bool ckd_mul_size(size_t *r, size_t a, size_t b)
{
    return __builtin_mul_overflow(a, b, r);
}

static inline bool ckd_add_size(size_t *r, size_t a, size_t b)
{
    return __builtin_add_overflow(a, b, r);
}

/* a*b as an int; true on overflow (both operands may come from a file). */
static inline bool ckd_mul_int(int *r, int a, int b)
{
    return __builtin_mul_overflow(a, b, r);
}

/* Product of f[0..n) into *r; true when a factor is negative, or the product
 * overflows or exceeds `max`.  An empty product is 1.  A zero factor gives 0
 * (and is not an error): callers that need positive sizes check that. */
static inline bool ckd_prod_i64(int64_t *r, const int64_t *f, int n, int64_t max)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++) {
        if (f[i] < 0 || ckd_mul_i64(&p, p, f[i]) || p > max)
            return true;
    }
    *r = p;
    return false;
}

/* A JSON number (a double) as an integer in [lo, hi]; true when it is not an
 * integer, not finite, or out of range.  Converting an out-of-range double to
 * an integer type is undefined behaviour, so the range is checked on the
 * double first. */
static inline bool ckd_double_to_i64(double v, int64_t lo, int64_t hi, int64_t *out)
{
    /* (double)hi may round up to 2^63, so the int64 range is checked on its
     * own before the cast; NaN fails every comparison. */
    if (!(v >= -0x1p63 && v < 0x1p63) || !(v >= (double)lo && v <= (double)hi) ||
        v != (double)(int64_t)v)
        return true;
    int64_t x = (int64_t)v;
    if (x < lo || x > hi)
        return true;
    *out = x;
    return false;
}

/* The same, into an int (hi must fit an int). */
static inline bool ckd_double_to_int(double v, int lo, int hi, int *out)
{
    int64_t x;
    if (ckd_double_to_i64(v, lo, hi, &x))
        return true;
    *out = (int)x;
    return false;
}

#endif /* DF_CKD_H */
