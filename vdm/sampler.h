// Ancestral sampling (docs/vdm.md#ancestral-sampling): z_1 ~ N(0, I), then for
// i = T..1 with t = i / T, s = (i - 1) / T one exact draw from
// p(z_s | z_t) = q(z_s | z_t, x = x_hat(z_t)):
//   z_s = (alpha_s / alpha_t) (z_t - c sigma_t eps_hat) + sqrt(c sigma_s^2) xi,
//   c = -expm1(gamma_s - gamma_t),  xi ~ N(0, I),
// and finally the decoder's most likely pixel values given z_0.
// (Some write-ups give another update here; it is not this posterior, see
// docs/vdm.md#where-other-write-ups-differ.)
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "vdm/model.h"

namespace vdm {

// One reverse step: z_t, eps_hat (B, C, H, W); gamma_s, gamma_t broadcastable
// (e.g. shape (1)); xi the fresh noise. Returns z_s.
Var ancestral_step(const Var& z_t, const Var& eps_hat, const Var& gamma_s, const Var& gamma_t,
                   const Var& xi);

// n images as uint8 (n, C, H, W) after `steps` reverse steps, reproducible from seed;
// runs on the model's device.
// progress(i) is called after each step (i = steps..1 counts down), may be empty.
std::vector<uint8_t> ancestral_sample(const Vdm& model, int64_t n, int64_t steps, uint64_t seed,
                                      const std::function<void(int64_t)>& progress = {});

}  // namespace vdm
