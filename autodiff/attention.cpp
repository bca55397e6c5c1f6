// Fused attention, one node: the forward keeps only out and the per-query log-sum-exp
// (BH, N); the backward recomputes the softmax from them (tensor/backend.h).
#include "autodiff/ops.h"

namespace vdm {

Var attention(const Var& q, const Var& k, const Var& v) {
    check_floating("attention", q.value());
    check_compatible("attention", q.value(), k.value());
    check_compatible("attention", q.value(), v.value());
    VDM_CHECK(q.ndim() == 3 && q.numel() > 0, "attention: q must be a non-empty (BH, d, N), got ",
              q.shape().str());
    VDM_CHECK(k.shape() == q.shape() && v.shape() == q.shape(),
              "attention: q, k, v must have one shape, got ", q.shape().str(), ", ",
              k.shape().str(), ", ", v.shape().str());
    Backend& be = backend_for(q.device());
    Tensor out = Tensor::empty(q.shape(), q.dtype(), q.device());
    Tensor lse = Tensor::empty(Shape{q.dim(0), q.dim(2)}, q.dtype(), q.device());
    be.attention_forward(q.value(), k.value(), v.value(), out, lse);
    return record("attention", out, {q, k, v}, [q, k, v, out, lse, &be](const Tensor& dout) {
        Tensor dq = Tensor::empty(q.shape(), q.dtype(), q.device());
        Tensor dk = Tensor::empty(q.shape(), q.dtype(), q.device());
        Tensor dv = Tensor::empty(q.shape(), q.dtype(), q.device());
        be.attention_backward(q.value(), k.value(), v.value(), out, lse, dout, dq, dk, dv);
        if (q.requires_grad()) q.accumulate_grad(std::move(dq));
        if (k.requires_grad()) k.accumulate_grad(std::move(dk));
        if (v.requires_grad()) v.accumulate_grad(std::move(dv));
    });
}

}  // namespace vdm
