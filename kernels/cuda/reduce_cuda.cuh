// reduce_cuda.cuh -- warp and block reductions shared by the CUDA kernels.
#ifndef DF_REDUCE_CUDA_CUH
#define DF_REDUCE_CUDA_CUH

#define CUDA_FULL_MASK 0xffffffffu

static __device__ __forceinline__ float warp_sum(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(CUDA_FULL_MASK, v, off);
    return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v = fmaxf(v, __shfl_xor_sync(CUDA_FULL_MASK, v, off));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread
// gets the result.  `shared` holds 32 floats; the leading __syncthreads
// makes back-to-back calls with the same buffer safe.
static __device__ __forceinline__ float block_sum(float v, float *shared)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0)
        shared[warp] = v;
    __syncthreads();
    v = lane < n_warps ? shared[lane] : 0.0f;
    return warp_sum(v);
}

// Grid size for n elements at `threads` per block, capped for grid-stride loops.
static inline unsigned grid_for(size_t n, unsigned threads)
{
    size_t blocks = (n + threads - 1) / threads;
    return blocks > 65535u * 8u ? 65535u * 8u : (unsigned)(blocks ? blocks : 1);
}

#endif
