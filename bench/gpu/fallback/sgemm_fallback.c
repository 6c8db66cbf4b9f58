/*
 * sgemm_fallback.c -- a plain-C sgemm for the device-check build on machines
 * without OpenBLAS.  The CPU backend splits every GEMM over its own thread
 * pool and calls this single-threaded on each slice, so the loop only has to
 * be cache-friendly: 64-row x 256-column blocks of C, the K loop innermost
 * over contiguous rows (B transposed: a dot product of two rows; B plain: an
 * axpy into a C row), which compilers vectorize at -O2/-O3.
 */
#include "cblas.h"

#include <stdio.h>

#define BM 64
#define BN 256
#define BK 256

void openblas_set_num_threads(int num_threads)
{
    (void)num_threads;
}

static void scale_c(int M, int N, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++)
            c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
}

/* B [N, K]: C[i, j] += alpha · <A[i, k0:k1], B[j, k0:k1]>.  Eight partial
 * sums per dot product so the loop vectorizes without reassociating. */
static void block_nt(int i0, int i1, int j0, int j1, int k0, int k1, float alpha, const float *A,
                     int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = i0; i < i1; i++) {
        const float *a = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        for (int j = j0; j < j1; j++) {
            const float *b = B + (size_t)j * ldb;
            float part[8] = {0};
            int k = k0;
            for (; k + 8 <= k1; k += 8)
                for (int l = 0; l < 8; l++)
                    part[l] += a[k + l] * b[k + l];
            float s = 0.0f;
            for (; k < k1; k++)
                s += a[k] * b[k];
            for (int l = 0; l < 8; l++)
                s += part[l];
            c[j] += alpha * s;
        }
    }
}

/* B [K, N]: C[i, j0:j1] += alpha · A[i, k] · B[k, j0:j1]. */
static void block_nn(int i0, int i1, int j0, int j1, int k0, int k1, float alpha, const float *A,
                     int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = i0; i < i1; i++) {
        const float *a = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        for (int k = k0; k < k1; k++) {
            const float aik = alpha * a[k];
            const float *b = B + (size_t)k * ldb;
            for (int j = j0; j < j1; j++)
                c[j] += aik * b[j];
        }
    }
}

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M,
                 int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc)
{
    if (order != CblasRowMajor || ta != CblasNoTrans) {
        fprintf(stderr, "sgemm_fallback: only row-major with A not transposed is implemented\n");
        return;
    }
    if (M <= 0 || N <= 0)
        return;
    if (beta != 1.0f)
        scale_c(M, N, beta, C, ldc);
    for (int i0 = 0; i0 < M; i0 += BM)
        for (int j0 = 0; j0 < N; j0 += BN)
            for (int k0 = 0; k0 < K; k0 += BK) {
                const int i1 = i0 + BM < M ? i0 + BM : M, j1 = j0 + BN < N ? j0 + BN : N;
                const int k1 = k0 + BK < K ? k0 + BK : K;
                if (tb == CblasTrans)
                    block_nt(i0, i1, j0, j1, k0, k1, alpha, A, lda, B, ldb, C, ldc);
                else
                    block_nn(i0, i1, j0, j1, k0, k1, alpha, A, lda, B, ldb, C, ldc);
            }
}
