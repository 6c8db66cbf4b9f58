/* attn_relbias_cuda.cuh -- T5 attention with a per-distance bias (kern_attention_relbias). */
#ifndef DF_ATTN_RELBIAS_CUDA_CUH
#define DF_ATTN_RELBIAS_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
/* Slot kern_backend_i.attention_relbias; Sk + D up to ~12k floats of shared
 * memory per block (else DF_E_UNSUPPORTED). */
int attn_relbias_cuda(void *ctx, const float *q, const float *k, const float *v, float *o, int Sq,
                      int Sk, int H, int D, float scale, const float *rel_bias,
                      struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
