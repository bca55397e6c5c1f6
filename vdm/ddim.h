// DDIM (docs/vdm.md#ddim): a reverse step that keeps the marginals q(z_s | x) of the
// forward process but chooses how much fresh noise it adds. From z_t and the
// network's eps_hat, with x_hat = (z_t - sigma_t eps_hat) / alpha_t
// (vdm/parameterization.h predicted_x):
//   z_s = alpha_s x_hat + sqrt(sigma_s^2 - c^2) eps_hat + c xi,
//   c^2 = eta^2 sigma_Q^2,  sigma_Q^2 = -sigma_s^2 expm1(gamma_s - gamma_t)  (vdm/process.h),
// so sigma_s^2 - c^2 = sigma_s^2 ((1 - eta^2) + eta^2 exp(gamma_s - gamma_t)), a sum of
// two non-negative terms (no cancellation when a step spans the whole schedule).
// eta = 0: deterministic (no noise is drawn); eta = 1: the ancestral step's mean and
// variance. Any step grid: the shared loop's t = i / N.
#pragma once
#include "vdm/sampler.h"

namespace vdm {

// z_t, eps_hat, xi (B, C, H, W); gamma_s, gamma_t broadcastable (e.g. (B, 1, 1, 1));
// eta in [0, 1]; xi may be undefined when eta = 0. Returns z_s.
Var ddim_step(const Var& z_t, const Var& eps_hat, const Var& gamma_s, const Var& gamma_t,
              double eta, const Var& xi);

// The DDIM step as a step rule: one network evaluation, and one noise draw when eta > 0.
StepRule ddim_rule(double eta);

}  // namespace vdm
