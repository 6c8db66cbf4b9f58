/* linear_cuda.cuh -- y = act(x·Wᵀ + b) on cuBLASLt (bf16 operands, fp32
 * accumulate and output, bias/GELU epilogues). */
#ifndef DF_LINEAR_CUDA_CUH
#define DF_LINEAR_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
/* Slot kern_backend_i.linear; w->data is bf16 [N, K] on the device. */
int linear_cuda(void *ctx, const float *x, const struct kern_weight *w, const float *bias, float *y,
                int M, int K, int N, struct df_err *err);
/* Slot kern_backend_i.linear_gelu: gelu_tanh(x·Wᵀ + b) in one GEMM. */
int linear_cuda_gelu(void *ctx, const float *x, const struct kern_weight *w, const float *bias,
                     float *y, int M, int K, int N, struct df_err *err);
/* Both, gelu 0 or 1. */
int linear_cuda_ex(struct cuda_ctx *ctx, const float *x, const struct kern_weight *w,
                   const float *bias, float *y, int M, int K, int N, int gelu, struct df_err *err);
/* fp32 -> bf16 (round to nearest even) of n values on the stream. */
int linear_cuda_to_bf16(struct cuda_ctx *ctx, const float *src, void *dst, size_t n,
                        struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
