// The basic layers: Linear, Conv2d, GroupNorm, Dropout. Each is one autodiff op
// (or two) around its parameters; the math and its gradient live in autodiff/.
#pragma once
#include "autodiff/ops.h"
#include "nn/module.h"

namespace vdm {

// y = x W^T + b: x (B, in), W (out, in), b (out).
class Linear : public Module {
public:
    // init_scale 0 gives a zero-initialized layer (outputs start at exactly 0).
    Linear(int64_t in, int64_t out, DType dtype, Rng& rng, double init_scale = 1.0);
    Var forward(const Var& x) const;  // (B, in) -> (B, out)

    Var weight, bias;
};

// Same-padded k x k convolution, stride 1: x (B, Cin, H, W) -> (B, Cout, H, W).
class Conv2d : public Module {
public:
    Conv2d(int64_t in, int64_t out, int64_t kernel, DType dtype, Rng& rng, double init_scale = 1.0);
    Var forward(const Var& x) const;

    Var weight, bias;  // (Cout, Cin, k, k), (Cout)
};

// Group normalization with a per-channel affine: x (B, C, H, W).
class GroupNorm : public Module {
public:
    GroupNorm(int64_t groups, int64_t channels, DType dtype);
    Var forward(const Var& x) const;

    int64_t groups;
    Var weight, bias;  // (C), start at 1 and 0
};

// Inverted dropout: in training each element is zeroed with probability p and the
// rest scaled by 1 / (1 - p); without an Rng (evaluation) it is the identity.
class Dropout {
public:
    explicit Dropout(double p);
    Var forward(const Var& x, Rng* rng) const;

private:
    double p_;
};

}  // namespace vdm
