// The VDM bound: prior + reconstruction + diffusion terms.
#include "vdm/model.h"

#include "tensor/backend.h"
#include "vdm/decoder.h"
#include "vdm/diffusion_loss.h"
#include "vdm/encoder.h"
#include "vdm/prior.h"
#include "vdm/process.h"
#include "vdm/time_sampling.h"

namespace vdm {

VdmConfig with_schedule_range(VdmConfig c) {
    if (c.schedule == "ddpm") {
        const std::vector<double> grid = ddpm_gammas(c.T);
        c.gamma_min = c.net.gamma_min = grid.front();
        c.gamma_max = c.net.gamma_max = grid.back();
    }
    return c;
}

Vdm::Vdm(const VdmConfig& cfg, DType dtype_, Rng& init_rng)
    : config(with_schedule_range(cfg)),
      dtype(dtype_),
      objective(parse_objective(cfg.objective)),
      net(config.net, dtype_, init_rng),
      schedule(make_schedule(cfg.schedule, config.gamma_min, config.gamma_max,
                             cfg.schedule_width, dtype_, init_rng, cfg.T)) {
    VDM_CHECK(cfg.loss == "continuous" || cfg.loss == "discrete", "unknown loss '", cfg.loss,
              "' (continuous or discrete)");
    VDM_CHECK(cfg.T >= 1, "T = ", cfg.T, " must be at least 1");
    // The simple objective replaces the bound's weight at DDPM's discrete steps; with
    // the continuous loss it would be another weighting of the integral, and a learned
    // schedule trained on it would learn to make eps easy to guess, not likelihood.
    VDM_CHECK(objective == Objective::Vlb || cfg.loss == "discrete",
              "objective 'simple' needs the discrete loss (DDPM's unweighted eps-MSE at T steps; "
              "use --loss discrete or --objective vlb)");
    VDM_CHECK(objective == Objective::Vlb || !schedule->learned(),
              "objective 'simple' cannot train a learned schedule (it is not a bound on "
              "-log p(x)); use --schedule linear or ddpm, or --objective vlb");
    add_child("net", net);
    add_child("schedule", *schedule);
}

int64_t Vdm::discrete_steps() const {
    return schedule->grid_steps() > 0 ? schedule->grid_steps() : config.T;
}

int64_t Vdm::image_size() const {
    return config.net.image_channels * config.net.height * config.net.width;
}

Shape Vdm::image_shape(int64_t batch) const {
    return Shape{batch, config.net.image_channels, config.net.height, config.net.width};
}

BoundNoise Vdm::draw_noise(int64_t batch, Rng& rng) const {
    // The same stream positions on every device, so a GPU run draws the CPU run's noise.
    Backend& be = backend_for(device());
    BoundNoise noise;
    // A stream with a share (data parallelism) draws this process's rows of the batch's noise.
    const uint64_t D = uint64_t(image_size());
    noise.t = antithetic_times(rng.share_of(batch), rng.uniform()).to(device());  // made on the host
    noise.eps = Tensor::empty(image_shape(batch), dtype, device());
    be.fill_normal(noise.eps, rng.seed, rng.take_rows(batch, D));
    noise.eps0 = Tensor::empty(Shape{batch, image_size()}, dtype, device());
    be.fill_normal(noise.eps0, rng.seed, rng.take_rows(batch, D));
    return noise;
}

BoundTerms Vdm::bound(const uint8_t* pixels, const BoundNoise& noise, Rng* dropout_rng,
                      bool split_schedule_grad) const {
    const int64_t B = noise.t.numel(), D = image_size();
    const Shape per_image{B, 1, 1, 1};
    // Data enters the model's device here: the batch is encoded on the host and
    // uploaded once, as values x and as the decoder's pixel indices.
    Var x(encode(pixels, image_shape(B), dtype).to(device()));  // (B, C, H, W) in (-1, 1)
    Var x_flat = reshape(x, Shape{B, D});
    BoundTerms terms;

    // L_prior and L_recon depend on the schedule's endpoints only.
    Var gamma_0 = schedule->gamma_0(), gamma_1 = schedule->gamma_1();
    if (schedule->learned())  // two scalar reads; the linear schedule's are checked when it is made
        VDM_CHECK(gamma_1.item() > gamma_0.item(), "schedule endpoints crossed: gamma_0 = ",
                  gamma_0.item(), ", gamma_1 = ", gamma_1.item());
    terms.prior = prior_kl(x_flat, gamma_1);
    Var z0 = marginal_sample(x_flat, gamma_0, Var(noise.eps0.to(device())));  // (B, D)
    terms.recon = reconstruction_loss(z0, pixel_indices(pixels, Shape{B, D}).to(device()), gamma_0);

    // L_diffusion at one time per image.
    Var eps(noise.eps.to(device()));
    if (config.loss == "continuous") {
        Var gamma_t = schedule->gamma(noise.t), gamma_prime = schedule->gamma_prime(noise.t);
        if (split_schedule_grad && schedule->learned() && grad_enabled()) {
            terms.gamma_t_leaf = Var(gamma_t.value(), true);
            terms.gamma_prime_leaf = Var(gamma_prime.value(), true);
            terms.t = noise.t;
            gamma_t = terms.gamma_t_leaf;
            gamma_prime = terms.gamma_prime_leaf;
        }
        Var z_t = marginal_sample(x, reshape(gamma_t, per_image), eps);
        Var eps_hat = net.forward(z_t, gamma_t, dropout_rng);
        terms.diffusion = diffusion_loss_continuous(eps, eps_hat, gamma_prime);
        terms.train_diffusion = terms.diffusion;  // vlb only (checked when the model is made)
    } else {
        const int64_t T = discrete_steps();
        DiscreteTimes steps = discretize_times(noise.t, T);
        Var gamma_t = schedule->gamma(steps.t), gamma_s = schedule->gamma(steps.s);
        Var z_t = marginal_sample(x, reshape(gamma_t, per_image), eps);
        Var eps_hat = net.forward(z_t, gamma_t, dropout_rng);
        // One squared error, two weights: the bound's, and the objective's.
        Var error = squared_error(eps, eps_hat);
        terms.diffusion = diffusion_weight_discrete(gamma_t, gamma_s, T) * error;
        terms.train_diffusion =
            objective == Objective::Vlb
                ? terms.diffusion
                : diffusion_weight_discrete(gamma_t, gamma_s, T, objective) * error;
    }
    return terms;
}

void Vdm::schedule_backward(const BoundTerms& terms, double scale) const {
    if (!terms.gamma_t_leaf.defined()) return;
    const Tensor& dgamma = terms.gamma_t_leaf.grad();
    const Tensor& dgamma_prime = terms.gamma_prime_leaf.grad();
    VDM_CHECK(dgamma.defined() && dgamma_prime.defined(),
              "schedule_backward: run backward on the loss first");
    // Endpoints: the bound's gradient, d loss / d gamma_b chained through gamma(t_b).
    Var bound_part = sum(schedule->gamma(terms.t, ScheduleGrad::Endpoints) * Var(dgamma)) +
                     sum(schedule->gamma_prime(terms.t, ScheduleGrad::Endpoints) * Var(dgamma_prime));
    bound_part.backward();
    // Shape: d/d eta mean_b (scale L_b)^2 = sum_b 2 (scale L_b) (d loss / d gamma_b) d gamma_b / d eta,
    // since d loss / d gamma_b = (scale / B) d L_b / d gamma_b.
    Var second_moment_weight = Var(terms.diffusion.value()) * (2.0 * scale);
    Var shape_part =
        sum(schedule->gamma(terms.t, ScheduleGrad::Shape) * second_moment_weight * Var(dgamma)) +
        sum(schedule->gamma_prime(terms.t, ScheduleGrad::Shape) * second_moment_weight *
            Var(dgamma_prime));
    shape_part.backward();
}

}  // namespace vdm
