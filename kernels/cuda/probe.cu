// probe.cu -- CUDA device discovery; also the smallest kernel that proves the
// CUDA toolchain and link line work on machines without a GPU.
#include <cuda_runtime.h>

extern "C" {
#include "kern_build.h"
}

static __global__ void probe_fill(int *out, int v)
{
    out[threadIdx.x] = v;
}

extern "C" int kern_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess)
        return 0;
    // Touch a kernel so a broken fatbin (wrong arch) shows up here, not mid-render.
    int *d = nullptr;
    if (n > 0 && cudaMalloc(&d, 32 * sizeof(int)) == cudaSuccess) {
        probe_fill<<<1, 32>>>(d, 1);
        cudaDeviceSynchronize();
        cudaFree(d);
    }
    return n;
}
