// CPU elementwise kernels: each function with its derivative beside it, and the
// broadcasting loop shared by every binary op, its gradient, and broadcast_to.
#pragma once
#include <cmath>

#include "tensor/backend.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/simd_exp.h"

namespace vdm::cpu {

// --- unary functions: f(x) and f'(x) given x and y = f(x)
template <typename T, UnaryOp OP> struct UnaryFn;

template <typename T> struct UnaryFn<T, UnaryOp::Neg> {
    static T f(T x) { return -x; }
    static T df(T, T) { return T(-1); }
};
template <typename T> struct UnaryFn<T, UnaryOp::Exp> {
    static T f(T x) { return simd_exp(x); }
    static T df(T, T y) { return y; }
};
template <typename T> struct UnaryFn<T, UnaryOp::Log> {
    static T f(T x) { return std::log(x); }
    static T df(T x, T) { return T(1) / x; }
};
template <typename T> struct UnaryFn<T, UnaryOp::Expm1> {  // exp(x) - 1, exact near 0
    static T f(T x) { return std::expm1(x); }
    static T df(T, T y) { return y + T(1); }
};
template <typename T> struct UnaryFn<T, UnaryOp::Log1p> {  // log(1 + x), exact near 0
    static T f(T x) { return std::log1p(x); }
    static T df(T x, T) { return T(1) / (T(1) + x); }
};
// sigmoid(x) = 1 / (1 + e^-x), from e = e^-|x| in (0, 1] so exp never overflows;
// for x < 0 it is e / (1 + e). A select, not a branch: random signs cost nothing.
template <typename T> inline T stable_sigmoid(T x) {
    T e = simd_exp(-std::abs(x));
    T s = T(1) / (T(1) + e);
    return x >= T(0) ? s : e * s;
}
template <typename T> struct UnaryFn<T, UnaryOp::Sigmoid> {
    static T f(T x) { return stable_sigmoid(x); }
    static T df(T, T y) { return y * (T(1) - y); }
};
// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), no overflow, no cancellation.
template <typename T> struct UnaryFn<T, UnaryOp::Softplus> {
    static T f(T x) { return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x))); }
    static T df(T x, T) { return stable_sigmoid(x); }
};
// SiLU(x) = x sigmoid(x); derivative s (1 + x (1 - s)).
template <typename T> struct UnaryFn<T, UnaryOp::Silu> {
    static T f(T x) { return x * stable_sigmoid(x); }
    static T df(T x, T) {
        T s = stable_sigmoid(x);
        return s * (T(1) + x * (T(1) - s));
    }
};
template <typename T> struct UnaryFn<T, UnaryOp::Abs> {  // derivative sign(x), 0 at 0
    static T f(T x) { return std::abs(x); }
    static T df(T x, T) { return T((x > T(0)) - (x < T(0))); }
};
template <typename T> struct UnaryFn<T, UnaryOp::Square> {
    static T f(T x) { return x * x; }
    static T df(T x, T) { return T(2) * x; }
};
template <typename T> struct UnaryFn<T, UnaryOp::Sqrt> {
    static T f(T x) { return std::sqrt(x); }
    static T df(T, T y) { return T(0.5) / y; }
};
// sin and cos: the Fourier features of z_t and the sinusoidal embedding of gamma_t.
template <typename T> struct UnaryFn<T, UnaryOp::Sin> {
    static T f(T x) { return std::sin(x); }
    static T df(T x, T) { return std::cos(x); }
};
template <typename T> struct UnaryFn<T, UnaryOp::Cos> {
    static T f(T x) { return std::cos(x); }
    static T df(T x, T) { return -std::sin(x); }
};

// Calls fn(std::integral_constant<UnaryOp, op>{}) so kernels are compiled per op.
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

template <typename T> void unary_forward(UnaryOp op, const T* x, T* y, int64_t n) {
    with_unary_op(op, [&](auto tag) {
        using F = UnaryFn<T, decltype(tag)::value>;
#pragma omp parallel for if (n > kParallelGrain)
        for (int64_t i = 0; i < n; ++i) y[i] = F::f(x[i]);
    });
}

template <typename T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, int64_t n) {
    with_unary_op(op, [&](auto tag) {
        using F = UnaryFn<T, decltype(tag)::value>;
#pragma omp parallel for if (n > kParallelGrain)
        for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * F::df(x[i], y[i]);
    });
}

// --- binary functions: f(a, b) and its partial derivatives
template <typename T, BinaryOp OP> struct BinaryFn;
template <typename T> struct BinaryFn<T, BinaryOp::Add> {
    static T f(T a, T b) { return a + b; }
    static T da(T, T) { return T(1); }
    static T db(T, T) { return T(1); }
};
template <typename T> struct BinaryFn<T, BinaryOp::Sub> {
    static T f(T a, T b) { return a - b; }
    static T da(T, T) { return T(1); }
    static T db(T, T) { return T(-1); }
};
template <typename T> struct BinaryFn<T, BinaryOp::Mul> {
    static T f(T a, T b) { return a * b; }
    static T da(T, T b) { return b; }
    static T db(T a, T) { return a; }
};
template <typename T> struct BinaryFn<T, BinaryOp::Div> {
    static T f(T a, T b) { return a / b; }
    static T da(T, T b) { return T(1) / b; }
    static T db(T a, T b) { return -a / (b * b); }
};

template <typename Fn> void with_binary_op(BinaryOp op, Fn&& fn) {
    switch (op) {
        case BinaryOp::Add: fn(std::integral_constant<BinaryOp, BinaryOp::Add>{}); return;
        case BinaryOp::Sub: fn(std::integral_constant<BinaryOp, BinaryOp::Sub>{}); return;
        case BinaryOp::Mul: fn(std::integral_constant<BinaryOp, BinaryOp::Mul>{}); return;
        case BinaryOp::Div: fn(std::integral_constant<BinaryOp, BinaryOp::Div>{}); return;
    }
}

// Visits every element j of `out` with the flat positions ja, jb of the elements of
// a and b that broadcast to it: fn(j, ja, jb). Shapes are right-aligned as in numpy.
template <typename Fn>
void for_each_broadcast(const Shape& out, const Shape& a, const Shape& b, Fn&& fn) {
    auto o = out.padded(), pa = a.padded(), pb = b.padded();
    std::array<int64_t, 4> sa{}, sb{};  // strides, 0 along broadcast dims
    int64_t stride_a = 1, stride_b = 1;
    for (int i = 3; i >= 0; --i) {
        sa[size_t(i)] = pa[size_t(i)] == 1 ? 0 : stride_a;
        sb[size_t(i)] = pb[size_t(i)] == 1 ? 0 : stride_b;
        stride_a *= pa[size_t(i)];
        stride_b *= pb[size_t(i)];
    }
    const int64_t rows = o[0] * o[1] * o[2], cols = o[3];
#pragma omp parallel for if (rows * cols > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
        int64_t i0 = r / (o[1] * o[2]), i1 = (r / o[2]) % o[1], i2 = r % o[2];
        int64_t base_a = i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        int64_t base_b = i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        for (int64_t i3 = 0; i3 < cols; ++i3)
            fn(r * cols + i3, base_a + i3 * sa[3], base_b + i3 * sb[3]);
    }
}

template <typename T>
void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    with_binary_op(op, [&](auto tag) {
        using F = BinaryFn<T, decltype(tag)::value>;
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
    with_binary_op(op, [&](auto tag) {
        using F = BinaryFn<T, decltype(tag)::value>;
        for_each_broadcast(dout.shape(), a.shape(), b.shape(), [&](int64_t j, int64_t ja, int64_t jb) {
            pg[j] = pd[j] * (which == 0 ? F::da(pa[ja], pb[jb]) : F::db(pa[ja], pb[jb]));
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
