// Launch helpers shared by the CUDA family files: a grid-stride loop over n indices
// whose body is a device lambda (usually one call of a tensor/kernels/ function).
#pragma once
#include <cstdint>

#include "tensor/cuda/check.h"

namespace vdm::cuda {

constexpr int kThreads = 256;  // threads per block for elementwise kernels

// Enough blocks to cover n, capped so huge tensors loop instead (4 waves on 132 SMs).
inline unsigned blocks_for(int64_t n) {
    const int64_t blocks = (n + kThreads - 1) / kThreads;
    return unsigned(blocks < 1 ? 1 : (blocks > 132 * 16 ? 132 * 16 : blocks));
}

template <typename Body> __global__ void for_each_index_kernel(int64_t n, Body body) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        body(i);
}

// body(i) for i in [0, n), on the backend's stream (the default stream).
template <typename Body> void for_each_index(int64_t n, Body body) {
    if (n <= 0) return;
    for_each_index_kernel<<<blocks_for(n), kThreads>>>(n, body);
    VDM_CUDA_CHECK_LAUNCH();
}

}  // namespace vdm::cuda
