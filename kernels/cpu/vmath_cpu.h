/*
 * vmath_cpu.h -- vectorized transcendental loops for the CPU backend.
 *
 * libm's expf/tanhf are scalar calls; the softmax inside attention and the
 * FFN's GELU run them billions of times per step, so these loops use a
 * polynomial exp (Cephes-style, ~1 ulp on the reduced range) written with
 * GCC vector extensions, compiled for AVX2+FMA and a baseline fallback
 * picked at load time (target_clones).  Results match libm to ~2e-7
 * relative for exp, and inputs are clamped to the finite range of expf.
 */
#ifndef DF_VMATH_CPU_H
#define DF_VMATH_CPU_H

#include <stddef.h>

/* Largest element of x[0..n), n >= 1. */
float vmath_cpu_max(const float *x, size_t n);

/* x[i] = exp(x[i] - shift) in place; returns the sum of the new values
 * (accumulated in fp32 lanes, then double).  Requires shift >= every x[i]
 * (softmax: shift = row max). */
float vmath_cpu_exp_sum(float *x, size_t n, float shift);

/* x[i] *= a. */
void vmath_cpu_scale(float *x, size_t n, float a);

/* y[i] = gelu_tanh(x[i]); y may equal x. */
void vmath_cpu_gelu_tanh(const float *x, float *y, size_t n);

/* y[i] = x[i] / (1 + exp(-x[i])); y may equal x. */
void vmath_cpu_silu(const float *x, float *y, size_t n);

#endif
