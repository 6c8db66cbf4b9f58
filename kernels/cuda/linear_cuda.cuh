/* linear_cuda.cuh -- y = x·Wᵀ + b with cuBLAS (bf16 operands, fp32 accumulate). */
#ifndef DF_LINEAR_CUDA_CUH
#define DF_LINEAR_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
/* Slot kern_backend_i.linear; w->data is bf16 [N, K] on the device. */
int linear_cuda(void *ctx, const float *x, const struct kern_weight *w, const float *bias, float *y,
                int M, int K, int N, struct df_err *err);
/* fp32 -> bf16 (round to nearest even) of n values on the stream. */
int linear_cuda_to_bf16(struct cuda_ctx *ctx, const float *src, void *dst, size_t n,
                        struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
