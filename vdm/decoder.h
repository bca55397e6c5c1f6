// The discretized decoder p(x | z_0) (docs/vdm.md#decoder): independent per
// pixel, a categorical over the 256 values v with logits
//   -0.5 exp(-gamma_0) (z_0 / alpha_0 - f(v))^2,
// normalized by log-softmax over v. Exact as gamma_0 -> -infinity.
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/ops.h"

namespace vdm {

constexpr int kPixelValues = 256;

// The categories' centres f(v), v = 0..255 (vdm/encoder.h encode_pixel), (256).
Tensor pixel_centres(DType dtype, Device device = Device::CPU);

// z0 (B, D) and gamma_0 of shape (1) -> log p(v | z0) for all v, (B, D, 256).
Var decoder_log_probs(const Var& z0, const Var& gamma_0);

// -log p(x | z0) summed over the D pixels of each image: z0 (B, D), x I32 (B, D) -> (B).
// decoder_log_probs read at x, computed by the fused categorical_log_prob (autodiff/ops.h).
Var reconstruction_loss(const Var& z0, const Tensor& x, const Var& gamma_0);

// The decoder's most likely value of each pixel: the v whose centre f(v) is nearest
// to z0 / alpha_0. z0 any shape, on any device -> its pixels as uint8, on the host.
std::vector<uint8_t> decoder_mode(const Var& z0, const Var& gamma_0);

}  // namespace vdm
