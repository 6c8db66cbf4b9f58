/* attn_cuda.cuh -- flash-style attention with LSE, and the LSE merge. */
#ifndef DF_ATTN_CUDA_CUH
#define DF_ATTN_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
/* Slot kern_backend_i.attention; head dim D <= 512 (else DF_E_UNSUPPORTED). */
int attn_cuda(void *ctx, const float *q, const float *k, const float *v, float *o, float *lse,
              int Sq, int Sk, int H, int D, int sk_valid, float scale, struct df_err *err);
/* Slot kern_backend_i.attention_merge. */
int attn_cuda_merge(void *ctx, float *o, float *lse, const float *o2, const float *lse2, int Sq,
                    int H, int D, struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
