// CUDA layout kernels: permute, the strided slice copy behind concat, and gather /
// scatter along the last axis. One thread per output element (or per row for gather
// and scatter), grid-stride (tensor/cuda/launch.h), each calling the index math the
// CPU loops call (tensor/kernels/layout.h). Bad indices are reported as the CPU
// reports them (tensor/cuda/bad_index.h).
#include <cuda_runtime.h>

#include "tensor/cuda/bad_index.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/launch.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/layout.h"

namespace vdm::cuda {

namespace {

template <typename T> void launch_permute(const T* x, const kernels::PermuteIndex& pi, T* y,
                                          int64_t n) {
    for_each_index(n, [=] __device__(int64_t j) { y[j] = x[pi.source(j)]; });
}

template <typename T>
void launch_copy_slice(const kernels::SliceIndex& si, T* whole, T* part, bool into_whole,
                       int64_t n) {
    for_each_index(n, [=] __device__(int64_t j) {
        kernels::copy_slice_element(si, whole, part, into_whole, j);
    });
}

// y[r] = x[r, index[r]] for each of the rows of V values.
template <typename T> void launch_gather(const Tensor& x, const Tensor& index, Tensor& y) {
    const int64_t V = x.dim(-1);
    const T* px = x.data<T>();
    const int32_t* pi = index.data<int32_t>();
    T* py = y.data<T>();
    Row* first_bad = reset_first_bad_row();
    for_each_index(index.numel(), [=] __device__(int64_t r) {
        if (!kernels::gather_row(px, pi, py, V, r)) atomicMin(first_bad, Row(r));
    });
    check_first_bad_row(first_bad, index, V, "gather");
}

// dx = 0, then dx[r, index[r]] += dy[r]: rows write disjoint elements, so no atomics.
template <typename T> void launch_scatter(const Tensor& dy, const Tensor& index, Tensor& dx) {
    const int64_t V = dx.dim(-1);
    const T* pdy = dy.data<T>();
    const int32_t* pi = index.data<int32_t>();
    T* pdx = dx.data<T>();
    VDM_CUDA_CHECK(cudaMemset(pdx, 0, dx.bytes()));  // all-zero bits are +0.0
    Row* first_bad = reset_first_bad_row();
    for_each_index(index.numel(), [=] __device__(int64_t r) {
        if (!kernels::scatter_row(pdy, pi, pdx, V, r)) atomicMin(first_bad, Row(r));
    });
    check_first_bad_row(first_bad, index, V, "scatter");
}

}  // namespace

void CudaBackend::permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) {
    const kernels::PermuteIndex pi = kernels::permute_index(x.shape(), perm);
    VDM_DISPATCH_FLOAT(x.dtype(), "permute",
                       launch_permute<T>(x.data<T>(), pi, y.data<T>(), y.numel()));
}

void CudaBackend::copy_slice(Tensor& whole, Tensor& part, int axis, int64_t offset,
                             bool into_whole) {
    const kernels::SliceIndex si = kernels::slice_index(whole.shape(), part.shape(), axis, offset);
    VDM_DISPATCH_FLOAT(whole.dtype(), "concat",
                       launch_copy_slice<T>(si, whole.data<T>(), part.data<T>(), into_whole,
                                            part.numel()));
}

void CudaBackend::gather_last(const Tensor& x, const Tensor& index, Tensor& y) {
    VDM_DISPATCH_FLOAT(x.dtype(), "gather", launch_gather<T>(x, index, y));
}

void CudaBackend::scatter_last(const Tensor& dy, const Tensor& index, Tensor& dx) {
    VDM_DISPATCH_FLOAT(dy.dtype(), "gather_backward", launch_scatter<T>(dy, index, dx));
}

}  // namespace vdm::cuda
