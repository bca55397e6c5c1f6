// The differentiable ops. Each records one Node whose backward calls the matching
// backend kernel; composite math (losses, layers) is written with these and gets
// its gradient for free. Shapes are checked here, with messages naming the op.
#pragma once
#include <vector>

#include "autodiff/variable.h"
#include "tensor/backend.h"

namespace vdm {

// --- elementwise, one input (autodiff/elementwise.cpp)
Var neg(const Var& x);
Var exp(const Var& x);
Var log(const Var& x);
Var expm1(const Var& x);  // exp(x) - 1 without cancellation near 0
Var log1p(const Var& x);  // log(1 + x) without cancellation near 0
Var sigmoid(const Var& x);
Var softplus(const Var& x);  // log(1 + exp(x)), stable for large |x|
Var silu(const Var& x);      // x * sigmoid(x)
Var abs(const Var& x);
Var square(const Var& x);
Var sqrt(const Var& x);
Var sin(const Var& x);
Var cos(const Var& x);
Var unary(UnaryOp op, const Var& x);
Var affine(const Var& x, double scale, double shift);  // scale * x + shift

// --- elementwise, two inputs with numpy broadcasting (e.g. (B,C,H,W) with (1,C,1,1))
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
Var binary(BinaryOp op, const Var& a, const Var& b);
inline Var operator+(const Var& a, const Var& b) { return add(a, b); }
inline Var operator-(const Var& a, const Var& b) { return sub(a, b); }
inline Var operator*(const Var& a, const Var& b) { return mul(a, b); }
inline Var operator/(const Var& a, const Var& b) { return div(a, b); }
inline Var operator-(const Var& x) { return neg(x); }
inline Var operator*(const Var& x, double c) { return affine(x, c, 0.0); }
inline Var operator*(double c, const Var& x) { return affine(x, c, 0.0); }
inline Var operator+(const Var& x, double c) { return affine(x, 1.0, c); }
inline Var operator-(const Var& x, double c) { return affine(x, 1.0, -c); }

// --- reductions (autodiff/reduce.cpp). Empty axes = all axes.
Var sum(const Var& x, std::vector<int> axes = {}, bool keepdim = false);
Var mean(const Var& x, std::vector<int> axes = {}, bool keepdim = false);
// Sums g over the dims along which `shape` was broadcast to g's shape (tensor level).
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

// --- matrix product (autodiff/matmul.cpp): a (M, K) or (batch, M, K), b likewise;
// trans_a / trans_b use the transposed last two axes. A 2-D operand is shared by
// every batch element.
Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);

// --- convolution (autodiff/conv2d.cpp): x (B, Cin, H, W), weight (Cout, Cin, k, k)
// with k odd, bias (Cout) or an undefined Var; stride 1, zero padding (k - 1) / 2.
Var conv2d(const Var& x, const Var& weight, const Var& bias);

// --- group normalization (autodiff/group_norm.cpp): x (B, C, H, W), weight and bias (C).
Var group_norm(const Var& x, int groups, const Var& weight, const Var& bias, double eps = 1e-5);

// --- softmax over the last axis (autodiff/softmax.cpp)
Var softmax(const Var& x);
Var log_softmax(const Var& x);

// --- attention, fused (autodiff/attention.cpp): q, k, v (BH, d, N), channel-major per
// head, q already scaled by 1/sqrt(d); out (BH, d, N) with out[b][c][i] =
// sum_j v[b][c][j] softmax_j(sum_c' q[b][c'][i] k[b][c'][j]). The same values as
// matmul(v, softmax(matmul(q, k, true, false)), false, true), without the N x N weights.
Var attention(const Var& q, const Var& k, const Var& v);

// --- layout (autodiff/layout.cpp)
Var reshape(const Var& x, const Shape& shape);
Var permute(const Var& x, const std::vector<int>& perm);  // out.dim(i) = x.dim(perm[i])
Var concat(const std::vector<Var>& xs, int axis);          // sizes may differ along axis only
// out[..] = x[.., index[..]]: x (..., V), index I32 of shape (...), out (...).
Var gather_last(const Var& x, const Tensor& index);

// --- the categorical decoder's log-probability, fused (autodiff/decoder.cpp): per
// element of u, the log-softmax over v of scale (u - centres[v])^2 read at v = index,
//   out = gather_last(log_softmax(scale * square(u[..., None] - centres)), index)
// without the (..., V) logits. u (...), index I32 of u's shape, centres (V) (a
// constant), scale one element; u, centres and scale share dtype and device.
Var categorical_log_prob(const Var& u, const Tensor& centres, const Var& scale,
                         const Tensor& index);

}  // namespace vdm
