/*
 * backend_cuda.c -- the CUDA backend's table, context, memory and weights.
 *
 * Plain C over the CUDA runtime and cuBLAS C APIs: the table uses C11
 * designated initializers (listing every slot), the kernels live in the
 * per-op .cu files.  Activations are fp32 device buffers; weights are
 * stored bf16 (half the memory, tensor-core GEMMs), converted on the host
 * with round-to-nearest-even at kern_weight_create().
 *
 * kern_backend_create("cuda") fails with DF_E_UNSUPPORTED and a message
 * naming the reason when no usable device is present, so a CPU-only
 * machine gets a clear answer instead of a crash.
 */
#include "kern_cuda.h"
#include "kern_build.h"

#include <stdlib.h>
#include <string.h>

int cuda_check(cudaError_t e, const char *what, struct df_err *err)
{
    if (e == cudaSuccess)
        return 0;
    return df_err_set(err, DF_E_INTERNAL, "cuda backend: %s: %s (%s)", what, cudaGetErrorString(e),
                      cudaGetErrorName(e));
}

int cuda_check_launch(const char *what, struct df_err *err)
{
    return cuda_check(cudaGetLastError(), what, err);
}

int cuda_scratch_reserve(struct cuda_ctx *ctx, size_t bytes, struct df_err *err)
{
    if (bytes <= ctx->scratch_bytes)
        return 0;
    /* cudaFree waits for queued work, so the old buffer is no longer in use. */
    cudaFree(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_bytes = 0;
    if (cudaMalloc(&ctx->scratch, bytes) != cudaSuccess) {
        cudaGetLastError(); /* clear it so later launch checks do not report it */
        return df_err_set(err, DF_E_NOMEM, "cuda backend: scratch of %zu bytes: out of memory",
                          bytes);
    }
    ctx->scratch_bytes = bytes;
    return 0;
}

static void cuda_free_ctx(void *vctx)
{
    struct cuda_ctx *ctx = vctx;
    if (ctx == NULL)
        return;
    if (ctx->stream)
        cudaStreamSynchronize(ctx->stream);
    cudaFree(ctx->scratch);
    attn_cudnn_free(ctx->dnn);
    cudaFree(ctx->lt_ws);
    if (ctx->lt)
        cublasLtDestroy(ctx->lt);
    if (ctx->blas)
        cublasDestroy(ctx->blas);
    if (ctx->stream)
        cudaStreamDestroy(ctx->stream);
    free(ctx);
}

static int cuda_sync(void *vctx, struct df_err *err)
{
    struct cuda_ctx *ctx = vctx;
    return cuda_check(cudaStreamSynchronize(ctx->stream), "stream synchronize", err);
}

static float *cuda_alloc(void *ctx, size_t n, struct df_err *err)
{
    void *p = NULL;
    if (cudaMalloc(&p, n * sizeof(float)) != cudaSuccess) {
        cudaGetLastError();
        df_err_set(err, DF_E_NOMEM, "cuda backend: alloc of %zu floats: out of device memory", n);
        return NULL;
    }
    return p;
}

static void cuda_release(void *vctx, void *p)
{
    /* cudaFree synchronizes the device, so queued ops reading p finish first. */
    cudaFree(p);
}

static int cuda_upload(void *vctx, float *dst, const float *src, size_t n, struct df_err *err)
{
    struct cuda_ctx *ctx = vctx;
    /* From pageable memory the copy is staged before the call returns, so
     * the caller may reuse src at once. */
    return cuda_check(
        cudaMemcpyAsync(dst, src, n * sizeof *dst, cudaMemcpyHostToDevice, ctx->stream), "upload",
        err);
}

static int cuda_download(void *vctx, float *dst, const float *src, size_t n, struct df_err *err)
{
    struct cuda_ctx *ctx = vctx;
    DF_TRY(
        cuda_check(cudaMemcpyAsync(dst, src, n * sizeof *dst, cudaMemcpyDeviceToHost, ctx->stream),
                   "download", err));
    return cuda_check(cudaStreamSynchronize(ctx->stream), "download (synchronize)", err);
}

static int cuda_copy(void *vctx, float *dst, const float *src, size_t n, struct df_err *err)
{
    struct cuda_ctx *ctx = vctx;
    return cuda_check(
        cudaMemcpyAsync(dst, src, n * sizeof *dst, cudaMemcpyDeviceToDevice, ctx->stream), "copy",
        err);
}

static int cuda_zero(void *vctx, float *dst, size_t n, struct df_err *err)
{
    struct cuda_ctx *ctx = vctx;
    return cuda_check(cudaMemsetAsync(dst, 0, n * sizeof *dst, ctx->stream), "zero", err);
}

/* fp32 -> bf16 bits, round to nearest even; NaN stays NaN. */
static uint16_t bf16_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static int cuda_weight_init(void *vctx, struct kern_weight *w, const float *host,
                            struct df_err *err)
{
    struct cuda_ctx *ctx = vctx;
    size_t n = (size_t)w->rows * (size_t)w->cols;
    uint16_t *tmp = malloc(n * sizeof *tmp);
    if (tmp == NULL)
        return df_err_set(err, DF_E_NOMEM, "cuda backend: weight [%d, %d]: out of host memory",
                          w->rows, w->cols);
    for (size_t i = 0; i < n; i++)
        tmp[i] = bf16_from_float(host[i]);
    void *dev = NULL;
    int rc = 0;
    if (cudaMalloc(&dev, n * sizeof *tmp) != cudaSuccess) {
        cudaGetLastError();
        rc = df_err_set(err, DF_E_NOMEM, "cuda backend: weight [%d, %d]: out of device memory",
                        w->rows, w->cols);
        goto done;
    }
    /* On our stream (ordered before later ops) and waited for: tmp is freed
     * right after, and a plain cudaMemcpy would not order against our
     * non-blocking stream. */
    rc = cuda_check(cudaMemcpyAsync(dev, tmp, n * sizeof *tmp, cudaMemcpyHostToDevice, ctx->stream),
                    "weight upload", err);
    if (rc == 0)
        rc = cuda_check(cudaStreamSynchronize(ctx->stream), "weight upload (synchronize)", err);
    if (rc < 0) {
        cudaFree(dev);
        goto done;
    }
    w->data = dev;
done:
    free(tmp);
    return rc;
}

static void cuda_weight_fini(void *ctx, struct kern_weight *w)
{
    cudaFree(w->data);
    w->data = NULL;
}

static const struct kern_backend_i cuda_iface = {
    .name = "cuda",
    .free = cuda_free_ctx,
    .sync = cuda_sync,
    .alloc = cuda_alloc,
    .release = cuda_release,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .zero = cuda_zero,
    .weight_init = cuda_weight_init,
    .weight_fini = cuda_weight_fini,
    .weight_load_bf16 = NULL, /* callers convert and use kern_weight_create */
    .linear = linear_cuda,
    .layernorm = norm_cuda_layer,
    .rmsnorm = norm_cuda_rms,
    .rope = rope_cuda,
    .linear_gelu = linear_cuda_gelu,
    .norm_modulate = fused_cuda_norm_modulate,
    .qk_norm_rope = fused_cuda_qk_norm_rope,
    .attention = attn_cuda,
    .attention_merge = attn_cuda_merge,
    .attention_relbias = attn_relbias_cuda,
    .gelu_tanh = elem_cuda_gelu_tanh,
    .silu = elem_cuda_silu,
    .modulate = elem_cuda_modulate,
    .gated_add = elem_cuda_gated_add,
    .add = elem_cuda_add,
    .scale_add = elem_cuda_scale_add,
    .patchify = patch_cuda_patchify,
    .unpatchify = patch_cuda_unpatchify,
    .im2col_causal = conv_cuda_im2col_causal,
    .upsample2x = conv_cuda_upsample2x,
    .copy_2d = conv_cuda_copy_2d,
};

void *kern_cuda_stream(struct kern_backend *be)
{
    if (be == NULL || be->magic != KERN_BACKEND_MAGIC || be->iface != &cuda_iface)
        return NULL;
    return ((struct cuda_ctx *)be->ctx)->stream;
}

int kern_cuda_attn_stats(struct kern_backend *be, long *cudnn, long *own, const char **why)
{
    if (be == NULL || be->magic != KERN_BACKEND_MAGIC || be->iface != &cuda_iface)
        return DF_E_INVAL;
    const struct cuda_ctx *ctx = be->ctx;
    *cudnn = ctx->attn_cudnn;
    *own = ctx->attn_own;
    *why = ctx->attn_why;
    return 0;
}

int kern_cuda_open(int n_threads, int device, const struct kern_backend_i **iface, void **out,
                   struct df_err *err)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        const char *why = e != cudaSuccess ? cudaGetErrorString(e) : "zero devices";
        cudaGetLastError();
        return df_err_set(err, DF_E_UNSUPPORTED, "cuda backend: no CUDA device available (%s)",
                          why);
    }
    /* ranks sharing a node take devices round-robin by their local rank */
    if (device >= 0 && cudaSetDevice(device % n) != cudaSuccess) {
        cudaGetLastError();
        return df_err_set(err, DF_E_UNSUPPORTED, "cuda backend: cannot use device %d of %d",
                          device % n, n);
    }
    struct cuda_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return df_err_set(err, DF_E_NOMEM, "cuda backend: out of memory");
    int rc = cuda_check(cudaGetDevice(&ctx->device), "cudaGetDevice", err);
    if (rc == 0)
        rc = cuda_check(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking),
                        "stream create", err);
    if (rc == 0 && cublasCreate(&ctx->blas) != CUBLAS_STATUS_SUCCESS)
        rc = df_err_set(err, DF_E_INTERNAL, "cuda backend: cublasCreate failed on device %d",
                        ctx->device);
    if (rc == 0 && cublasSetStream(ctx->blas, ctx->stream) != CUBLAS_STATUS_SUCCESS)
        rc = df_err_set(err, DF_E_INTERNAL, "cuda backend: cublasSetStream failed");
    if (rc == 0 && cublasLtCreate(&ctx->lt) != CUBLAS_STATUS_SUCCESS)
        rc = df_err_set(err, DF_E_INTERNAL, "cuda backend: cublasLtCreate failed");
    if (rc == 0 && cudaMalloc(&ctx->lt_ws, CUDA_LT_WORKSPACE) != cudaSuccess) {
        cudaGetLastError();
        rc = df_err_set(err, DF_E_NOMEM, "cuda backend: cuBLASLt workspace: out of memory");
    }
    /* cuDNN is optional: without it (or when it does not start) attention
     * runs on our own kernel. */
    if (rc == 0)
        ctx->dnn = attn_cudnn_open(ctx->stream);
    if (rc < 0) {
        cuda_free_ctx(ctx);
        return rc;
    }
    *iface = &cuda_iface;
    *out = ctx;
    return 0;
}
