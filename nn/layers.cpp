// Linear, Conv2d, GroupNorm, Dropout.
#include "nn/layers.h"

#include <algorithm>

#include "tensor/backend.h"

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
    // keep mask (u >= p) / (1 - p), u uniform at the stream positions this draw takes
    Tensor keep = Tensor::empty(x.shape(), x.dtype(), x.device());
    // a batch-shaped draw: with a shared stream, this process's rows of the batch's mask
    const int64_t rows = x.ndim() > 0 ? x.dim(0) : 1;
    const uint64_t offset = rng->take_rows(rows, uint64_t(keep.numel() / std::max<int64_t>(rows, 1)));
    backend_for(x.device()).fill_keep_mask(keep, p_, rng->seed, offset);
    return x * Var(keep);
}

}  // namespace vdm
