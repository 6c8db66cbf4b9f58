/* fused_cuda.cuh -- norm + modulation, q/k RMSNorm + RoPE (fused_cuda.cu). */
#ifndef DF_FUSED_CUDA_CUH
#define DF_FUSED_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
int fused_cuda_norm_modulate(void *ctx, const float *x, float *y, int rows, int dim, float eps,
                             const float *scale, const float *shift, struct df_err *err);
int fused_cuda_qk_norm_rope(void *ctx, float *x, int S, int H, int D, float eps,
                            const float *gamma, const float *cos, const float *sin,
                            struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
