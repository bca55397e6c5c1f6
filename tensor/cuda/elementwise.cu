// CUDA elementwise kernels: unary functions and their derivatives, affine, binary
// ops with numpy broadcasting and their gradients, broadcast_to. One thread per
// output element (grid-stride, tensor/cuda/launch.h), each calling the per-element
// function the CPU loops call (tensor/kernels/elementwise.h); every kernel is
// compiled per op, so the op is a template argument, not a branch.
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/launch.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/elementwise.h"

namespace vdm::cuda {

namespace {

template <typename T, UnaryOp OP> void launch_unary_forward(const T* x, T* y, int64_t n) {
    for_each_index(n, [=] __device__(int64_t i) { y[i] = kernels::UnaryFn<T, OP>::f(x[i]); });
}

template <typename T, UnaryOp OP>
void launch_unary_backward(const T* x, const T* y, const T* dy, T* dx, int64_t n) {
    for_each_index(n, [=] __device__(int64_t i) {
        dx[i] = kernels::unary_grad<T, OP>(x[i], y[i], dy[i]);
    });
}

template <typename T> void launch_affine(const T* x, T scale, T shift, T* y, int64_t n) {
    for_each_index(n, [=] __device__(int64_t i) {
        y[i] = kernels::affine_element(x[i], scale, shift);
    });
}

// out = a op b. Same shapes: element i with element i, no index math.
template <typename T, BinaryOp OP>
void launch_binary_forward(const Tensor& a, const Tensor& b, Tensor& out) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    if (a.shape() == b.shape()) {
        for_each_index(out.numel(), [=] __device__(int64_t i) {
            po[i] = kernels::BinaryFn<T, OP>::f(pa[i], pb[i]);
        });
        return;
    }
    const kernels::BroadcastIndex bi = kernels::broadcast_index(out.shape(), a.shape(), b.shape());
    for_each_index(out.numel(), [=] __device__(int64_t j) {
        kernels::binary_forward_element<T, OP>(bi, pa, pb, po, j);
    });
}

// dinput = dout * d(a op b)/d(input `which`), at dout's shape.
template <typename T, BinaryOp OP>
void launch_binary_backward(int which, const Tensor& a, const Tensor& b, const Tensor& dout,
                            Tensor& dinput) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const T* pd = dout.data<T>();
    T* pg = dinput.data<T>();
    if (a.shape() == b.shape()) {
        for_each_index(dout.numel(), [=] __device__(int64_t i) {
            pg[i] = kernels::binary_grad<T, OP>(which, pa[i], pb[i], pd[i]);
        });
        return;
    }
    const kernels::BroadcastIndex bi = kernels::broadcast_index(dout.shape(), a.shape(), b.shape());
    for_each_index(dout.numel(), [=] __device__(int64_t j) {
        kernels::binary_backward_element<T, OP>(bi, which, pa, pb, pd, pg, j);
    });
}

template <typename T> void launch_broadcast(const Tensor& x, Tensor& out) {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const kernels::BroadcastIndex bi = kernels::broadcast_index(out.shape(), x.shape(), x.shape());
    for_each_index(out.numel(), [=] __device__(int64_t j) {
        kernels::broadcast_element(bi, px, po, j);
    });
}

}  // namespace

void CudaBackend::unary_forward(UnaryOp op, const Tensor& x, Tensor& y) {
    VDM_DISPATCH_FLOAT(x.dtype(), unary_op_name(op), kernels::with_unary_op(op, [&](auto tag) {
        launch_unary_forward<T, decltype(tag)::value>(x.data<T>(), y.data<T>(), x.numel());
    }));
}

void CudaBackend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                                 Tensor& dx) {
    VDM_DISPATCH_FLOAT(x.dtype(), unary_op_name(op), kernels::with_unary_op(op, [&](auto tag) {
        launch_unary_backward<T, decltype(tag)::value>(x.data<T>(), y.data<T>(), dy.data<T>(),
                                                       dx.data<T>(), x.numel());
    }));
}

void CudaBackend::affine(const Tensor& x, double scale, double shift, Tensor& y) {
    VDM_DISPATCH_FLOAT(x.dtype(), "affine",
                       launch_affine<T>(x.data<T>(), T(scale), T(shift), y.data<T>(), x.numel()));
}

void CudaBackend::binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
    VDM_DISPATCH_FLOAT(a.dtype(), binary_op_name(op), kernels::with_binary_op(op, [&](auto tag) {
        launch_binary_forward<T, decltype(tag)::value>(a, b, out);
    }));
}

void CudaBackend::binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b,
                                  const Tensor& dout, Tensor& dinput) {
    VDM_DISPATCH_FLOAT(a.dtype(), binary_op_name(op), kernels::with_binary_op(op, [&](auto tag) {
        launch_binary_backward<T, decltype(tag)::value>(which, a, b, dout, dinput);
    }));
}

void CudaBackend::broadcast_to(const Tensor& x, Tensor& out) {
    VDM_DISPATCH_FLOAT(x.dtype(), "broadcast_to", launch_broadcast<T>(x, out));
}

}  // namespace vdm::cuda
