// CUDA softmax and log-softmax over the last axis, forward and backward; the
// per-thread arithmetic and the math are in tensor/kernels/softmax.h, the block
// reduction in tensor/kernels/reduce.h (deterministic: fixed per-thread order, fixed
// tree, no atomics).
//   forward:  block per row: max, then sum(exp(x - max)) (writing exp), then y
//   backward: block per row: sum(dy) or sum(dy y), then dx
// kReduceThreads threads and kReduceThreads doubles of shared memory per block; any
// row length V >= 1 (a thread visits V / kReduceThreads positions, rounded either way).
#include "tensor/cuda/check.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/softmax.h"

namespace vdm::cuda {

namespace {

using kernels::kReduceThreads;

// x, y (rows, V)
template <typename T>
__global__ void softmax_forward_kernel(const T* x, int64_t rows, int64_t V, bool log, T* y) {
    __shared__ double shared[kReduceThreads];
    const int t = int(threadIdx.x);
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * V;
        T* yr = y + r * V;
        const T row_max =
            T(kernels::block_reduce(kernels::row_max_partial(xr, V, t), shared, kernels::Max{}));
        const double exp_sum =
            kernels::block_reduce(kernels::exp_sum_partial(xr, yr, V, row_max, t), shared);
        kernels::softmax_write(xr, yr, V, log, row_max, exp_sum, t);
    }
}

// y, dy, dx (rows, V)
template <typename T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, int64_t rows, int64_t V, bool log,
                                        T* dx) {
    __shared__ double shared[kReduceThreads];
    const int t = int(threadIdx.x);
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const double sum = kernels::block_reduce(
            kernels::softmax_backward_partial(y + r * V, dy + r * V, V, log, t), shared);
        kernels::softmax_backward_write(y + r * V, dy + r * V, dx + r * V, V, log, sum, t);
    }
}

}  // namespace

void CudaBackend::softmax_forward(const Tensor& x, bool log, Tensor& y) {
    check_compatible("softmax", x, y);
    check_same_shape("softmax", x, y);
    if (x.numel() == 0) return;
    const int64_t V = x.dim(-1), rows = x.numel() / V;
    VDM_DISPATCH_FLOAT(x.dtype(), "softmax", {
        softmax_forward_kernel<<<kernels::reduce_blocks(rows), kReduceThreads>>>(
            x.data<T>(), rows, V, log, y.data<T>());
        VDM_CUDA_CHECK_LAUNCH();
    });
}

void CudaBackend::softmax_backward(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) {
    check_compatible("softmax_backward", y, dy);
    check_same_shape("softmax_backward", y, dy);
    check_same_shape("softmax_backward", y, dx);
    if (y.numel() == 0) return;
    const int64_t V = y.dim(-1), rows = y.numel() / V;
    VDM_DISPATCH_FLOAT(y.dtype(), "softmax_backward", {
        softmax_backward_kernel<<<kernels::reduce_blocks(rows), kReduceThreads>>>(
            y.data<T>(), dy.data<T>(), rows, V, log, dx.data<T>());
        VDM_CUDA_CHECK_LAUNCH();
    });
}

}  // namespace vdm::cuda
