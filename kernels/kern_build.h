/* kern_build.h -- build-time facts about the kernels library. */
#ifndef DF_KERN_BUILD_H
#define DF_KERN_BUILD_H

/* Space-separated names of the backends compiled in ("cpu" or "cpu cuda"). */
const char *kern_build_backends(void);

#ifdef DITFARM_HAVE_CUDA
#include "err.h"

/* Number of CUDA devices visible at run time (0 when no driver or GPU). */
int kern_cuda_device_count(void);

/* The bf16 matmul peak of the current device, for benchmarks: cuBLASLt
 * D[n,n] = A·B (bf16 operands and output, fp32 accumulation), one warm-up
 * and `reps` timed runs; *tflops = 2n³ / best time.  Returns 0,
 * DF_E_UNSUPPORTED (no device), DF_E_NOMEM, DF_E_INTERNAL. */
int kern_cuda_gemm_peak(int n, int reps, double *tflops, struct df_err *err);

/* The stream (a cudaStream_t) every op of a "cuda" backend is queued on, so
 * code with GPU work of its own (the NCCL comm) can order it against the
 * ops with events; NULL for any other backend. */
struct kern_backend;
void *kern_cuda_stream(struct kern_backend *be);

/* How a "cuda" backend's attention calls ran so far: on cuDNN's fused SDPA
 * or on our kernel, and why the first call on ours did not use cuDNN (""
 * if none).  Returns 0, or DF_E_INVAL for another backend. */
int kern_cuda_attn_stats(struct kern_backend *be, long *cudnn, long *own, const char **why);

/* cudnnGetVersion() of the loaded library (e.g. 91900), 0 without cuDNN. */
int kern_cuda_cudnn_version(void);
#endif

#endif
