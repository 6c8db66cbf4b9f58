/* rope_cuda.cuh -- rotary embedding on interleaved pairs, in place. */
#ifndef DF_ROPE_CUDA_CUH
#define DF_ROPE_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
int rope_cuda(void *ctx, float *x, int S, int H, int D, const float *cos, const float *sin,
              struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
