// Shared by the CPU and CUDA backends: the marker for functions that run on both,
// and the few math functions whose best spelling differs between them.
//
// Every kernel's per-element (or per-thread) arithmetic lives in a VDM_HOST_DEVICE
// function under tensor/kernels/. The CPU kernels call it in their loops, the CUDA
// kernels call it per thread, and the tests call it on the host to check indexing
// and numerics on machines without a GPU.
#pragma once
#include <cmath>

#ifdef __CUDACC__
#define VDM_HOST_DEVICE __host__ __device__
#else
#define VDM_HOST_DEVICE
#endif

#include "tensor/cpu/simd_exp.h"

namespace vdm::kernels {

// exp: the vectorizable polynomial on the CPU (tensor/cpu/simd_exp.h), the hardware
// exp on the GPU. Both are within a few ulp of the correctly rounded value.
template <typename T> VDM_HOST_DEVICE inline T fast_exp(T x) {
#ifdef __CUDA_ARCH__
    return exp(x);
#else
    return cpu::simd_exp(x);
#endif
}

// Overloads that resolve to the float or double version on both sides (on the host,
// std:: picks the overload; on the device, CUDA's math library provides them).
#ifdef __CUDA_ARCH__
#define VDM_MATH(name) \
    template <typename T> __device__ inline T name(T x) { return ::name(x); }
#else
#define VDM_MATH(name) \
    template <typename T> inline T name(T x) { return std::name(x); }
#endif
VDM_MATH(log) VDM_MATH(expm1) VDM_MATH(log1p) VDM_MATH(sqrt) VDM_MATH(sin) VDM_MATH(cos)
VDM_MATH(exp)
#undef VDM_MATH

// |x| with the sign bit cleared (so abs(-0.0) is +0.0, as std::abs gives).
#ifdef __CUDA_ARCH__
template <typename T> __device__ inline T abs(T x) { return ::fabs(x); }
#else
template <typename T> inline T abs(T x) { return std::abs(x); }
#endif
template <typename T> VDM_HOST_DEVICE inline T max(T a, T b) { return a > b ? a : b; }
template <typename T> VDM_HOST_DEVICE inline bool is_finite(T x) { return x - x == T(0); }

}  // namespace vdm::kernels
