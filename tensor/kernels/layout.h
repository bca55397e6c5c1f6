// Per-element index math of the layout kernels, shared by the CPU and CUDA backends:
// permute (output element -> source element), the strided slice copy behind concat
// (part element <-> whole element), and one row of gather / scatter along the last
// axis. The CPU loops (tensor/cpu/layout.h) and the CUDA threads
// (tensor/cuda/layout.cu) call these; tests/test_kernels_shared_elementwise.cpp runs
// them on the host the way the CUDA kernels do.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/error.h"
#include "tensor/kernels/host_device.h"
#include "tensor/shape.h"

namespace vdm::kernels {

// y = x with axes reordered, y.dim(i) = x.dim(perm[i]). Both shapes are left-padded
// to 4 dims; a step along y's axis i is a step of x's stride along axis perm[i].
struct PermuteIndex {
    int64_t ydims[4];       // y's shape, padded
    int64_t src_stride[4];  // x's stride along the axis that becomes y's axis i

    // The flat position in x of y's element j.
    VDM_HOST_DEVICE int64_t source(int64_t j) const {
        int64_t src = 0;
        for (int i = 3; i >= 0; --i) {
            src += (j % ydims[i]) * src_stride[i];
            j /= ydims[i];
        }
        return src;
    }
};

inline PermuteIndex permute_index(const Shape& x, const std::vector<int>& perm) {
    const int nd = x.ndim(), pad = 4 - nd;
    const auto xs = x.strides();
    PermuteIndex pi{{1, 1, 1, 1}, {0, 0, 0, 0}};
    for (int i = 0; i < nd; ++i) {
        const int from = perm[size_t(i)];
        pi.ydims[pad + i] = x[from];
        pi.src_stride[pad + i] = xs[size_t(from)];
    }
    return pi;
}

// whole[..., offset + i, ...] <-> part[..., i, ...] along one axis. With `inner` the
// product of the dims after the axis, both tensors are (outer, dim(axis) * inner) in
// row-major order: part's row o is a run of part_run values inside whole's row o,
// starting offset * inner into it.
struct SliceIndex {
    int64_t part_run;   // part.dim(axis) * inner
    int64_t whole_run;  // whole.dim(axis) * inner
    int64_t start;      // offset * inner

    // The flat position in whole of part's element j.
    VDM_HOST_DEVICE int64_t whole_at(int64_t j) const {
        return (j / part_run) * whole_run + start + j % part_run;
    }
};

inline SliceIndex slice_index(const Shape& whole, const Shape& part, int axis, int64_t offset) {
    int64_t inner = 1;
    for (int i = axis + 1; i < whole.ndim(); ++i) inner *= whole[i];
    return SliceIndex{part[axis] * inner, whole[axis] * inner, offset * inner};
}

// One element of copy_slice: part's element j to its place in whole, or back.
template <typename T>
VDM_HOST_DEVICE inline void copy_slice_element(const SliceIndex& si, T* whole, T* part,
                                               bool into_whole, int64_t j) {
    const int64_t w = si.whole_at(j);
    if (into_whole)
        whole[w] = part[j];
    else
        part[j] = whole[w];
}

// Gather and scatter along the last axis of V values: row r of x (or dx) is
// [r V, r V + V) and index[r] picks one value in it. An index outside [0, V) reads
// or writes nothing and returns false (the caller reports it).
VDM_HOST_DEVICE inline bool index_in_range(int32_t index, int64_t V) {
    return index >= 0 && index < V;
}

// The error for a bad index, worded the same by both backends.
[[noreturn]] inline void fail_index(const char* op, int32_t index, int64_t position, int64_t V) {
    fail(op, ": index ", index, " at position ", position, " is outside [0, ", V, ")");
}

// y[r] = x[r, index[r]]
template <typename T>
VDM_HOST_DEVICE inline bool gather_row(const T* x, const int32_t* index, T* y, int64_t V,
                                       int64_t r) {
    const int32_t i = index[r];
    if (!index_in_range(i, V)) return false;
    y[r] = x[r * V + i];
    return true;
}

// dx[r, index[r]] += dy[r], on a dx already zeroed. Each row has one index, so rows
// touch disjoint elements and may run in parallel.
template <typename T>
VDM_HOST_DEVICE inline bool scatter_row(const T* dy, const int32_t* index, T* dx, int64_t V,
                                        int64_t r) {
    const int32_t i = index[r];
    if (!index_in_range(i, V)) return false;
    dx[r * V + i] += dy[r];
    return true;
}

}  // namespace vdm::kernels
