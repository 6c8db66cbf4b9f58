// peak_cuda.cu -- kern_cuda_gemm_peak(): the bf16 tensor-core matmul rate of
// the current device, measured with cuBLASLt on square n³ problems (bf16 A,
// B and D, fp32 accumulation), so benchmarks can state "% of the matmul peak
// measured in the same run" instead of a datasheet number.
#include <cuda_bf16.h>

#include "kern_cuda.h"

extern "C" {
#include "kern_build.h"
}

struct peak_res {
    cudaStream_t stream;
    cudaEvent_t t0, t1;
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t lay;
    cublasLtMatmulPreference_t pref;
    void *a, *b, *d, *ws;
};

static void peak_free(struct peak_res *r)
{
    if (r->stream)
        cudaStreamSynchronize(r->stream);
    cudaFree(r->a);
    cudaFree(r->b);
    cudaFree(r->d);
    cudaFree(r->ws);
    if (r->pref)
        cublasLtMatmulPreferenceDestroy(r->pref);
    if (r->lay)
        cublasLtMatrixLayoutDestroy(r->lay);
    if (r->op)
        cublasLtMatmulDescDestroy(r->op);
    if (r->lt)
        cublasLtDestroy(r->lt);
    if (r->t0)
        cudaEventDestroy(r->t0);
    if (r->t1)
        cudaEventDestroy(r->t1);
    if (r->stream)
        cudaStreamDestroy(r->stream);
}

static int peak_setup(struct peak_res *r, int n, struct df_err *err)
{
    const size_t bytes = (size_t)n * n * sizeof(__nv_bfloat16);
    DF_TRY(cuda_check(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking),
                      "peak: stream", err));
    DF_TRY(cuda_check(cudaEventCreate(&r->t0), "peak: event", err));
    DF_TRY(cuda_check(cudaEventCreate(&r->t1), "peak: event", err));
    if (cudaMalloc(&r->a, bytes) != cudaSuccess || cudaMalloc(&r->b, bytes) != cudaSuccess ||
        cudaMalloc(&r->d, bytes) != cudaSuccess || cudaMalloc(&r->ws, CUDA_LT_WORKSPACE) != cudaSuccess) {
        cudaGetLastError();
        return df_err_set(err, DF_E_NOMEM, "peak: 3 x %zu bytes: out of device memory", bytes);
    }
    // Small values: the rate does not depend on them, and no Inf appears.
    DF_TRY(cuda_check(cudaMemsetAsync(r->a, 0x3c, bytes, r->stream), "peak: fill", err));
    DF_TRY(cuda_check(cudaMemsetAsync(r->b, 0x3c, bytes, r->stream), "peak: fill", err));
    cublasStatus_t st = cublasLtCreate(&r->lt);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescCreate(&r->op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&r->lay, CUDA_R_16BF, (uint64_t)n, (uint64_t)n, n);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceCreate(&r->pref);
    const uint64_t ws = CUDA_LT_WORKSPACE;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(r->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &ws, sizeof ws);
    if (st != CUBLAS_STATUS_SUCCESS)
        return df_err_set(err, DF_E_INTERNAL, "peak: cuBLASLt setup: %s", cublasGetStatusString(st));
    return 0;
}

extern "C" int kern_cuda_gemm_peak(int n, int reps, double *tflops, struct df_err *err)
{
    DF_FAIL_IF(n <= 0 || reps <= 0, err, DF_E_INVAL, "peak: n=%d reps=%d", n, reps);
    DF_FAIL_IF(kern_cuda_device_count() == 0, err, DF_E_UNSUPPORTED, "peak: no CUDA device");
    struct peak_res r = {};
    int rc = peak_setup(&r, n, err);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (rc == 0 && (cublasLtMatmulAlgoGetHeuristic(r.lt, r.op, r.lay, r.lay, r.lay, r.lay, r.pref,
                                                   1, &res, &found) != CUBLAS_STATUS_SUCCESS ||
                    found < 1))
        rc = df_err_set(err, DF_E_INTERNAL, "peak: cuBLASLt has no algorithm for bf16 %d^3", n);
    const float alpha = 1.0f, beta = 0.0f;
    float best_ms = 0.0f;
    for (int i = 0; rc == 0 && i <= reps; i++) { // i == 0 warms up
        cudaEventRecord(r.t0, r.stream);
        cublasStatus_t st = cublasLtMatmul(r.lt, r.op, &alpha, r.a, r.lay, r.b, r.lay, &beta, r.d,
                                           r.lay, r.d, r.lay, &res.algo, r.ws, CUDA_LT_WORKSPACE,
                                           r.stream);
        if (st != CUBLAS_STATUS_SUCCESS) {
            rc = df_err_set(err, DF_E_INTERNAL, "peak: cublasLtMatmul: %s",
                            cublasGetStatusString(st));
            break;
        }
        cudaEventRecord(r.t1, r.stream);
        rc = cuda_check(cudaEventSynchronize(r.t1), "peak: synchronize", err);
        float ms = 0.0f;
        if (rc == 0)
            rc = cuda_check(cudaEventElapsedTime(&ms, r.t0, r.t1), "peak: elapsed", err);
        if (rc == 0 && i > 0 && (best_ms == 0.0f || ms < best_ms))
            best_ms = ms;
    }
    peak_free(&r);
    if (rc == 0)
        *tflops = 2.0 * n * (double)n * n / (best_ms * 1e-3) / 1e12;
    return rc;
}
