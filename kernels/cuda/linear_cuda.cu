// linear_cuda.cu -- y = act(x·Wᵀ + b) on cuBLASLt: bf16 operands, fp32
// accumulation and output, bias and GELU fused into the GEMM's epilogue.
//
// W is stored bf16 (backend_cuda.c).  x is rounded to bf16 into the
// context's arena first (the precision torch uses for a bf16 model).
// Row-major y[M,N] = x·Wᵀ is, in cuBLAS's column-major view,
// yᵀ[N,M] = op(W)·x' with W stored as a [K,N] column-major matrix (ld K)
// taken transposed and x' = x as [K,M] (ld K): then the bias is a vector
// over D's rows, which is what CUBLASLT_EPILOGUE_BIAS broadcasts.
// CUBLASLT_EPILOGUE_GELU is the tanh approximation, the one Wan's FFN uses
// (diffusers: GELU(approximate="tanh")).
//
// Plans: the heuristic's first algorithm per (M, K, N, epilogue) is cached
// in the context (a forward has ~10 distinct shapes).  When cuBLASLt offers
// none, the plain cublasGemmEx path runs (bias by a row fill, beta = 1; GELU
// by the elementwise op).
#include <cuda_bf16.h>

#include "kern_cuda.h"
#include "reduce_cuda.cuh"

static __global__ void to_bf16(const float *__restrict__ src, __nv_bfloat16 *__restrict__ dst,
                               size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

extern "C" int linear_cuda_to_bf16(struct cuda_ctx *ctx, const float *src, void *dst, size_t n,
                                   struct df_err *err)
{
    to_bf16<<<grid_for(n, 256), 256, 0, ctx->stream>>>(src, (__nv_bfloat16 *)dst, n);
    return cuda_check_launch("linear: fp32 -> bf16", err);
}

static int lt_fail(const char *what, cublasStatus_t st, int M, int K, int N, struct df_err *err)
{
    return df_err_set(err, DF_E_INTERNAL, "kern_linear(M=%d, K=%d, N=%d): %s: %s", M, K, N, what,
                      cublasGetStatusString(st));
}

// The descriptors of one call; destroyed by lt_desc_free.
struct lt_desc {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, d;
};

static void lt_desc_free(struct lt_desc *ds)
{
    if (ds->d)
        cublasLtMatrixLayoutDestroy(ds->d);
    if (ds->b)
        cublasLtMatrixLayoutDestroy(ds->b);
    if (ds->a)
        cublasLtMatrixLayoutDestroy(ds->a);
    if (ds->op)
        cublasLtMatmulDescDestroy(ds->op);
}

static cublasLtEpilogue_t epilogue_of(int code)
{
    switch (code) {
    case 1:
        return CUBLASLT_EPILOGUE_BIAS;
    case 2:
        return CUBLASLT_EPILOGUE_GELU_BIAS;
    case 3:
        return CUBLASLT_EPILOGUE_GELU;
    default:
        return CUBLASLT_EPILOGUE_DEFAULT;
    }
}

// Descriptors for D[rows, cols] (column-major, ld rows) = op(A)·B with A
// stored [k, rows] (ld k, transposed) and B [k, cols] (ld k).
static cublasStatus_t lt_desc_make(struct lt_desc *ds, cudaDataType_t ab, cudaDataType_t dt,
                                   int rows, int cols, int k, int epi, const float *bias)
{
    cublasStatus_t st = cublasLtMatmulDescCreate(&ds->op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const cublasLtEpilogue_t e = epilogue_of(epi);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(ds->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(ds->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(ds->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e);
    if (st == CUBLAS_STATUS_SUCCESS && bias != NULL) {
        const cudaDataType_t bt = CUDA_R_32F;
        st = cublasLtMatmulDescSetAttribute(ds->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                            sizeof bias);
        if (st == CUBLAS_STATUS_SUCCESS)
            st = cublasLtMatmulDescSetAttribute(ds->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt,
                                                sizeof bt);
    }
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&ds->a, ab, (uint64_t)k, (uint64_t)rows, k);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&ds->b, ab, (uint64_t)k, (uint64_t)cols, k);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&ds->d, dt, (uint64_t)rows, (uint64_t)cols, rows);
    return st;
}

// Largest power of two (<= 256) dividing the address: cuBLASLt's heuristic
// assumes 256-byte aligned pointers unless told otherwise, and an output at
// an offset into a buffer may be less aligned.
static uint32_t align_of(const void *p)
{
    uint32_t a = 256;
    while (a > 4 && ((uintptr_t)p % a) != 0)
        a /= 2;
    return a;
}

// The cached algorithm for the key, or the heuristic's first choice (then
// cached).  Returns NULL when cuBLASLt has none for this problem.
static const cublasLtMatmulAlgo_t *lt_algo(struct cuda_ctx *ctx, const struct lt_desc *ds, int M,
                                           int K, int N, int epi, uint32_t align)
{
    for (int i = 0; i < CUDA_LT_PLANS; i++) {
        const struct lt_plan *p = &ctx->plans[i];
        if (p->valid && p->M == M && p->K == K && p->N == N && p->epilogue == epi &&
            p->align == (int)align)
            return &p->algo;
    }
    cublasLtMatmulPreference_t pref = NULL;
    if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS)
        return NULL;
    const uint64_t ws = CUDA_LT_WORKSPACE;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                         sizeof ws);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align,
                                         sizeof align);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align,
                                         sizeof align);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx->lt, ds->op, ds->a, ds->b, ds->d, ds->d,
                                                       pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found < 1 || res.state != CUBLAS_STATUS_SUCCESS)
        return NULL;
    struct lt_plan *p = &ctx->plans[ctx->next_plan];
    ctx->next_plan = (ctx->next_plan + 1) % CUDA_LT_PLANS;
    *p = (struct lt_plan){.M = M, .K = K, .N = N, .epilogue = epi, .align = (int)align,
                          .valid = 1, .algo = res.algo};
    return &p->algo;
}

// The cuBLAS path (no Lt algorithm): bias row fill + GemmEx, GELU after.
static int linear_gemmex(struct cuda_ctx *ctx, const void *xb, const struct kern_weight *w,
                         const float *bias, float *y, int M, int K, int N, int gelu,
                         struct df_err *err)
{
    float beta = 0.0f;
    if (bias != NULL) {
        DF_TRY(elem_cuda_fill_rows(ctx, y, bias, M, N, err));
        beta = 1.0f;
    }
    const float alpha = 1.0f;
    cublasStatus_t st = cublasGemmEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, w->data,
                                     CUDA_R_16BF, K, xb, CUDA_R_16BF, K, &beta, y, CUDA_R_32F, N,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        return lt_fail("cublasGemmEx", st, M, K, N, err);
    return gelu ? elem_cuda_gelu_tanh(ctx, y, y, (size_t)M * N, err) : 0;
}

extern "C" int linear_cuda_ex(struct cuda_ctx *ctx, const float *x, const struct kern_weight *w,
                              const float *bias, float *y, int M, int K, int N, int gelu,
                              struct df_err *err)
{
    const size_t nx = (size_t)M * K;
    DF_TRY(cuda_scratch_reserve(ctx, nx * sizeof(__nv_bfloat16), err));
    DF_TRY(linear_cuda_to_bf16(ctx, x, ctx->scratch, nx, err));
    const int epi = gelu ? (bias ? 2 : 3) : (bias ? 1 : 0);
    struct lt_desc ds = {};
    cublasStatus_t st = lt_desc_make(&ds, CUDA_R_16BF, CUDA_R_32F, N, M, K, epi, bias);
    uint32_t align = align_of(y);
    if (bias != NULL && align_of(bias) < align)
        align = align_of(bias);
    const cublasLtMatmulAlgo_t *algo =
        st == CUBLAS_STATUS_SUCCESS ? lt_algo(ctx, &ds, M, K, N, epi, align) : NULL;
    if (algo == NULL) {
        lt_desc_free(&ds);
        return linear_gemmex(ctx, ctx->scratch, w, bias, y, M, K, N, gelu, err);
    }
    const float alpha = 1.0f, beta = 0.0f;
    st = cublasLtMatmul(ctx->lt, ds.op, &alpha, w->data, ds.a, ctx->scratch, ds.b, &beta, y, ds.d,
                        y, ds.d, algo, ctx->lt_ws, CUDA_LT_WORKSPACE, ctx->stream);
    lt_desc_free(&ds);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) // refused at run time: the plain path
        return linear_gemmex(ctx, ctx->scratch, w, bias, y, M, K, N, gelu, err);
    return st == CUBLAS_STATUS_SUCCESS ? 0 : lt_fail("cublasLtMatmul", st, M, K, N, err);
}

extern "C" int linear_cuda(void *vctx, const float *x, const struct kern_weight *w,
                           const float *bias, float *y, int M, int K, int N, struct df_err *err)
{
    return linear_cuda_ex((struct cuda_ctx *)vctx, x, w, bias, y, M, K, N, 0, err);
}

extern "C" int linear_cuda_gelu(void *vctx, const float *x, const struct kern_weight *w,
                                const float *bias, float *y, int M, int K, int N,
                                struct df_err *err)
{
    return linear_cuda_ex((struct cuda_ctx *)vctx, x, w, bias, y, M, K, N, 1, err);
}
