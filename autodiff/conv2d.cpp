// 2-D convolution as one node: forward and backward are the fused kernels
// conv2d_forward / conv2d_backward of the backend (im2col + gemm on the CPU).
#include "autodiff/ops.h"

namespace vdm {

Var conv2d(const Var& x, const Var& weight, const Var& bias) {
    check_compatible("conv2d", x.value(), weight.value());
    check_floating("conv2d", x.value());
    VDM_CHECK(x.ndim() == 4, "conv2d: input must be (B, C, H, W), got ", x.shape().str());
    VDM_CHECK(weight.ndim() == 4 && weight.dim(2) == weight.dim(3) && weight.dim(2) % 2 == 1,
              "conv2d: weight must be (Cout, Cin, k, k) with k odd, got ", weight.shape().str());
    VDM_CHECK(weight.dim(1) == x.dim(1), "conv2d: input has ", x.dim(1),
              " channels but weight ", weight.shape().str(), " expects ", weight.dim(1));
    if (bias.defined()) {
        check_compatible("conv2d bias", x.value(), bias.value());
        VDM_CHECK(bias.ndim() == 1 && bias.dim(0) == weight.dim(0), "conv2d: bias ",
                  bias.shape().str(), " does not match ", weight.dim(0), " output channels");
    }
    Backend& be = backend_for(x.device());
    Tensor bias_value = bias.defined() ? bias.value() : Tensor();
    Tensor y = Tensor::empty(Shape{x.dim(0), weight.dim(0), x.dim(2), x.dim(3)}, x.dtype(),
                             x.device());
    be.conv2d_forward(x.value(), weight.value(), bias_value, y);
    std::vector<Var> inputs{x, weight};
    if (bias.defined()) inputs.push_back(bias);
    return record("conv2d", y, inputs, [x, weight, bias, &be](const Tensor& dy) {
        auto grad_for = [](const Var& v) {
            return v.defined() && v.requires_grad()
                       ? Tensor::empty(v.shape(), v.dtype(), v.device())
                       : Tensor();
        };
        Tensor dx = grad_for(x), dweight = grad_for(weight), dbias = grad_for(bias);
        be.conv2d_backward(x.value(), weight.value(), dy, dx, dweight, dbias);
        if (dx.defined()) x.accumulate_grad(std::move(dx));
        if (dweight.defined()) weight.accumulate_grad(std::move(dweight));
        if (dbias.defined()) bias.accumulate_grad(std::move(dbias));
    });
}

}  // namespace vdm
