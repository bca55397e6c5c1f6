// CUDA sum_to_shape: out[j] = sum of x over the positions that broadcast to j (numpy,
// right-aligned), accumulated in double and deterministic: no atomics, a fixed split
// of the work that depends on the shapes only, and fixed summation orders. The split,
// the index math and the per-thread sums are in tensor/kernels/reduce.h:
//   pass 1, x's innermost dim summed ("rows", e.g. (B, C, H, W) -> (1, C, 1, 1) or
//           (B, D) -> (B, 1), and the full sum): one block per piece (output, chunk),
//           kReduceThreads threads, a block reduction; coalesced along the row.
//   pass 1, x's innermost dim kept ("columns", e.g. (B, D) -> (1, D)): one thread per
//           piece summing it serially; neighbouring threads read neighbouring addresses.
//   pass 2, only when an output has several chunks: one block per output adds its
//           chunk sums (stored in the workspace) by a block reduction.
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/launch.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/reduce.h"

namespace vdm::cuda {

namespace {

using kernels::kReduceThreads;
using kernels::SumToShapePlan;

// A piece's sum goes to the output when the output has one chunk, else to the workspace.
template <typename T>
__device__ void store_piece(const SumToShapePlan& plan, int64_t p, double sum, T* out,
                            double* partial) {
    if (plan.chunks == 1)
        out[p] = T(sum);  // p is the output index
    else
        partial[p] = sum;
}

// Pass 1, rows: block p sums piece p.
template <typename T>
__global__ void sum_pieces_by_blocks(const T* x, SumToShapePlan plan, T* out, double* partial) {
    __shared__ double shared[kReduceThreads];
    const int t = int(threadIdx.x);
    const int64_t pieces = plan.index.outputs * plan.chunks;
    for (int64_t p = blockIdx.x; p < pieces; p += gridDim.x) {
        const double sum = kernels::block_reduce(kernels::piece_thread_sum(x, plan, p, t), shared);
        if (t == 0) store_piece(plan, p, sum, out, partial);
    }
}

// Pass 2: block j adds output j's chunk sums.
template <typename T>
__global__ void sum_chunks(const double* partial, int64_t outputs, int64_t chunks, T* out) {
    __shared__ double shared[kReduceThreads];
    const int t = int(threadIdx.x);
    for (int64_t j = blockIdx.x; j < outputs; j += gridDim.x) {
        const double sum = kernels::block_reduce(kernels::chunks_thread_sum(partial, chunks, j, t),
                                                 shared);
        if (t == 0) out[j] = T(sum);
    }
}

template <typename T>
void launch_sum_to_shape(const T* x, const SumToShapePlan& plan, T* out, double* partial) {
    const int64_t pieces = plan.pieces();
    if (plan.rows) {
        sum_pieces_by_blocks<<<kernels::reduce_blocks(pieces), kReduceThreads>>>(x, plan, out,
                                                                                 partial);
        VDM_CUDA_CHECK_LAUNCH();
    } else {
        for_each_index(pieces, [=] __device__(int64_t i) {
            const int64_t p = kernels::column_piece(plan, i);
            store_piece(plan, p, kernels::piece_serial_sum(x, plan, p), out, partial);
        });
    }
    if (plan.chunks > 1) {
        sum_chunks<<<kernels::reduce_blocks(plan.index.outputs), kReduceThreads>>>(
            partial, plan.index.outputs, plan.chunks, out);
        VDM_CUDA_CHECK_LAUNCH();
    }
}

}  // namespace

void CudaBackend::sum_to_shape(const Tensor& x, Tensor& out) {
    check_compatible("sum_to_shape", x, out);
    if (out.numel() == 0) return;
    const SumToShapePlan plan = kernels::plan_sum_to_shape(x.shape(), out.shape());
    double* partial = plan.chunks > 1
                          ? static_cast<double*>(workspace(size_t(plan.pieces()) * sizeof(double)))
                          : nullptr;
    VDM_DISPATCH_FLOAT(x.dtype(), "sum_to_shape",
                       launch_sum_to_shape(x.data<T>(), plan, out.data<T>(), partial));
}

}  // namespace vdm::cuda
