// Elementwise ops: forward via the backend, backward via the derivative kernels
// beside each function in tensor/kernels/elementwise.h.
#include "autodiff/ops.h"

namespace vdm {

Var unary(UnaryOp op, const Var& x) {
    check_floating(unary_op_name(op), x.value());
    Backend& be = backend_for(x.device());
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    be.unary_forward(op, x.value(), y);
    return record(unary_op_name(op), y, {x}, [op, x, y, &be](const Tensor& dy) {
        Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
        be.unary_backward(op, x.value(), y, dy, dx);
        x.accumulate_grad(std::move(dx));
    });
}

Var neg(const Var& x) { return unary(UnaryOp::Neg, x); }
Var exp(const Var& x) { return unary(UnaryOp::Exp, x); }
Var log(const Var& x) { return unary(UnaryOp::Log, x); }
Var expm1(const Var& x) { return unary(UnaryOp::Expm1, x); }
Var log1p(const Var& x) { return unary(UnaryOp::Log1p, x); }
Var sigmoid(const Var& x) { return unary(UnaryOp::Sigmoid, x); }
Var softplus(const Var& x) { return unary(UnaryOp::Softplus, x); }
Var silu(const Var& x) { return unary(UnaryOp::Silu, x); }
Var abs(const Var& x) { return unary(UnaryOp::Abs, x); }
Var square(const Var& x) { return unary(UnaryOp::Square, x); }
Var sqrt(const Var& x) { return unary(UnaryOp::Sqrt, x); }
Var sin(const Var& x) { return unary(UnaryOp::Sin, x); }
Var cos(const Var& x) { return unary(UnaryOp::Cos, x); }

Var affine(const Var& x, double scale, double shift) {
    check_floating("affine", x.value());
    Backend& be = backend_for(x.device());
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    be.affine(x.value(), scale, shift, y);
    return record("affine", y, {x}, [x, scale, &be](const Tensor& dy) {
        Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
        be.affine(dy, scale, 0.0, dx);  // d(scale x + shift)/dx = scale
        x.accumulate_grad(std::move(dx));
    });
}

Var binary(BinaryOp op, const Var& a, const Var& b) {
    const char* name = binary_op_name(op);
    check_compatible(name, a.value(), b.value());
    check_floating(name, a.value());
    Backend& be = backend_for(a.device());
    Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
    Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
    be.binary_forward(op, a.value(), b.value(), out);
    return record(name, out, {a, b}, [op, a, b, &be](const Tensor& dout) {
        const Var* inputs[2] = {&a, &b};
        for (int which = 0; which < 2; ++which) {
            const Var& in = *inputs[which];
            if (!in.requires_grad()) continue;
            Tensor d = Tensor::empty(dout.shape(), dout.dtype(), dout.device());
            be.binary_backward(op, which, a.value(), b.value(), dout, d);
            in.accumulate_grad(sum_to_shape(d, in.shape()));
        }
    });
}

Var add(const Var& a, const Var& b) { return binary(BinaryOp::Add, a, b); }
Var sub(const Var& a, const Var& b) { return binary(BinaryOp::Sub, a, b); }
Var mul(const Var& a, const Var& b) { return binary(BinaryOp::Mul, a, b); }
Var div(const Var& a, const Var& b) { return binary(BinaryOp::Div, a, b); }

}  // namespace vdm
