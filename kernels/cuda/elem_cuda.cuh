/* elem_cuda.cuh -- elementwise ops (activations, modulation, residuals). */
#ifndef DF_ELEM_CUDA_CUH
#define DF_ELEM_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
int elem_cuda_gelu_tanh(void *ctx, const float *x, float *y, size_t n, struct df_err *err);
int elem_cuda_silu(void *ctx, const float *x, float *y, size_t n, struct df_err *err);
int elem_cuda_modulate(void *ctx, const float *x, float *y, int rows, int dim, const float *scale,
                       const float *shift, struct df_err *err);
int elem_cuda_gated_add(void *ctx, float *x, const float *y, const float *gate, int rows, int dim,
                        struct df_err *err);
int elem_cuda_add(void *ctx, float *x, const float *y, size_t n, struct df_err *err);
int elem_cuda_scale_add(void *ctx, float *y, const float *x, float a, size_t n, struct df_err *err);
/* Fill rows of y [rows, n] with vec [n] (bias before a beta = 1 GEMM). */
int elem_cuda_fill_rows(struct cuda_ctx *ctx, float *y, const float *vec, int rows, int n,
                        struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
