// Linear, Conv2d, GroupNorm, Dropout.
#include "nn/layers.h"

#include "tensor/dispatch.h"

namespace vdm {

Linear::Linear(int64_t in, int64_t out, DType dtype, Rng& rng, double init_scale) {
    weight = add_parameter("weight", init_normal(Shape{out, in}, in, init_scale, dtype, rng));
    bias = add_parameter("bias", Tensor::zeros(Shape{out}, dtype));
}

Var Linear::forward(const Var& x) const {
    VDM_CHECK(x.ndim() == 2 && x.dim(1) == weight.dim(1), "Linear: expected (B, ", weight.dim(1),
              "), got ", x.shape().str());
    return matmul(x, weight, false, true) + bias;
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, DType dtype, Rng& rng, double init_scale) {
    weight = add_parameter("weight", init_normal(Shape{out, in, kernel, kernel},
                                                 in * kernel * kernel, init_scale, dtype, rng));
    bias = add_parameter("bias", Tensor::zeros(Shape{out}, dtype));
}

Var Conv2d::forward(const Var& x) const { return conv2d(x, weight, bias); }

GroupNorm::GroupNorm(int64_t groups_, int64_t channels, DType dtype) : groups(groups_) {
    VDM_CHECK(groups > 0 && channels % groups == 0, "GroupNorm: ", channels,
              " channels do not split into ", groups, " groups");
    weight = add_parameter("weight", Tensor::full(Shape{channels}, 1.0, dtype));
    bias = add_parameter("bias", Tensor::zeros(Shape{channels}, dtype));
}

Var GroupNorm::forward(const Var& x) const { return group_norm(x, int(groups), weight, bias); }

Dropout::Dropout(double p) : p_(p) {
    VDM_CHECK(p >= 0.0 && p < 1.0, "Dropout: p = ", p, " is outside [0, 1)");
}

Var Dropout::forward(const Var& x, Rng* rng) const {
    if (rng == nullptr || p_ <= 0.0) return x;
    VDM_CHECK(x.device() == Device::CPU, "Dropout: the mask is built on the host");
    // keep mask: (u >= p) / (1 - p) with u uniform from the stream
    Tensor keep = Tensor::empty(x.shape(), x.dtype());
    const uint64_t offset = rng->take(uint64_t(keep.numel()));
    const double scale = 1.0 / (1.0 - p_);
    VDM_DISPATCH_FLOAT(x.dtype(), "Dropout", {
        T* k = keep.data<T>();
        for (int64_t i = 0; i < keep.numel(); ++i)
            k[i] = T(uniform_at(rng->seed, offset + uint64_t(i)) >= p_ ? scale : 0.0);
    });
    return x * Var(keep);
}

}  // namespace vdm
