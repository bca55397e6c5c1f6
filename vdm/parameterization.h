// The three readings of the network's one output eps_hat(z_t; t)
// (docs/vdm.md#parameterizations):
//   noise:  eps_hat                              (what the network outputs)
//   data:   x_hat = (z_t - sigma_t eps_hat) / alpha_t   (Tweedie's denoiser)
//   score:  grad log q(z_t) ~ -eps_hat / sigma_t
// and the conversions back to eps_hat, so every sampler and test goes through this
// one place. z_t and eps_hat are (B, C, H, W); gamma_t broadcasts to them, e.g.
// (B, 1, 1, 1).
#pragma once
#include "autodiff/ops.h"

namespace vdm {

Var predicted_x(const Var& z_t, const Var& gamma_t, const Var& eps_hat);
Var predicted_score(const Var& gamma_t, const Var& eps_hat);

// The inverses: eps_hat from x_hat, eps_hat = (z_t - alpha_t x_hat) / sigma_t, and
// from a score, eps_hat = -sigma_t score.
Var eps_from_x(const Var& z_t, const Var& gamma_t, const Var& x_hat);
Var eps_from_score(const Var& gamma_t, const Var& score);

}  // namespace vdm
