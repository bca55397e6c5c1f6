// The prior term (docs/vdm.md#prior-term): L_prior = KL(q(z_1 | x) || N(0, I))
//   = 0.5 sum_i (alpha_1^2 x_i^2 + sigma_1^2 - log sigma_1^2 - 1)
//   = 0.5 sum_i (alpha_1^2 (x_i^2 - 1) + softplus(-gamma_1)),
// the second form exact and free of the cancellation in sigma_1^2 - 1 - log sigma_1^2
// when gamma_1 is large (sigma_1^2 -> 1).
#pragma once
#include "autodiff/ops.h"

namespace vdm {

// x (B, D) encoded data, gamma_1 of shape (1) -> KL per image (B).
Var prior_kl(const Var& x, const Var& gamma_1);

}  // namespace vdm
