// The categorical decoder's log-probability as one node (docs/vdm.md#decoder): the
// kernels (Backend::categorical_log_prob_*) recompute the softmax over the V values in
// the backward, so nothing of size (elements, V) is saved.
#include "autodiff/ops.h"

namespace vdm {

namespace {

// The sum of all of g's elements as a tensor of `shape` (one element), in two steps:
// along the rows of g's last axis, then over the rows. A single sum over all elements
// splits them across the CPU's threads; here each step adds in an order that does not
// depend on the thread count (one thread per row, then one over the rows) unless the
// rows number more than cpu::kParallelGrain, or a single row is that long; the
// decoder's (B, D) is neither. So the scale's gradient is the same with 1 or 2 threads.
Tensor sum_all(const Tensor& g, const Shape& shape) {
    const int64_t last = g.dim(-1), rows = g.numel() / last;
    const Tensor row_sums = sum_to_shape(g.reshape(Shape{rows, last}), Shape{rows, 1});
    return sum_to_shape(row_sums.reshape(Shape{rows}), Shape{1}).reshape(shape);
}

}  // namespace

Var categorical_log_prob(const Var& u, const Tensor& centres, const Var& scale,
                         const Tensor& index) {
    const char* name = "categorical_log_prob";
    check_floating(name, u.value());
    check_compatible(name, u.value(), centres);
    check_compatible(name, u.value(), scale.value());
    VDM_CHECK(u.ndim() >= 1 && u.numel() > 0, name, ": needs a non-empty u, got ",
              u.shape().str());
    VDM_CHECK(centres.ndim() == 1 && centres.numel() > 0, name,
              ": centres must be a non-empty vector, got ", centres.shape().str());
    VDM_CHECK(scale.numel() == 1, name, ": scale must have one element, got ",
              scale.shape().str());
    VDM_CHECK(index.dtype() == DType::I32 && index.device() == u.device() &&
                  index.shape() == u.shape(),
              name, ": index must be an i32 tensor of u's shape ", u.shape().str(),
              " on its device, got ", index.desc());
    Backend& be = backend_for(u.device());
    Tensor out = Tensor::empty(u.shape(), u.dtype(), u.device());
    be.categorical_log_prob_forward(u.value(), centres, scale.value(), index, out);
    return record(name, out, {u, scale}, [u, centres, scale, index, &be](const Tensor& dout) {
        Tensor du, dscale;  // undefined: not wanted
        if (u.requires_grad()) du = Tensor::empty(u.shape(), u.dtype(), u.device());
        if (scale.requires_grad()) dscale = Tensor::empty(u.shape(), u.dtype(), u.device());
        be.categorical_log_prob_backward(u.value(), centres, scale.value(), index, dout, du,
                                         dscale);
        if (du.defined()) u.accumulate_grad(std::move(du));
        if (dscale.defined()) scale.accumulate_grad(sum_all(dscale, scale.shape()));
    });
}

}  // namespace vdm
