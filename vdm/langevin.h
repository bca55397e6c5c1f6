// Annealed Langevin dynamics on the variance-preserving marginals
// (docs/vdm.md#annealed-langevin-dynamics). At a time t the score of q(z_t) is read
// from the network, s_hat = -eps_hat / sigma_t (vdm/parameterization.h
// predicted_score), and one Langevin iteration is
//   z <- z + delta s_hat + sqrt(2 delta) xi,   xi ~ N(0, I),
// with the step size set per image from a target signal-to-noise ratio r,
//   delta = 2 (r |xi| / |s_hat|)^2,
// so that the drift is r times the noise in norm: |delta s_hat| / |sqrt(2 delta) xi| =
// sqrt(delta / 2) |s_hat| / |xi| = r (the score-SDE paper's corrector rule, without its
// per-step DDPM factor alpha_i ~ 1). With |s_hat| ~ sqrt(D) / sigma_t and |xi| ~ sqrt(D),
// delta ~ 2 r^2 sigma_t^2: the step shrinks with the noise level.
//
// Two step rules for the shared loop (vdm/sampler.h), from t to s = t - 1/N:
//   langevin:  `iterations` Langevin iterations targeting q(z_s) (levels s = (N-1)/N .. 0);
//   pc:        the ancestral step t -> s (predictor), then those iterations at s (corrector).
#pragma once
#include "vdm/sampler.h"

namespace vdm {

// delta = 2 (r |xi| / |score|)^2 per image: score, xi (B, C, H, W) -> (B, 1, 1, 1).
Var langevin_step_size(const Var& score, const Var& xi, double snr);

// One Langevin iteration: z + delta score + sqrt(2 delta) xi; delta broadcasts to z.
Var langevin_update(const Var& z, const Var& score, const Var& xi, const Var& delta);

// `iterations` Langevin iterations at time t (one network evaluation and one noise
// draw each), starting from z.
Var langevin_correct(SamplerContext& ctx, Var z, double t, int64_t iterations, double snr);

// Annealed Langevin alone: the step t -> s is `iterations` iterations at level s.
StepRule langevin_rule(int64_t iterations, double snr);

// Predictor-corrector: the ancestral step t -> s, then `iterations` iterations at s.
StepRule predictor_corrector_rule(int64_t iterations, double snr);

}  // namespace vdm
