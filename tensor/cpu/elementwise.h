// CPU elementwise kernels: loops over the shared per-element functions of
// tensor/kernels/elementwise.h, and the broadcasting loop shared by every binary op,
// its gradient, and broadcast_to.
#pragma once
#include "tensor/backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/kernels/elementwise.h"

namespace vdm::cpu {

template <typename T> void unary_forward(UnaryOp op, const T* x, T* y, int64_t n) {
    kernels::with_unary_op(op, [&](auto tag) {
        using F = kernels::UnaryFn<T, decltype(tag)::value>;
#pragma omp parallel for if (n > kParallelGrain)
        for (int64_t i = 0; i < n; ++i) y[i] = F::f(x[i]);
    });
}

template <typename T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, int64_t n) {
    kernels::with_unary_op(op, [&](auto tag) {
        constexpr UnaryOp OP = decltype(tag)::value;
#pragma omp parallel for if (n > kParallelGrain)
        for (int64_t i = 0; i < n; ++i) dx[i] = kernels::unary_grad<T, OP>(x[i], y[i], dy[i]);
    });
}

// Visits every element j of `out` with the flat positions ja, jb of the elements of
// a and b that broadcast to it: fn(j, ja, jb). Shapes are right-aligned as in numpy.
// One row (out's last dim) at a time: its start from the shared index math, then a
// constant step along the row.
template <typename Fn>
void for_each_broadcast(const Shape& out, const Shape& a, const Shape& b, Fn&& fn) {
    const kernels::BroadcastIndex bi = kernels::broadcast_index(out, a, b);
    const int64_t cols = bi.dims[3], rows = bi.dims[0] * bi.dims[1] * bi.dims[2];
#pragma omp parallel for if (rows * cols > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
        int64_t base_a, base_b;
        bi.sources(r * cols, base_a, base_b);
        for (int64_t i3 = 0; i3 < cols; ++i3)
            fn(r * cols + i3, base_a + i3 * bi.stride_a[3], base_b + i3 * bi.stride_b[3]);
    }
}

template <typename T>
void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    kernels::with_binary_op(op, [&](auto tag) {
        using F = kernels::BinaryFn<T, decltype(tag)::value>;
        if (a.shape() == b.shape()) {  // the common case: one contiguous loop
            const int64_t n = out.numel();
#pragma omp parallel for if (n > kParallelGrain)
            for (int64_t i = 0; i < n; ++i) po[i] = F::f(pa[i], pb[i]);
            return;
        }
        for_each_broadcast(out.shape(), a.shape(), b.shape(),
                           [&](int64_t j, int64_t ja, int64_t jb) { po[j] = F::f(pa[ja], pb[jb]); });
    });
}

template <typename T>
void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b, const Tensor& dout,
                     Tensor& dinput) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const T* pd = dout.data<T>();
    T* pg = dinput.data<T>();
    kernels::with_binary_op(op, [&](auto tag) {
        constexpr BinaryOp OP = decltype(tag)::value;
        for_each_broadcast(dout.shape(), a.shape(), b.shape(), [&](int64_t j, int64_t ja, int64_t jb) {
            pg[j] = kernels::binary_grad<T, OP>(which, pa[ja], pb[jb], pd[j]);
        });
    });
}

template <typename T> void broadcast_to(const Tensor& x, Tensor& out) {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    for_each_broadcast(out.shape(), x.shape(), x.shape(),
                       [&](int64_t j, int64_t jx, int64_t) { po[j] = px[jx]; });
}

}  // namespace vdm::cpu
