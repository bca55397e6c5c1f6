// Batched matrix product C = op(A) op(B). With op(X) = X or X^T:
//   d op(A) = dC op(B)^T   and   d op(B) = op(A)^T dC,
// and each is transposed back when the operand itself was used transposed.
#include "autodiff/ops.h"

namespace vdm {

namespace {

// Views a 2-D matrix as a batch of one.
Tensor as_batch(const Tensor& t) {
    return t.ndim() == 3 ? t : t.reshape(Shape{1, t.dim(0), t.dim(1)});
}

}  // namespace

Var matmul(const Var& a, const Var& b, bool trans_a, bool trans_b) {
    check_compatible("matmul", a.value(), b.value());
    check_floating("matmul", a.value());
    VDM_CHECK((a.ndim() == 2 || a.ndim() == 3) && (b.ndim() == 2 || b.ndim() == 3),
              "matmul: operands must be 2-D or 3-D, got ", a.shape().str(), " and ",
              b.shape().str());
    Tensor A = as_batch(a.value()), B = as_batch(b.value());
    const int64_t M = trans_a ? A.dim(2) : A.dim(1), K = trans_a ? A.dim(1) : A.dim(2);
    const int64_t Kb = trans_b ? B.dim(2) : B.dim(1), N = trans_b ? B.dim(1) : B.dim(2);
    VDM_CHECK(K == Kb, "matmul: inner dimensions differ: ", a.shape().str(),
              trans_a ? "^T" : "", " x ", b.shape().str(), trans_b ? "^T" : "");
    VDM_CHECK(A.dim(0) == B.dim(0) || A.dim(0) == 1 || B.dim(0) == 1,
              "matmul: batch sizes differ: ", a.shape().str(), " and ", b.shape().str());
    const int64_t batch = std::max(A.dim(0), B.dim(0));
    const bool batched = a.ndim() == 3 || b.ndim() == 3;

    Backend& be = backend_for(a.device());
    Tensor C = Tensor::empty(Shape{batch, M, N}, a.dtype(), a.device());
    be.matmul(A, trans_a, B, trans_b, C, 0.0);
    Tensor out = batched ? C : C.reshape(Shape{M, N});
    return record("matmul", out, {a, b}, [a, b, A, B, trans_a, trans_b, &be](const Tensor& dout) {
        Tensor dC = as_batch(dout);
        if (a.requires_grad()) {
            Tensor dA = Tensor::empty(A.shape(), A.dtype(), A.device());
            if (!trans_a)
                be.matmul(dC, false, B, !trans_b, dA, 0.0);  // dA = dC op(B)^T
            else
                be.matmul(B, trans_b, dC, true, dA, 0.0);  // dA = op(B) dC^T
            a.accumulate_grad(dA.reshape(a.shape()));
        }
        if (b.requires_grad()) {
            Tensor dB = Tensor::empty(B.shape(), B.dtype(), B.device());
            if (!trans_b)
                be.matmul(A, !trans_a, dC, false, dB, 0.0);  // dB = op(A)^T dC
            else
                be.matmul(dC, true, A, trans_a, dB, 0.0);  // dB = dC^T op(A)
            b.accumulate_grad(dB.reshape(b.shape()));
        }
    });
}

}  // namespace vdm
