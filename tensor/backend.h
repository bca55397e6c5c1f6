// The backend seam: every kernel the library runs, as one virtual call per kernel.
// Differentiable ops (autodiff/) allocate outputs, check shapes, and call
// backend_for(device).xxx(); the CPU backend (tensor/cpu/) implements all of them,
// and a CUDA backend implements the same interface, so callers never change.
// Kernels write into outputs that the caller allocated with the right shape,
// dtype and device; shape checks happen before the call, in the op.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace vdm {

// Elementwise functions of one tensor. Derivatives: tensor/cpu/elementwise.h.
enum class UnaryOp {
    Neg, Exp, Log, Expm1, Log1p, Sigmoid, Softplus, Silu, Abs, Square, Sqrt, Sin, Cos
};
// Elementwise functions of two tensors, with numpy broadcasting.
enum class BinaryOp { Add, Sub, Mul, Div };

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);

class Backend {
public:
    virtual ~Backend() = default;

    // --- memory and conversion
    virtual void fill(Tensor& t, double value) = 0;
    virtual void convert(const Tensor& src, Tensor& dst) = 0;  // same numel, any dtypes
    virtual void accumulate(Tensor& dst, const Tensor& src) = 0;  // dst += src, same shape
    virtual bool all_finite(const Tensor& t) = 0;

    // --- random numbers: element i gets stream position offset + i (tensor/rng.h)
    virtual void fill_normal(Tensor& t, uint64_t seed, uint64_t offset) = 0;
    virtual void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset) = 0;

    // --- elementwise
    virtual void unary_forward(UnaryOp op, const Tensor& x, Tensor& y) = 0;
    // dx = dy * f'(x), where f' may use the forward output y.
    virtual void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                                Tensor& dx) = 0;
    virtual void affine(const Tensor& x, double scale, double shift, Tensor& y) = 0;
    // out = a op b; a and b broadcast to out's shape.
    virtual void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;
    // d(out)/d(input `which` = 0 for a, 1 for b) times dout, at out's shape
    // (the caller reduces it to the input's shape with sum_to_shape).
    virtual void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b,
                                 const Tensor& dout, Tensor& dinput) = 0;

    // --- broadcasting and reductions (shapes compared right-aligned, as numpy)
    // out[j] = sum of x over the positions that broadcast to j; out's dims are 1 or equal x's.
    virtual void sum_to_shape(const Tensor& x, Tensor& out) = 0;
    // out = x repeated along the dims where x has size 1.
    virtual void broadcast_to(const Tensor& x, Tensor& out) = 0;

    // --- matrix product: c[i] = beta * c[i] + op(a[i]) op(b[i]) over a batch.
    // a, b, c are 3-D; a batch of 1 broadcasts; when c has batch 1 and the others
    // more, the products are summed into c (the gradient of a shared matrix).
    virtual void matmul(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                        double beta) = 0;

    // --- 2-D convolution, stride 1, zero padding (k - 1) / 2, odd square kernel k.
    // x (B, Cin, H, W), weight (Cout, Cin, k, k), bias (Cout) or undefined, y (B, Cout, H, W).
    virtual void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                Tensor& y) = 0;
    // Writes (not accumulates) each gradient that is defined; undefined ones are skipped.
    virtual void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy,
                                 Tensor& dx, Tensor& dweight, Tensor& dbias) = 0;

    // --- group normalization over (C/G, H, W) per sample and group, then per-channel affine.
    // mean and rstd (B, G) are saved for the backward pass.
    virtual void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                    int groups, double eps, Tensor& y, Tensor& mean,
                                    Tensor& rstd) = 0;
    virtual void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& dy, int groups, Tensor& dx,
                                     Tensor& dweight, Tensor& dbias) = 0;

    // --- softmax / log-softmax over the last axis. Backward uses the forward output y.
    virtual void softmax_forward(const Tensor& x, bool log, Tensor& y) = 0;
    virtual void softmax_backward(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) = 0;

    // --- layout
    // y = x with its axes reordered: y.dim(i) = x.dim(perm[i]).
    virtual void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) = 0;
    // Copies x into y (or y into x when `into_x`) at `offset` along `axis`:
    // concat's forward and backward are the same strided copy.
    virtual void copy_slice(Tensor& x, Tensor& y, int axis, int64_t offset, bool into_x) = 0;
    // y[..] = x[.., index[..]] along the last axis; index is I32 with y's shape.
    virtual void gather_last(const Tensor& x, const Tensor& index, Tensor& y) = 0;
    // dx = 0, then dx[.., index[..]] += dy[..].
    virtual void scatter_last(const Tensor& dy, const Tensor& index, Tensor& dx) = 0;
};

// The backend that runs kernels for tensors on `device`.
Backend& backend_for(Device device);

}  // namespace vdm
