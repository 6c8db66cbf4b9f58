/* patch_cuda.cuh -- patch-embedding im2col and the output head's inverse. */
#ifndef DF_PATCH_CUDA_CUH
#define DF_PATCH_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
int patch_cuda_patchify(void *ctx, const float *latent, float *cols, int C, int T, int H, int W,
                        int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count,
                        struct df_err *err);
int patch_cuda_unpatchify(void *ctx, const float *tokens, float *latent, int C, int T, int H, int W,
                          int pt, int ph, int pw, int64_t tok_begin, int64_t tok_count,
                          struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
