// CUDA kernels for filling, converting, accumulating and checking whole tensors, and
// the random fills. One thread per element (grid-stride, tensor/cuda/launch.h); the
// per-element math is the CPU's (tensor/cpu/basic.h): tensor/rng.h for the draws, so
// element i holds the same bits on both backends for the same seed and offset.
#include <cuda_runtime.h>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/launch.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/host_device.h"
#include "tensor/rng.h"

namespace vdm::cuda {

namespace {

template <typename V> void launch_fill(V* p, V value, int64_t n) {
    for_each_index(n, [=] __device__(int64_t i) { p[i] = value; });
}

template <typename From, typename To> void launch_convert(const From* src, To* dst, int64_t n) {
    for_each_index(n, [=] __device__(int64_t i) { dst[i] = To(src[i]); });
}

template <typename T> void launch_accumulate(T* dst, const T* src, int64_t n) {
    for_each_index(n, [=] __device__(int64_t i) { dst[i] += src[i]; });
}

// Any thread that sees a NaN or an infinity stores 1 in *flag (a plain int store:
// every writer writes the same value, so the result does not depend on order).
template <typename T> void launch_all_finite(const T* p, int64_t n, int* flag) {
    for_each_index(n, [=] __device__(int64_t i) {
        if (!kernels::is_finite(p[i])) *flag = 1;
    });
}

// p[i] = draw(seed, offset + i), draw one of tensor/rng.h's host-device draws.
template <typename T, typename Draw>
void launch_fill_random(Tensor& t, uint64_t seed, uint64_t offset, Draw draw) {
    T* p = t.data<T>();
    for_each_index(t.numel(),
                   [=] __device__(int64_t i) { p[i] = T(draw(seed, offset + uint64_t(i))); });
}

}  // namespace

void CudaBackend::fill(Tensor& t, double value) {
    with_any_dtype(t, [&](auto* p) {
        using V = std::remove_pointer_t<decltype(p)>;
        launch_fill<V>(p, V(value), t.numel());
    });
}

void CudaBackend::convert(const Tensor& src, Tensor& dst) {
    with_any_dtype(src, [&](const auto* s) {
        with_any_dtype(dst, [&](auto* d) { launch_convert(s, d, src.numel()); });
    });
}

void CudaBackend::accumulate(Tensor& dst, const Tensor& src) {
    VDM_DISPATCH_FLOAT(dst.dtype(), "accumulate",
                       launch_accumulate<T>(dst.data<T>(), src.data<T>(), dst.numel()));
}

bool CudaBackend::all_finite(const Tensor& t) {
    int* flag = static_cast<int*>(workspace(sizeof(int)));
    VDM_CUDA_CHECK(cudaMemset(flag, 0, sizeof(int)));
    VDM_DISPATCH_FLOAT(t.dtype(), "all_finite", launch_all_finite<T>(t.data<T>(), t.numel(), flag));
    int found = 0;
    VDM_CUDA_CHECK(cudaMemcpy(&found, flag, sizeof(int), cudaMemcpyDeviceToHost));
    return found == 0;
}

void CudaBackend::fill_normal(Tensor& t, uint64_t seed, uint64_t offset) {
    auto draw = [] __device__(uint64_t s, uint64_t i) { return normal_at(s, i); };
    VDM_DISPATCH_FLOAT(t.dtype(), "fill_normal", launch_fill_random<T>(t, seed, offset, draw));
}

void CudaBackend::fill_uniform(Tensor& t, uint64_t seed, uint64_t offset) {
    auto draw = [] __device__(uint64_t s, uint64_t i) { return uniform_at(s, i); };
    VDM_DISPATCH_FLOAT(t.dtype(), "fill_uniform", launch_fill_random<T>(t, seed, offset, draw));
}

void CudaBackend::fill_keep_mask(Tensor& t, double p, uint64_t seed, uint64_t offset) {
    auto draw = [p] __device__(uint64_t s, uint64_t i) { return keep_at(s, i, p); };
    VDM_DISPATCH_FLOAT(t.dtype(), "dropout", launch_fill_random<T>(t, seed, offset, draw));
}

}  // namespace vdm::cuda
