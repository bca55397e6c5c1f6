// Softmax and log-softmax over the last axis, one node each.
#include "autodiff/ops.h"

namespace vdm {

namespace {

Var softmax_op(const Var& x, bool log) {
    const char* name = log ? "log_softmax" : "softmax";
    check_floating(name, x.value());
    VDM_CHECK(x.ndim() >= 1 && x.dim(-1) > 0, name, ": needs a non-empty last axis, got ",
              x.shape().str());
    Backend& be = backend_for(x.device());
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    be.softmax_forward(x.value(), log, y);
    return record(name, y, {x}, [x, y, log, &be](const Tensor& dy) {
        Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
        be.softmax_backward(y, dy, log, dx);
        x.accumulate_grad(std::move(dx));
    });
}

}  // namespace

Var softmax(const Var& x) { return softmax_op(x, false); }
Var log_softmax(const Var& x) { return softmax_op(x, true); }

}  // namespace vdm
