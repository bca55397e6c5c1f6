// CPU layout kernels: permute, the strided slice copy behind concat, and the
// gather / scatter along the last axis behind the categorical decoder.
#pragma once
#include <cstring>
#include <vector>

#include "tensor/cpu/parallel.h"
#include "tensor/tensor.h"

namespace vdm::cpu {

template <typename T> void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) {
    const int nd = x.ndim(), pad = 4 - nd;
    auto xs = x.shape().strides();
    std::array<int64_t, 4> ydims{1, 1, 1, 1}, src_stride{0, 0, 0, 0};
    for (int i = 0; i < nd; ++i) {
        ydims[size_t(pad + i)] = y.dim(i);
        src_stride[size_t(pad + i)] = xs[size_t(perm[size_t(i)])];  // step in x per step of y's axis i
    }
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const int64_t n = y.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t j = 0; j < n; ++j) {
        int64_t rest = j, src = 0;
        for (int i = 3; i >= 0; --i) {
            src += (rest % ydims[size_t(i)]) * src_stride[size_t(i)];
            rest /= ydims[size_t(i)];
        }
        py[j] = px[src];
    }
}

// whole[..., offset + i, ...] <-> part[..., i, ...] along `axis`.
template <typename T>
void copy_slice(Tensor& whole, Tensor& part, int axis, int64_t offset, bool into_whole) {
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= whole.dim(i);
    for (int i = axis + 1; i < whole.ndim(); ++i) inner *= whole.dim(i);
    const int64_t whole_run = whole.dim(axis) * inner, part_run = part.dim(axis) * inner;
    T* pw = whole.data<T>() + offset * inner;
    T* pp = part.data<T>();
#pragma omp parallel for if (outer * part_run > kParallelGrain)
    for (int64_t o = 0; o < outer; ++o) {
        T* w = pw + o * whole_run;
        T* p = pp + o * part_run;
        if (into_whole)
            std::memcpy(static_cast<void*>(w), p, size_t(part_run) * sizeof(T));
        else
            std::memcpy(static_cast<void*>(p), w, size_t(part_run) * sizeof(T));
    }
}

// Checks every index lies in [0, V) before any kernel reads with it.
inline void check_indices(const Tensor& index, int64_t V, const char* op) {
    const int32_t* pi = index.data<int32_t>();
    for (int64_t i = 0; i < index.numel(); ++i)
        VDM_CHECK(pi[i] >= 0 && pi[i] < V, op, ": index ", pi[i], " at position ", i,
                  " is outside [0, ", V, ")");
}

template <typename T> void gather_last(const Tensor& x, const Tensor& index, Tensor& y) {
    const int64_t V = x.dim(-1), rows = index.numel();
    check_indices(index, V, "gather");
    const T* px = x.data<T>();
    const int32_t* pi = index.data<int32_t>();
    T* py = y.data<T>();
#pragma omp parallel for if (rows > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) py[r] = px[r * V + pi[r]];
}

template <typename T> void scatter_last(const Tensor& dy, const Tensor& index, Tensor& dx) {
    const int64_t V = dx.dim(-1), rows = index.numel();
    check_indices(index, V, "scatter");
    const T* pdy = dy.data<T>();
    const int32_t* pi = index.data<int32_t>();
    T* pdx = dx.data<T>();
    std::memset(static_cast<void*>(pdx), 0, size_t(dx.numel()) * sizeof(T));
    for (int64_t r = 0; r < rows; ++r) pdx[r * V + pi[r]] += pdy[r];
}

}  // namespace vdm::cpu
