// Group normalization as one node (fused forward and backward kernels).
#include "autodiff/ops.h"

namespace vdm {

Var group_norm(const Var& x, int groups, const Var& weight, const Var& bias, double eps) {
    check_floating("group_norm", x.value());
    check_compatible("group_norm", x.value(), weight.value());
    check_compatible("group_norm", x.value(), bias.value());
    VDM_CHECK(x.ndim() >= 2, "group_norm: input must be (B, C, ...), got ", x.shape().str());
    const int64_t C = x.dim(1);
    VDM_CHECK(groups >= 1 && C % groups == 0, "group_norm: ", C, " channels do not split into ",
              groups, " groups");
    VDM_CHECK(weight.shape() == Shape{C} && bias.shape() == Shape{C}, "group_norm: weight ",
              weight.shape().str(), " and bias ", bias.shape().str(), " must be (", C, ")");
    Backend& be = backend_for(x.device());
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    Tensor mean = Tensor::empty(Shape{x.dim(0), groups}, x.dtype(), x.device());
    Tensor rstd = Tensor::empty(Shape{x.dim(0), groups}, x.dtype(), x.device());
    be.group_norm_forward(x.value(), weight.value(), bias.value(), groups, eps, y, mean, rstd);
    return record("group_norm", y, {x, weight, bias},
                  [x, weight, bias, groups, mean, rstd, &be](const Tensor& dy) {
                      auto grad_for = [](const Var& v) {
                          return v.requires_grad() ? Tensor::empty(v.shape(), v.dtype(), v.device())
                                                   : Tensor();
                      };
                      Tensor dx = grad_for(x), dweight = grad_for(weight), dbias = grad_for(bias);
                      be.group_norm_backward(x.value(), weight.value(), mean, rstd, dy, groups, dx,
                                             dweight, dbias);
                      if (dx.defined()) x.accumulate_grad(std::move(dx));
                      if (dweight.defined()) weight.accumulate_grad(std::move(dweight));
                      if (dbias.defined()) bias.accumulate_grad(std::move(dbias));
                  });
}

}  // namespace vdm
