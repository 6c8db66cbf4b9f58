/*
 * cblas.h (fallback) -- the part of the CBLAS interface the CPU backend
 * calls, for builds without OpenBLAS (the device check on a bare lent
 * machine).  sgemm_fallback.c implements it; only row-major and the
 * transposes the backend uses (A not transposed) are supported.
 */
#ifndef DF_FALLBACK_CBLAS_H
#define DF_FALLBACK_CBLAS_H

enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };

/* C = alpha·A·op(B) + beta·C, A [M, K] (lda), op(B) [K, N] (B [N, K] when
 * CblasTrans), C [M, N] (ldc), all row-major.  Other orders/transposes of A
 * are not implemented (the C is left untouched and an error is printed once
 * per call: that is a bug in the caller, not input). */
void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M,
                 int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);

/* OpenBLAS's thread knob: the fallback is single-threaded, so a no-op. */
void openblas_set_num_threads(int num_threads);

#endif
