// elem_cuda.cu -- elementwise ops as grid-stride loops on the stream.
//
// GELU/SiLU use expf (not __expf) so they agree with the CPU backend to a
// few ulp; these kernels are memory-bound either way.
#include <math.h>

#include "kern_cuda.h"
#include "reduce_cuda.cuh"

#define ELEM_THREADS 256
#define GRID_STRIDE(i, n)                                                                          \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                        \
         i += (size_t)gridDim.x * blockDim.x)

static __global__ void k_gelu_tanh(const float *x, float *y, size_t n)
{
    GRID_STRIDE(i, n)
    {
        const float u = x[i];
        y[i] = 0.5f * u * (1.0f + tanhf(0.7978845608028654f * (u + 0.044715f * u * u * u)));
    }
}

static __global__ void k_silu(const float *x, float *y, size_t n)
{
    GRID_STRIDE(i, n)
    {
        const float u = x[i];
        y[i] = u / (1.0f + expf(-u));
    }
}

static __global__ void k_modulate(const float *x, float *y, size_t n, int dim,
                                  const float *__restrict__ scale, const float *__restrict__ shift)
{
    GRID_STRIDE(i, n)
    {
        const int c = (int)(i % dim);
        y[i] = x[i] * (1.0f + scale[c]) + shift[c];
    }
}

static __global__ void k_gated_add(float *x, const float *y, size_t n, int dim,
                                   const float *__restrict__ gate)
{
    GRID_STRIDE(i, n) x[i] += gate[i % dim] * y[i];
}

static __global__ void k_scale_add(float *y, const float *x, float a, size_t n)
{
    GRID_STRIDE(i, n) y[i] += a * x[i];
}

static __global__ void k_fill_rows(float *y, const float *__restrict__ vec, size_t n, int dim)
{
    GRID_STRIDE(i, n) y[i] = vec[i % dim];
}

#define LAUNCH(kernel, n, ...)                                                                     \
    kernel<<<grid_for((n), ELEM_THREADS), ELEM_THREADS, 0, ((struct cuda_ctx *)vctx)->stream>>>(   \
        __VA_ARGS__)

extern "C" int elem_cuda_gelu_tanh(void *vctx, const float *x, float *y, size_t n,
                                   struct df_err *err)
{
    LAUNCH(k_gelu_tanh, n, x, y, n);
    return cuda_check_launch("kern_gelu_tanh", err);
}

extern "C" int elem_cuda_silu(void *vctx, const float *x, float *y, size_t n, struct df_err *err)
{
    LAUNCH(k_silu, n, x, y, n);
    return cuda_check_launch("kern_silu", err);
}

extern "C" int elem_cuda_modulate(void *vctx, const float *x, float *y, int rows, int dim,
                                  const float *scale, const float *shift, struct df_err *err)
{
    const size_t n = (size_t)rows * dim;
    LAUNCH(k_modulate, n, x, y, n, dim, scale, shift);
    return cuda_check_launch("kern_modulate", err);
}

extern "C" int elem_cuda_gated_add(void *vctx, float *x, const float *y, const float *gate,
                                   int rows, int dim, struct df_err *err)
{
    const size_t n = (size_t)rows * dim;
    LAUNCH(k_gated_add, n, x, y, n, dim, gate);
    return cuda_check_launch("kern_gated_add", err);
}

extern "C" int elem_cuda_add(void *vctx, float *x, const float *y, size_t n, struct df_err *err)
{
    LAUNCH(k_scale_add, n, x, y, 1.0f, n);
    return cuda_check_launch("kern_add", err);
}

extern "C" int elem_cuda_scale_add(void *vctx, float *y, const float *x, float a, size_t n,
                                   struct df_err *err)
{
    LAUNCH(k_scale_add, n, y, x, a, n);
    return cuda_check_launch("kern_scale_add", err);
}

extern "C" int elem_cuda_fill_rows(struct cuda_ctx *ctx, float *y, const float *vec, int rows,
                                   int n, struct df_err *err)
{
    void *vctx = ctx;
    const size_t total = (size_t)rows * n;
    LAUNCH(k_fill_rows, total, y, vec, total, n);
    return cuda_check_launch("kern_linear: bias", err);
}
