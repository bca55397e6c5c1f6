// Bad indices on the GPU, reported as the CPU reports them. The CPU checks every index
// before it reads. Here each thread checks its own row; one that finds an index outside
// [0, V) lowers a device word to its row with an integer atomicMin, so after the kernel
// the word holds the first bad row whatever the thread order, and the error names the
// same index and position as the CPU's (kernels::fail_index). Used by gather and
// scatter (layout.cu) and the decoder's log-probability (decoder.cu).
#pragma once
#include <cuda_runtime.h>

#include "tensor/cuda/check.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/kernels/layout.h"

namespace vdm::cuda {

using Row = unsigned long long;  // a row number in atomicMin's 64-bit type
constexpr Row kNoBadRow = ~Row(0);

// A device word for the first bad row, set to kNoBadRow (the workspace: valid for
// this one op).
inline Row* reset_first_bad_row() {
    auto* first_bad = static_cast<Row*>(the_backend().workspace(sizeof(kNoBadRow)));
    VDM_CUDA_CHECK(cudaMemset(first_bad, 0xFF, sizeof(kNoBadRow)));  // all ones: kNoBadRow
    return first_bad;
}

// After the kernel: throws the CPU's error for the first bad row, if there was one.
inline void check_first_bad_row(const Row* first_bad, const Tensor& index, int64_t V,
                                const char* op) {
    Row row = kNoBadRow;
    VDM_CUDA_CHECK(cudaMemcpy(&row, first_bad, sizeof(row), cudaMemcpyDeviceToHost));
    if (row == kNoBadRow) return;
    int32_t bad = 0;
    VDM_CUDA_CHECK(cudaMemcpy(&bad, index.data<int32_t>() + row, sizeof(bad),
                              cudaMemcpyDeviceToHost));
    kernels::fail_index(op, bad, int64_t(row), V);
}

}  // namespace vdm::cuda
