// Sampling from a trained VDM (docs/vdm.md#ancestral-sampling): the loop every
// fixed-grid sampler shares, and the ancestral step.
//
// The loop: z_1 ~ N(0, I), then for i = N..1 with t = i / N, s = (i - 1) / N one step
// of a StepRule, z_t -> z_s, and finally the decoder's most likely pixel values given
// z_0 (vdm/decoder.h decoder_mode). A step rule sees the model through a
// SamplerContext: gamma at a time, eps_hat (each call is one network evaluation,
// counted), and fresh N(0, I) noise from the sampler's one stream, whose positions
// are the same on every device. The rules: ancestral (here), DDIM (vdm/ddim.h),
// annealed Langevin and predictor-corrector (vdm/langevin.h).
//
// Ancestral step: one exact draw from p(z_s | z_t) = q(z_s | z_t, x = x_hat(z_t)):
//   z_s = (alpha_s / alpha_t) (z_t - c sigma_t eps_hat) + sqrt(c sigma_s^2) xi,
//   c = -expm1(gamma_s - gamma_t),  xi ~ N(0, I).
// (Some write-ups give another update here; it is not this posterior, see
// docs/vdm.md#where-other-write-ups-differ.)
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "vdm/model.h"

namespace vdm {

// What a step rule may use while drawing n images. No gradients are recorded.
class SamplerContext {
public:
    SamplerContext(const Vdm& model, int64_t n, uint64_t seed);

    // gamma(t) for each image, (n), on the model's device: the network's conditioning.
    Var gamma(double t) const;
    // (n) -> (n, 1, 1, 1), to broadcast against images.
    Var per_image(const Var& v) const;
    // The network's eps_hat(z; gamma), z (n, C, H, W), gamma (n); counts one evaluation.
    Var eps_hat(const Var& z, const Var& gamma);
    // Fresh N(0, I) noise (n, C, H, W): the next positions of the stream Rng(seed).
    Var normal();

    const Vdm& model;
    const int64_t n;
    int64_t network_evals = 0;  // forward passes of the ScoreNet (each over all n images)

private:
    Rng rng_;
};

// One step of a sampler: z at time t -> z at time s < t.
using StepRule = std::function<Var(SamplerContext& ctx, const Var& z, double t, double s)>;

// Images (n, C, H, W) as uint8, and the number of ScoreNet forward passes that drew them.
struct Samples {
    std::vector<uint8_t> images;
    int64_t network_evals = 0;
};

// progress(done, total) after each step; may be empty.
using SampleProgress = std::function<void(int64_t done, int64_t total)>;
// observe(ctx, z, t): z at time t, once at t = 1 and after each step; may be empty
// (vdm/trajectory.h records a few of them).
using SampleObserver = std::function<void(SamplerContext& ctx, const Var& z, double t)>;

// The shared loop above, with `steps` steps of `step`, reproducible from seed, on the
// model's device.
Samples sample_loop(const Vdm& model, const StepRule& step, int64_t n, int64_t steps, uint64_t seed,
                    const SampleProgress& progress = {}, const SampleObserver& observe = {});

// One reverse step: z_t, eps_hat (B, C, H, W); gamma_s, gamma_t broadcastable
// (e.g. shape (1)); xi the fresh noise. Returns z_s.
Var ancestral_step(const Var& z_t, const Var& eps_hat, const Var& gamma_s, const Var& gamma_t,
                   const Var& xi);

// The ancestral step as a step rule: one network evaluation and one noise draw.
StepRule ancestral_rule();

// n images as uint8 (n, C, H, W) after `steps` ancestral steps, reproducible from seed;
// runs on the model's device.
// progress(i) is called after each step (i = steps..1 counts down), may be empty.
std::vector<uint8_t> ancestral_sample(const Vdm& model, int64_t n, int64_t steps, uint64_t seed,
                                      const std::function<void(int64_t)>& progress = {});

}  // namespace vdm
