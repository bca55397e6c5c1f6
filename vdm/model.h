// The Variational Diffusion Model: a ScoreNet and a noise schedule, and the
// variational bound per image (docs/vdm.md#variational-bound),
//   -log p(x) <= L_prior + L_recon + L_diffusion     (nats per image),
// and the training objective: the bound (vlb), or DDPM's unweighted eps-MSE in
// place of the diffusion term (simple; docs/vdm.md#ddpm-as-a-special-case).
// The randomness of one evaluation (times, eps for z_t, eps for z_0) is an explicit
// BoundNoise, so tests can hold it fixed; draw_noise makes it from an Rng.
#pragma once
#include <memory>
#include <string>

#include "nn/score_net.h"
#include "vdm/diffusion_loss.h"
#include "vdm/schedule.h"

namespace vdm {

struct VdmConfig {
    ScoreNetConfig net;
    std::string schedule = "linear";  // linear | learned | ddpm
    // linear schedule; learned: initial endpoints; ddpm: its grid's endpoints (set by
    // with_schedule_range), not free
    double gamma_min = -13.3, gamma_max = 5.0;
    int64_t schedule_width = 256;     // sigmoid units of the learned schedule
    std::string loss = "continuous";  // continuous | discrete
    // steps of the discrete-time loss; ddpm: DDPM's T (T betas, T - 1 loss steps)
    int64_t T = 1000;
    // training objective (vdm/diffusion_loss.h): vlb, the bound; simple, DDPM's
    // unweighted eps-MSE (discrete loss, fixed schedule only)
    std::string objective = "vlb";
};

// c with the ddpm schedule's gamma_min, gamma_max (and the ScoreNet's conditioning
// range) set to its grid's gamma(0), gamma(1) for c.T; other schedules unchanged.
VdmConfig with_schedule_range(VdmConfig c);

// draw_noise makes all three on the model's device.
struct BoundNoise {
    Tensor t;     // (B) times in [0, 1), F64
    Tensor eps;   // (B, C, H, W) noise for z_t
    Tensor eps0;  // (B, D) noise for z_0 in the reconstruction term
};

struct BoundTerms {
    Var prior, recon, diffusion;  // (B) nats per image
    // The objective's diffusion term (B): the same squared error as `diffusion` with
    // the objective's weight; the very same Var as `diffusion` for vlb.
    Var train_diffusion;
    // Learned schedule, continuous time, split gradients (see Vdm::bound): leaves
    // standing in for gamma(t) and gamma'(t), and the times they were taken at.
    Var gamma_t_leaf, gamma_prime_leaf;
    Tensor t;

    Var total() const { return prior + recon + diffusion; }                // the bound
    Var train_total() const { return prior + recon + train_diffusion; }    // what training minimizes
};

class Vdm : public Module {
public:
    Vdm(const VdmConfig& config, DType dtype, Rng& init_rng);

    // Antithetic times, eps and eps0 for a batch of B images; when rng has a share
    // (tensor/rng.h), B is the share's rows and these are its rows of the whole batch's.
    BoundNoise draw_noise(int64_t batch, Rng& rng) const;

    // The three terms for a batch of uint8 pixels (B, C, H, W) in host memory. The
    // noise may be on any device (it is copied to the model's when it is elsewhere).
    // split_schedule_grad (learned schedule, continuous loss): gamma(t) and gamma'(t)
    // enter the graph as leaves; after backward, schedule_backward gives the
    // endpoints the bound's gradient and the shape the gradient of the estimator's
    // second moment (docs/vdm.md#variance-objective). Otherwise every parameter gets the
    // bound's gradient directly. The terms are always the bound's; train_diffusion is
    // the config's objective (the same squared error, its own weight).
    BoundTerms bound(const uint8_t* pixels, const BoundNoise& noise, Rng* dropout_rng = nullptr,
                     bool split_schedule_grad = false) const;

    // After loss.backward() with loss = scale * mean_b(total_b): moves the leaves'
    // gradients into the schedule (endpoints: bound; shape: d/d eta mean_b((scale L_b)^2)).
    // With a share of the batch, loss = scale * sum over its rows / B: each process adds
    // its rows' part of both, and the sum over processes is the whole batch's.
    void schedule_backward(const BoundTerms& terms, double scale) const;

    int64_t image_size() const;  // D = C H W
    Shape image_shape(int64_t batch) const;
    // Steps of the discrete-time loss: the schedule's grid (ddpm: T - 1), else config.T.
    int64_t discrete_steps() const;

    const VdmConfig config;  // after with_schedule_range
    const DType dtype;
    const Objective objective;
    ScoreNet net;
    std::unique_ptr<Schedule> schedule;
};

}  // namespace vdm
