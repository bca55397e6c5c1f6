// The likelihood the baselines share: every pixel value an independent 256-way
// categorical given its logits (the family of the VDM's decoder, docs/vdm.md#decoder,
// here with free logits from a network),
//   log p(x | logits) = sum_i log softmax(logits_i)[x_i]      (nats per image),
// and a draw of one pixel from its logits. Every model of the results table reports
// nats per image and turns them into bits per dimension with vdm/bpd.h's
// nats_to_bpd, nats / (D ln 2), D = C H W: one definition for every row
// (docs/vdm.md#baselines-vae-iwae-and-pixelcnn).
#pragma once
#include <cstdint>

#include "autodiff/ops.h"

namespace vdm {

constexpr int64_t kPixelValues = 256;

// logits (B, 256 C, H, W), channel c's 256 logits at [256 c, 256 (c + 1)); pixels
// (B, C, H, W) uint8 in host memory -> (B) log-likelihoods in nats.
Var pixel_log_prob(const Var& logits, const uint8_t* pixels);

// The value drawn from softmax(logits) (256 logits, `stride` apart) with the uniform u
// in (0, 1): the first value whose cumulative probability exceeds u.
uint8_t draw_pixel(const double* logits, int64_t stride, double u);

}  // namespace vdm
