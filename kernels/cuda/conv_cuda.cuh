/* conv_cuda.cuh -- the VAE decoder's causal im2col, nearest 2x up-sampling
 * and strided 2D copy. */
#ifndef DF_CONV_CUDA_CUH
#define DF_CONV_CUDA_CUH
#ifdef __cplusplus
extern "C" {
#endif
int conv_cuda_im2col_causal(void *ctx, const float *const *frames, int kt, int H, int W, int C,
                            int kh, int kw, int y0, int y1, float *cols, struct df_err *err);
int conv_cuda_upsample2x(void *ctx, const float *x, float *y, int frames, int H, int W, int C,
                         struct df_err *err);
int conv_cuda_copy_2d(void *ctx, float *dst, size_t dst_ld, const float *src, size_t src_ld,
                      size_t rows, size_t cols, struct df_err *err);
#ifdef __cplusplus
}
#endif
#endif
