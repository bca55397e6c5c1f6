// CPU layout kernels: permute, the strided slice copy behind concat, and the
// gather / scatter along the last axis behind the categorical decoder. Their index
// math is shared with the CUDA backend (tensor/kernels/layout.h).
#pragma once
#include <cstring>
#include <vector>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels/layout.h"
#include "tensor/tensor.h"

namespace vdm::cpu {

template <typename T> void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) {
    const kernels::PermuteIndex pi = kernels::permute_index(x.shape(), perm);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const int64_t n = y.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t j = 0; j < n; ++j) py[j] = px[pi.source(j)];
}

// whole[..., offset + i, ...] <-> part[..., i, ...] along `axis`: one contiguous run
// per outer index, copied whole.
template <typename T>
void copy_slice(Tensor& whole, Tensor& part, int axis, int64_t offset, bool into_whole) {
    const kernels::SliceIndex si = kernels::slice_index(whole.shape(), part.shape(), axis, offset);
    const int64_t outer = si.part_run == 0 ? 0 : part.numel() / si.part_run;
    T* pw = whole.data<T>();
    T* pp = part.data<T>();
#pragma omp parallel for if (part.numel() > kParallelGrain)
    for (int64_t o = 0; o < outer; ++o) {
        T* w = pw + si.whole_at(o * si.part_run);
        T* p = pp + o * si.part_run;
        if (into_whole)
            std::memcpy(static_cast<void*>(w), p, size_t(si.part_run) * sizeof(T));
        else
            std::memcpy(static_cast<void*>(p), w, size_t(si.part_run) * sizeof(T));
    }
}

// Checks every index lies in [0, V) before any kernel reads with it.
inline void check_indices(const Tensor& index, int64_t V, const char* op) {
    const int32_t* pi = index.data<int32_t>();
    for (int64_t i = 0; i < index.numel(); ++i)
        if (!kernels::index_in_range(pi[i], V)) kernels::fail_index(op, pi[i], i, V);
}

template <typename T> void gather_last(const Tensor& x, const Tensor& index, Tensor& y) {
    const int64_t V = x.dim(-1), rows = index.numel();
    check_indices(index, V, "gather");
    const T* px = x.data<T>();
    const int32_t* pi = index.data<int32_t>();
    T* py = y.data<T>();
#pragma omp parallel for if (rows > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) kernels::gather_row(px, pi, py, V, r);
}

template <typename T> void scatter_last(const Tensor& dy, const Tensor& index, Tensor& dx) {
    const int64_t V = dx.dim(-1), rows = index.numel();
    check_indices(index, V, "scatter");
    const T* pdy = dy.data<T>();
    const int32_t* pi = index.data<int32_t>();
    T* pdx = dx.data<T>();
    std::memset(static_cast<void*>(pdx), 0, size_t(dx.numel()) * sizeof(T));
#pragma omp parallel for if (rows > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) kernels::scatter_row(pdy, pi, pdx, V, r);
}

}  // namespace vdm::cpu
