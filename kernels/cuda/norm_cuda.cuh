/* norm_cuda.cuh -- LayerNorm / RMSNorm, one block per row. */
#ifndef DF_NORM_CUDA_CUH
#define DF_NORM_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
int norm_cuda_layer(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                    const float *gamma, const float *beta, struct df_err *err);
int norm_cuda_rms(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                  const float *gamma, struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
