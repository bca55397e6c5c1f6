// The diffusion term of the bound, per image, from the noise eps used to make z_t
// and the network's estimate eps_hat(z_t; gamma_t) (docs/vdm.md#continuous-time-loss,
// docs/vdm.md#discrete-time-diffusion-term):
//   continuous time (T -> inf):  L_inf = 0.5 gamma'(t) ||eps - eps_hat||^2
//   discrete time, T steps:      L_T   = (T / 2) expm1(gamma_t - gamma_s) ||eps - eps_hat||^2
// with t = i / T, s = (i - 1) / T, i uniform in 1..T. Each discrete term is the
// Gaussian KL(q(z_s | z_t, x) || p(z_s | z_t)) = 0.5 (SNR(s) - SNR(t)) ||x - x_hat||^2.
//
// The training objective is the same squared error with a chosen weight
// (docs/vdm.md#ddpm-as-a-special-case):
//   vlb:     the bound's weight above (training minimizes the bound);
//   simple:  weight 1, DDPM's unweighted ||eps - eps_hat||^2 at a uniform step.
// Evaluation always uses the bound's weight.
#pragma once
#include <string>

#include "autodiff/ops.h"

namespace vdm {

enum class Objective { Vlb, Simple };

// "vlb" | "simple" -> Objective; anything else is a one-line error.
Objective parse_objective(const std::string& name);

// ||eps - eps_hat||^2 per image: (B, C, H, W) -> (B).
Var squared_error(const Var& eps, const Var& eps_hat);

// The weight of ||eps - eps_hat||^2 in the discrete term, gamma_t, gamma_s (B) -> (B):
// vlb (T / 2) expm1(gamma_t - gamma_s), simple 1.
Var diffusion_weight_discrete(const Var& gamma_t, const Var& gamma_s, int64_t T,
                              Objective objective = Objective::Vlb);

// eps, eps_hat (B, C, H, W); gamma_prime (B) -> (B).
Var diffusion_loss_continuous(const Var& eps, const Var& eps_hat, const Var& gamma_prime);
// eps, eps_hat (B, C, H, W); gamma_t, gamma_s (B) -> (B): the weight times the squared error.
Var diffusion_loss_discrete(const Var& eps, const Var& eps_hat, const Var& gamma_t,
                            const Var& gamma_s, int64_t T, Objective objective = Objective::Vlb);

}  // namespace vdm
