// Per-element arithmetic of the elementwise kernels, shared by the CPU and CUDA
// backends: each unary function with its derivative, each binary function with its
// partial derivatives, affine, and the index math of numpy broadcasting.
//
// The CPU loops (tensor/cpu/elementwise.h) and the CUDA threads
// (tensor/cuda/elementwise.cu) call these same functions, so the two backends differ
// only where kernels::fast_exp and the math library differ (a few ulp; see
// tensor/kernels/host_device.h). tests/test_kernels_shared_elementwise.cpp runs them
// on the host the way the CUDA kernels do and compares with the CPU backend.
#pragma once
#include <cstdint>
#include <type_traits>

#include "tensor/backend.h"
#include "tensor/kernels/host_device.h"
#include "tensor/shape.h"

namespace vdm::kernels {

// --- unary functions: f(x), and f'(x) given x and y = f(x)
template <typename T, UnaryOp OP> struct UnaryFn;

template <typename T> struct UnaryFn<T, UnaryOp::Neg> {
    VDM_HOST_DEVICE static T f(T x) { return -x; }
    VDM_HOST_DEVICE static T df(T, T) { return T(-1); }
};
template <typename T> struct UnaryFn<T, UnaryOp::Exp> {
    VDM_HOST_DEVICE static T f(T x) { return fast_exp(x); }
    VDM_HOST_DEVICE static T df(T, T y) { return y; }
};
template <typename T> struct UnaryFn<T, UnaryOp::Log> {
    VDM_HOST_DEVICE static T f(T x) { return kernels::log(x); }
    VDM_HOST_DEVICE static T df(T x, T) { return T(1) / x; }
};
template <typename T> struct UnaryFn<T, UnaryOp::Expm1> {  // exp(x) - 1, exact near 0
    VDM_HOST_DEVICE static T f(T x) { return kernels::expm1(x); }
    VDM_HOST_DEVICE static T df(T, T y) { return y + T(1); }
};
template <typename T> struct UnaryFn<T, UnaryOp::Log1p> {  // log(1 + x), exact near 0
    VDM_HOST_DEVICE static T f(T x) { return kernels::log1p(x); }
    VDM_HOST_DEVICE static T df(T x, T) { return T(1) / (T(1) + x); }
};
// sigmoid(x) = 1 / (1 + e^-x), from e = e^-|x| in (0, 1] so exp never overflows;
// for x < 0 it is e / (1 + e). A select, not a branch: random signs cost nothing.
template <typename T> VDM_HOST_DEVICE inline T stable_sigmoid(T x) {
    T e = fast_exp(-kernels::abs(x));
    T s = T(1) / (T(1) + e);
    return x >= T(0) ? s : e * s;
}
template <typename T> struct UnaryFn<T, UnaryOp::Sigmoid> {
    VDM_HOST_DEVICE static T f(T x) { return stable_sigmoid(x); }
    VDM_HOST_DEVICE static T df(T, T y) { return y * (T(1) - y); }
};
// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), no overflow, no cancellation.
template <typename T> struct UnaryFn<T, UnaryOp::Softplus> {
    VDM_HOST_DEVICE static T f(T x) {
        return kernels::max(x, T(0)) + kernels::log1p(kernels::exp(-kernels::abs(x)));
    }
    VDM_HOST_DEVICE static T df(T x, T) { return stable_sigmoid(x); }
};
// SiLU(x) = x sigmoid(x); derivative s (1 + x (1 - s)).
template <typename T> struct UnaryFn<T, UnaryOp::Silu> {
    VDM_HOST_DEVICE static T f(T x) { return x * stable_sigmoid(x); }
    VDM_HOST_DEVICE static T df(T x, T) {
        T s = stable_sigmoid(x);
        return s * (T(1) + x * (T(1) - s));
    }
};
template <typename T> struct UnaryFn<T, UnaryOp::Abs> {  // derivative sign(x), 0 at 0
    VDM_HOST_DEVICE static T f(T x) { return kernels::abs(x); }
    VDM_HOST_DEVICE static T df(T x, T) { return T((x > T(0)) - (x < T(0))); }
};
template <typename T> struct UnaryFn<T, UnaryOp::Square> {
    VDM_HOST_DEVICE static T f(T x) { return x * x; }
    VDM_HOST_DEVICE static T df(T x, T) { return T(2) * x; }
};
template <typename T> struct UnaryFn<T, UnaryOp::Sqrt> {
    VDM_HOST_DEVICE static T f(T x) { return kernels::sqrt(x); }
    VDM_HOST_DEVICE static T df(T, T y) { return T(0.5) / y; }
};
// sin and cos: the Fourier features of z_t and the sinusoidal embedding of gamma_t.
template <typename T> struct UnaryFn<T, UnaryOp::Sin> {
    VDM_HOST_DEVICE static T f(T x) { return kernels::sin(x); }
    VDM_HOST_DEVICE static T df(T x, T) { return kernels::cos(x); }
};
template <typename T> struct UnaryFn<T, UnaryOp::Cos> {
    VDM_HOST_DEVICE static T f(T x) { return kernels::cos(x); }
    VDM_HOST_DEVICE static T df(T x, T) { return -kernels::sin(x); }
};

// The chain rule for one element: dx = dy f'(x).
template <typename T, UnaryOp OP> VDM_HOST_DEVICE inline T unary_grad(T x, T y, T dy) {
    return dy * UnaryFn<T, OP>::df(x, y);
}

// Calls fn(std::integral_constant<UnaryOp, op>{}), so each kernel is compiled per op.
template <typename Fn> void with_unary_op(UnaryOp op, Fn&& fn) {
#define VDM_UNARY_CASE(name) \
    case UnaryOp::name: fn(std::integral_constant<UnaryOp, UnaryOp::name>{}); return;
    switch (op) {
        VDM_UNARY_CASE(Neg) VDM_UNARY_CASE(Exp) VDM_UNARY_CASE(Log) VDM_UNARY_CASE(Expm1)
        VDM_UNARY_CASE(Log1p) VDM_UNARY_CASE(Sigmoid) VDM_UNARY_CASE(Softplus)
        VDM_UNARY_CASE(Silu) VDM_UNARY_CASE(Abs) VDM_UNARY_CASE(Square) VDM_UNARY_CASE(Sqrt)
        VDM_UNARY_CASE(Sin) VDM_UNARY_CASE(Cos)
    }
#undef VDM_UNARY_CASE
}

// --- binary functions: f(a, b) and its partial derivatives
template <typename T, BinaryOp OP> struct BinaryFn;
template <typename T> struct BinaryFn<T, BinaryOp::Add> {
    VDM_HOST_DEVICE static T f(T a, T b) { return a + b; }
    VDM_HOST_DEVICE static T da(T, T) { return T(1); }
    VDM_HOST_DEVICE static T db(T, T) { return T(1); }
};
template <typename T> struct BinaryFn<T, BinaryOp::Sub> {
    VDM_HOST_DEVICE static T f(T a, T b) { return a - b; }
    VDM_HOST_DEVICE static T da(T, T) { return T(1); }
    VDM_HOST_DEVICE static T db(T, T) { return T(-1); }
};
template <typename T> struct BinaryFn<T, BinaryOp::Mul> {
    VDM_HOST_DEVICE static T f(T a, T b) { return a * b; }
    VDM_HOST_DEVICE static T da(T, T b) { return b; }
    VDM_HOST_DEVICE static T db(T a, T) { return a; }
};
template <typename T> struct BinaryFn<T, BinaryOp::Div> {
    VDM_HOST_DEVICE static T f(T a, T b) { return a / b; }
    VDM_HOST_DEVICE static T da(T, T b) { return T(1) / b; }
    VDM_HOST_DEVICE static T db(T a, T b) { return -a / (b * b); }
};

// The chain rule for one element of input `which` (0 for a, 1 for b): dout df/d(input).
template <typename T, BinaryOp OP>
VDM_HOST_DEVICE inline T binary_grad(int which, T a, T b, T dout) {
    using F = BinaryFn<T, OP>;
    return dout * (which == 0 ? F::da(a, b) : F::db(a, b));
}

template <typename Fn> void with_binary_op(BinaryOp op, Fn&& fn) {
    switch (op) {
        case BinaryOp::Add: fn(std::integral_constant<BinaryOp, BinaryOp::Add>{}); return;
        case BinaryOp::Sub: fn(std::integral_constant<BinaryOp, BinaryOp::Sub>{}); return;
        case BinaryOp::Mul: fn(std::integral_constant<BinaryOp, BinaryOp::Mul>{}); return;
        case BinaryOp::Div: fn(std::integral_constant<BinaryOp, BinaryOp::Div>{}); return;
    }
}

// y = scale x + shift
template <typename T> VDM_HOST_DEVICE inline T affine_element(T x, T scale, T shift) {
    return scale * x + shift;
}

// --- broadcasting: numpy's rule with shapes right-aligned and left-padded to 4 dims.
// Element j of out = (d0, d1, d2, d3) sits at multi-index (i0, i1, i2, i3); the
// element of a that broadcasts to it is sum_k i_k stride_a[k], where stride_a is a's
// row-major stride along k, or 0 where a has size 1 (the same for b).
struct BroadcastIndex {
    int64_t dims[4];      // out's shape, padded
    int64_t stride_a[4];  // a's strides, 0 along its broadcast dims
    int64_t stride_b[4];

    // ja, jb: the flat positions in a and b of the elements behind out's element j.
    VDM_HOST_DEVICE void sources(int64_t j, int64_t& ja, int64_t& jb) const {
        ja = 0;
        jb = 0;
        for (int k = 3; k >= 0; --k) {
            const int64_t i = j % dims[k];
            j /= dims[k];
            ja += i * stride_a[k];
            jb += i * stride_b[k];
        }
    }
};

// The index math for a and b broadcast to out (shapes already checked compatible).
inline BroadcastIndex broadcast_index(const Shape& out, const Shape& a, const Shape& b) {
    const auto po = out.padded(), pa = a.padded(), pb = b.padded();
    BroadcastIndex bi{};
    int64_t step_a = 1, step_b = 1;
    for (int k = 3; k >= 0; --k) {
        const size_t u = size_t(k);
        bi.dims[k] = po[u];
        bi.stride_a[k] = pa[u] == 1 ? 0 : step_a;
        bi.stride_b[k] = pb[u] == 1 ? 0 : step_b;
        step_a *= pa[u];
        step_b *= pb[u];
    }
    return bi;
}

// One output element of a binary op: out[j] = f(a[ja], b[jb]).
template <typename T, BinaryOp OP>
VDM_HOST_DEVICE inline void binary_forward_element(const BroadcastIndex& bi, const T* a,
                                                   const T* b, T* out, int64_t j) {
    int64_t ja, jb;
    bi.sources(j, ja, jb);
    out[j] = BinaryFn<T, OP>::f(a[ja], b[jb]);
}

// One element of a binary op's gradient at out's shape.
template <typename T, BinaryOp OP>
VDM_HOST_DEVICE inline void binary_backward_element(const BroadcastIndex& bi, int which,
                                                    const T* a, const T* b, const T* dout,
                                                    T* dinput, int64_t j) {
    int64_t ja, jb;
    bi.sources(j, ja, jb);
    dinput[j] = binary_grad<T, OP>(which, a[ja], b[jb], dout[j]);
}

// One element of broadcast_to: out[j] = x[jx] (built with broadcast_index(out, x, x)).
template <typename T>
VDM_HOST_DEVICE inline void broadcast_element(const BroadcastIndex& bi, const T* x, T* out,
                                              int64_t j) {
    int64_t jx, unused;
    bi.sources(j, jx, unused);
    out[j] = x[jx];
}

}  // namespace vdm::kernels
