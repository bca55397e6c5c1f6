// CPU kernels for filling, converting, accumulating and checking whole tensors.
// Their per-element math is shared with the CUDA backend (tensor/cuda/basic.cu):
// affine from tensor/kernels/elementwise.h, the finiteness test from
// tensor/kernels/host_device.h, the random draws from tensor/rng.h.
#pragma once
#include <cstdint>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels/elementwise.h"
#include "tensor/kernels/host_device.h"

namespace vdm::cpu {

template <typename T> void fill(T* p, T value, int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) p[i] = value;
}

template <typename To, typename From> void convert(const From* src, To* dst, int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) dst[i] = To(src[i]);
}

template <typename T> void accumulate(T* dst, const T* src, int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// y = scale * x + shift
template <typename T> void affine(const T* x, T scale, T shift, T* y, int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) y[i] = kernels::affine_element(x[i], scale, shift);
}

template <typename T> bool all_finite(const T* p, int64_t n) {
    bool finite = true;
#pragma omp parallel for reduction(&& : finite) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) finite = finite && kernels::is_finite(p[i]);
    return finite;
}

// p[i] = draw(seed, offset + i): a counter-based draw (tensor/rng.h), so the
// values do not depend on how the loop is split across threads.
template <typename T, typename Draw>
void fill_random(T* p, int64_t n, uint64_t seed, uint64_t offset, Draw draw) {
#pragma omp parallel for if (n > kParallelGrain / 8)
    for (int64_t i = 0; i < n; ++i) p[i] = T(draw(seed, offset + uint64_t(i)));
}

}  // namespace vdm::cpu
