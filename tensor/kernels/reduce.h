// The deterministic block reduction behind every CUDA reduction kernel, and the
// index math of sum_to_shape. Shared by the CUDA kernels (tensor/cuda/reduce.cu,
// group_norm.cu, softmax.cu, optim.cu) and the host tests that emulate them.
//
// A block of T = kReduceThreads threads reduces one row of n values in two fixed steps:
//   1. thread t combines (adds, or takes the max of), in double, the values
//      t, t + T, t + 2T, ... < n, in that order;
//   2. the T partials meet in a fixed pairwise tree:
//        for stride = T/2, T/4, ..., 1:  partial[t] = combine(partial[t], partial[t + stride]),
//                                        for t < stride
// Nothing depends on timing, on the grid size or on atomics, so a row's result is the
// same bits on every run. emulate_block_reduce() runs the same order on the host.
#pragma once
#include <cstdint>

#include "tensor/error.h"
#include "tensor/kernels/host_device.h"
#include "tensor/shape.h"

namespace vdm::kernels {

constexpr int kReduceThreads = 256;  // threads per reducing block; a power of two for the tree

struct Sum {
    VDM_HOST_DEVICE double operator()(double a, double b) const { return a + b; }
};
struct Max {
    VDM_HOST_DEVICE double operator()(double a, double b) const { return a > b ? a : b; }
};

// Step 1: thread t's sum of value(i) over i = t, t + T, ... < n.
template <typename Value>
VDM_HOST_DEVICE inline double thread_sum(const Value& value, int64_t n, int t) {
    double acc = 0.0;
    for (int64_t i = t; i < n; i += kReduceThreads) acc += value(i);
    return acc;
}

// Step 1 for a maximum (n >= 1). A thread without elements holds value(0), which is
// in the row, so it never changes the row's maximum.
template <typename Value>
VDM_HOST_DEVICE inline double thread_max(const Value& value, int64_t n, int t) {
    double m = value(0);
    for (int64_t i = t; i < n; i += kReduceThreads) m = Max{}(m, value(i));
    return m;
}

// Step 2, one level of the tree for thread t (reads [stride, 2 stride), writes [0, stride)).
template <typename Combine>
VDM_HOST_DEVICE inline void tree_level(double* partial, int t, int stride, Combine combine) {
    if (t < stride) partial[t] = combine(partial[t], partial[t + stride]);
}

// The block reduction on the host, in the device's order: partial_of(t) is thread
// t's step-1 result.
template <typename Partial, typename Combine = Sum>
double emulate_block_reduce(const Partial& partial_of, Combine combine = {}) {
    double partial[kReduceThreads];
    for (int t = 0; t < kReduceThreads; ++t) partial[t] = partial_of(t);
    for (int stride = kReduceThreads / 2; stride > 0; stride /= 2)
        for (int t = 0; t < stride; ++t) tree_level(partial, t, stride, combine);
    return partial[0];
}

// Grid size for `items` independent block-sized work items (rows, groups, pieces).
// Kernels walk the items with a block-stride loop, so a capped grid covers any count,
// and which block takes an item never changes its result.
inline unsigned reduce_blocks(int64_t items) {
    constexpr int64_t kMaxBlocks = 1 << 16;
    return unsigned(items < 1 ? 1 : (items > kMaxBlocks ? kMaxBlocks : items));
}

#ifdef __CUDACC__
// The block reduction on the device: every thread of a kReduceThreads block passes
// its step-1 result and gets the block's total. `shared` holds kReduceThreads doubles;
// it may be reused as soon as this returns.
template <typename Combine = Sum>
__device__ double block_reduce(double mine, double* shared, Combine combine = {}) {
    const int t = int(threadIdx.x);
    shared[t] = mine;
    __syncthreads();
    for (int stride = kReduceThreads / 2; stride > 0; stride /= 2) {
        tree_level(shared, t, stride, combine);
        __syncthreads();
    }
    const double total = shared[0];
    __syncthreads();  // all have read shared[0] before a next reduction overwrites it
    return total;
}
#endif

// ---------------------------------------------------------------------------------
// sum_to_shape: out[j] = sum of x over the positions that broadcast to j. Dims are
// compared right-aligned (numpy); each out dim is 1 (summed over: "reduced") or equal
// to x's ("kept"). Dims of size 1 in x are dropped and neighbours of the same kind
// merged, so the model's cases have one or two dims of each kind, innermost first:
//   (B, C, H, W) -> (1, C, 1, 1): kept {C: stride HW}, reduced {HW: stride 1, B: stride C HW}
//   (B, D) -> (1, D):             kept {D: stride 1},  reduced {B: stride D}
//   (B, D) -> (B, 1):             kept {B: stride D},  reduced {D: stride 1}
// Output j sums x[base(j) + offset(r)] for r in [0, reduced): j and r are read as
// mixed-radix numbers over the kept and the reduced dims.
struct SumToShapeIndex {
    int kept_dims = 0, reduced_dims = 0;
    int64_t kept_size[Shape::kMaxDims] = {}, kept_stride[Shape::kMaxDims] = {};
    int64_t reduced_size[Shape::kMaxDims] = {}, reduced_stride[Shape::kMaxDims] = {};
    int64_t outputs = 1, reduced = 1;  // out.numel(), and the x elements in each output

    // x's offset of digit string i over dims (size, stride), innermost first; the
    // outermost digit needs no modulo.
    VDM_HOST_DEVICE static int64_t radix_offset(int64_t i, const int64_t* size,
                                                const int64_t* stride, int dims) {
        int64_t offset = 0;
        for (int k = 0; k + 1 < dims; ++k) {
            offset += (i % size[k]) * stride[k];
            i /= size[k];
        }
        return dims > 0 ? offset + i * stride[dims - 1] : 0;
    }
    VDM_HOST_DEVICE int64_t base(int64_t j) const {
        return radix_offset(j, kept_size, kept_stride, kept_dims);
    }
    VDM_HOST_DEVICE int64_t offset(int64_t r) const {
        return radix_offset(r, reduced_size, reduced_stride, reduced_dims);
    }
    // Whether x's innermost dim is summed over, so one output's elements lie in runs of
    // contiguous memory (else neighbouring outputs are neighbours in memory).
    VDM_HOST_DEVICE bool reduces_innermost() const {
        return reduced_dims > 0 && reduced_stride[0] == 1;
    }
};

inline SumToShapeIndex sum_to_shape_index(const Shape& x, const Shape& out) {
    const auto dx = x.padded(), dout = out.padded();
    SumToShapeIndex index;
    int64_t stride = 1;
    int last_kind = -1;  // of the previous dim kept: 0 kept, 1 reduced
    for (int i = Shape::kMaxDims - 1; i >= 0; --i) {
        const int64_t size = dx[size_t(i)], out_size = dout[size_t(i)];
        VDM_CHECK(out_size == size || out_size == 1, "sum_to_shape: ", out.str(),
                  " does not broadcast to ", x.str());
        if (size != 1) {
            const int kind = out_size == 1 ? 1 : 0;
            int& dims = kind ? index.reduced_dims : index.kept_dims;
            int64_t* sizes = kind ? index.reduced_size : index.kept_size;
            int64_t* strides = kind ? index.reduced_stride : index.kept_stride;
            if (kind == last_kind) {
                sizes[dims - 1] *= size;  // the outer neighbour continues the same run
            } else {
                sizes[dims] = size;
                strides[dims] = stride;
                ++dims;
            }
            (kind ? index.reduced : index.outputs) *= size;
            last_kind = kind;
        }
        stride *= size;
    }
    return index;
}

// How the CUDA kernel splits the work: output j's `reduced` elements are cut into
// `chunks` pieces of `chunk` elements, each summed on its own, then the pieces are
// added (by a block reduction) in a second pass; with one chunk the first pass
// writes the output directly. The split depends on the shapes only.
//   rows (x's innermost dim is summed): one block per (output, chunk), block reduction;
//   columns (else):                     one thread per (output, chunk), serial sum, so
//                                       neighbouring threads read neighbouring addresses.
constexpr int64_t kRowChunk = 16 * kReduceThreads;
constexpr int64_t kColumnChunk = 64;

struct SumToShapePlan {
    SumToShapeIndex index;
    bool rows = false;
    int64_t chunk = 1, chunks = 1;
    int64_t pieces() const { return index.outputs * chunks; }  // first-pass results
};

inline SumToShapePlan plan_sum_to_shape(const Shape& x, const Shape& out) {
    SumToShapePlan plan;
    plan.index = sum_to_shape_index(x, out);
    plan.rows = plan.index.reduces_innermost();
    plan.chunk = plan.rows ? kRowChunk : kColumnChunk;
    plan.chunks = (plan.index.reduced + plan.chunk - 1) / plan.chunk;
    if (plan.chunks < 1) plan.chunks = 1;
    return plan;
}

// Elements [begin, begin + count) of output j's reduced positions: piece p = (j, chunk s),
// whose first-pass result is stored at partial[p] = partial[j * chunks + s].
struct Piece {
    int64_t base, begin, count;
    VDM_HOST_DEVICE Piece(const SumToShapePlan& plan, int64_t p) {
        const int64_t j = p / plan.chunks, s = p % plan.chunks;
        base = plan.index.base(j);
        begin = s * plan.chunk;
        count = plan.index.reduced - begin < plan.chunk ? plan.index.reduced - begin : plan.chunk;
    }
};

// Rows, first pass: thread t's step-1 sum over piece p (block p).
template <typename T>
VDM_HOST_DEVICE inline double piece_thread_sum(const T* x, const SumToShapePlan& plan, int64_t p,
                                               int t) {
    const Piece piece(plan, p);
    return thread_sum(
        [&](int64_t i) { return double(x[piece.base + plan.index.offset(piece.begin + i)]); },
        piece.count, t);
}

// Columns, first pass: thread i of the grid sums piece column_piece(i) serially. The
// threads run output-fastest, so neighbouring threads read neighbouring addresses.
VDM_HOST_DEVICE inline int64_t column_piece(const SumToShapePlan& plan, int64_t i) {
    const int64_t j = i % plan.index.outputs, s = i / plan.index.outputs;
    return j * plan.chunks + s;
}
template <typename T>
VDM_HOST_DEVICE inline double piece_serial_sum(const T* x, const SumToShapePlan& plan, int64_t p) {
    const Piece piece(plan, p);
    double acc = 0.0;
    for (int64_t i = 0; i < piece.count; ++i)
        acc += double(x[piece.base + plan.index.offset(piece.begin + i)]);
    return acc;
}

// Second pass: thread t's step-1 sum over output j's chunk results (block j).
VDM_HOST_DEVICE inline double chunks_thread_sum(const double* partial, int64_t chunks, int64_t j,
                                                int t) {
    return thread_sum([&](int64_t s) { return partial[j * chunks + s]; }, chunks, t);
}

// ---------------------------------------------------------------------------------
// sum_squares (gradient clipping's norm): one block over all n elements of x; thread
// t's step-1 sum of x^2.
template <typename T>
VDM_HOST_DEVICE inline double squares_thread_sum(const T* x, int64_t n, int t) {
    return thread_sum([&](int64_t i) { return double(x[i]) * double(x[i]); }, n, t);
}

}  // namespace vdm::kernels
