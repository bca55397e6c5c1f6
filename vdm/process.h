// The Gaussian diffusion process in its three views (docs/vdm.md#forward-process), as
// functions of the schedule value gamma = -log SNR. Every argument broadcasts, so
// gamma may be (B, 1, 1, 1) against images (B, C, H, W), or scalars in tests.
//
//   marginal    q(z_t | x)      = N(alpha_t x, sigma_t^2 I)
//   transition  q(z_t | z_s)    = N(alpha_{t|s} z_s, sigma_{t|s}^2 I),  s < t
//   posterior   q(z_s | z_t, x) = N(mu_Q, sigma_Q^2 I)
// Variances that are differences of nearly equal numbers use expm1.
#pragma once
#include "autodiff/ops.h"

namespace vdm {

Var alpha_sq(const Var& gamma);  // sigmoid(-gamma)
Var sigma_sq(const Var& gamma);  // sigmoid(gamma)
Var alpha(const Var& gamma);     // sqrt(sigmoid(-gamma))
Var sigma(const Var& gamma);     // sqrt(sigmoid(gamma))
Var snr(const Var& gamma);       // alpha^2 / sigma^2 = exp(-gamma)

// z_t = alpha_t x + sigma_t eps: a sample of the marginal for given noise.
Var marginal_sample(const Var& x, const Var& gamma_t, const Var& eps);

// alpha_{t|s} = alpha_t / alpha_s.
Var transition_alpha(const Var& gamma_s, const Var& gamma_t);
// sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2 = -sigma_t^2 expm1(gamma_s - gamma_t).
Var transition_sigma_sq(const Var& gamma_s, const Var& gamma_t);

// mu_Q = (alpha_{t|s} sigma_s^2 / sigma_t^2) z_t + (alpha_s sigma_{t|s}^2 / sigma_t^2) x.
Var posterior_mean(const Var& z_t, const Var& x, const Var& gamma_s, const Var& gamma_t);
// sigma_Q^2 = sigma_{t|s}^2 sigma_s^2 / sigma_t^2 = -sigma_s^2 expm1(gamma_s - gamma_t).
Var posterior_sigma_sq(const Var& gamma_s, const Var& gamma_t);

}  // namespace vdm
