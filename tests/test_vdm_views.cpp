// The other views of the same model (docs/vdm.md#ddpm-as-a-special-case,
// docs/vdm.md#parameterizations, docs/vdm.md#ddim, docs/vdm.md#annealed-langevin-dynamics),
// checked numerically in float64: DDPM's betas as a schedule, the simple objective as
// the bound's squared error with another weight, the three readings of eps_hat, the
// DDIM step against the ancestral one, and a Langevin iteration on a Gaussian whose
// score is known. Then the samplers end to end on a tiny model, and checkpoints of
// the new config.
#include <doctest/doctest.h>

#include <cmath>

#include "tests/vdm_helpers.h"
#include "vdm/checkpoint.h"
#include "vdm/ddim.h"
#include "vdm/diffusion_loss.h"
#include "vdm/langevin.h"
#include "vdm/model.h"
#include "vdm/parameterization.h"
#include "vdm/process.h"
#include "vdm/sampler.h"
#include "vdm/schedule.h"
#include "vdm/time_sampling.h"

using namespace vdm;

namespace {

using Parts = std::vector<std::string>;

Var scalar(double v) { return Var(Tensor::full(Shape{1}, v, DType::F64)); }

Tensor times_tensor(const std::vector<double>& times) {
    Tensor t = Tensor::empty(Shape{int64_t(times.size())}, DType::F64);
    for (size_t i = 0; i < times.size(); ++i) t.data<double>()[i] = times[i];
    return t;
}

// DDPM's linear betas and abar_i = prod_{j<=i} (1 - beta_j), i = 1..T, as DDPM writes
// them: a plain product, no logarithms.
std::vector<double> ddpm_alpha_bars(int64_t T) {
    std::vector<double> abar;
    double product = 1.0;
    for (int64_t i = 1; i <= T; ++i) {
        const double beta = 1e-4 + (0.02 - 1e-4) * double(i - 1) / double(T - 1);
        product *= 1.0 - beta;
        abar.push_back(product);
    }
    return abar;
}

// (gamma_s, gamma_t) pairs with s < t, from the low-noise end to the high-noise end.
const std::pair<double, double> kGammaPairs[] = {
    {-13.3, -13.2}, {-10.0, -4.0}, {-2.0, -1.5}, {0.0, 3.0}, {4.0, 5.0}, {-13.3, 5.0}};

void check_close(const Tensor& a, const Tensor& b, double tolerance) {
    REQUIRE(a.numel() == b.numel());
    for (int64_t i = 0; i < a.numel(); ++i)
        CHECK(a.at(i) == doctest::Approx(b.at(i)).epsilon(tolerance).scale(1.0));
}

}  // namespace

TEST_CASE("the DDPM gamma grid reproduces abar at every grid point") {
    for (int64_t T : {2, 7, 1000}) {
        CAPTURE(T);
        DdpmSchedule schedule(T, DType::F64);
        const std::vector<double> abar = ddpm_alpha_bars(T);
        CHECK(schedule.grid_steps() == T - 1);
        // Grid point k of the VDM time axis, t = k / (T - 1), is DDPM's latent x_{k+1}.
        std::vector<double> grid_times;
        for (int64_t k = 0; k < T; ++k) grid_times.push_back(double(k) / double(T - 1));
        NoGradGuard no_grad;
        Var gamma = schedule.gamma(times_tensor(grid_times));
        Tensor a_sq = alpha_sq(gamma).value(), s_sq = sigma_sq(gamma).value();
        for (int64_t k = 0; k < T; ++k) {
            CAPTURE(k);
            CHECK(a_sq.at(k) == doctest::Approx(abar[size_t(k)]).epsilon(1e-12).scale(0.0));
            CHECK(s_sq.at(k) == doctest::Approx(1.0 - abar[size_t(k)]).epsilon(1e-9).scale(0.0));
            CHECK(gamma.value().at(k) == doctest::Approx(std::log((1 - abar[size_t(k)]) / abar[size_t(k)])).epsilon(1e-9));
        }
        // z_0 is x_1 (gamma(0) = log(beta_1 / (1 - beta_1))), z_1 is x_T.
        CHECK(schedule.gamma_0().item() == doctest::Approx(std::log(1e-4 / (1 - 1e-4))).epsilon(1e-12));
        CHECK(schedule.gamma_1().item() == gamma.value().at(T - 1));
        // The discrete loss's steps land on the grid: discretize_times with T - 1 steps.
        DiscreteTimes d = discretize_times(antithetic_times(BatchShare::whole(5), 0.37), T - 1);
        Tensor at_t = schedule.gamma(d.t).value();
        for (int64_t b = 0; b < 5; ++b) {
            const int64_t k = int64_t(std::llround(d.t.at(b) * double(T - 1)));
            CHECK(at_t.at(b) == schedule.grid()[size_t(k)]);  // exactly the grid value
        }
    }
}

TEST_CASE("the DDPM schedule between grid points is continuous, monotone, and gamma' is its slope") {
    const int64_t T = 11;
    DdpmSchedule schedule(T, DType::F64);
    NoGradGuard no_grad;
    const int64_t n = 1001;
    std::vector<double> times;
    for (int64_t i = 0; i < n; ++i) times.push_back(double(i) / double(n - 1));
    Tensor gamma = schedule.gamma(times_tensor(times)).value();
    Tensor slope = schedule.gamma_prime(times_tensor(times)).value();
    for (int64_t i = 1; i < n; ++i) CHECK(gamma.at(i) > gamma.at(i - 1));
    for (int64_t i = 0; i < n; ++i) CHECK(slope.at(i) > 0.0);
    // Inside a piece, a central difference is exact for a linear function.
    for (double time : {0.03, 0.25, 0.51, 0.77, 0.98}) {
        CAPTURE(time);
        const double h = 1e-4;
        auto at = [&](double t) { return schedule.gamma(times_tensor({t})).item(); };
        CHECK(schedule.gamma_prime(times_tensor({time})).item() ==
              doctest::Approx((at(time + h) - at(time - h)) / (2 * h)).epsilon(1e-7));
    }
    // Continuous at a grid point: the two pieces meet.
    const double knot = 3.0 / 10.0;
    CHECK(schedule.gamma(times_tensor({knot - 1e-12})).item() ==
          doctest::Approx(schedule.grid()[3]).epsilon(1e-9));
    // with_schedule_range gives the ScoreNet the grid's range, and the model T - 1 steps.
    VdmConfig c = test::tiny_model("ddpm", "discrete");
    c.T = T;
    Rng init(1);
    Vdm model(c, DType::F64, init);
    CHECK(model.discrete_steps() == T - 1);
    CHECK(model.config.gamma_min == schedule.grid().front());
    CHECK(model.net.config.gamma_max == schedule.grid().back());
    test::check_error([] { ddpm_gammas(1); }, Parts{"ddpm schedule", "at least 2"});
    test::check_error([] { DdpmSchedule(5, DType::F64).gamma(times_tensor({1.5})); }, Parts{"outside [0, 1]"});
}

TEST_CASE("the simple objective is the bound's discrete diffusion term with unit weights") {
    const Shape shape{3, 1, 4, 4};
    Tensor eps = test::randn(shape, 1), eps_hat = test::randn(shape, 2, 0.7);
    std::vector<double> s_values, t_values;
    for (int64_t b = 0; b < 3; ++b) {
        s_values.push_back(kGammaPairs[b + 1].first);
        t_values.push_back(kGammaPairs[b + 1].second);
    }
    Var gs(times_tensor(s_values)), gt(times_tensor(t_values));
    const int64_t T = 999;
    Tensor vlb = diffusion_loss_discrete(Var(eps), Var(eps_hat), gt, gs, T).value();
    Tensor simple = diffusion_loss_discrete(Var(eps), Var(eps_hat), gt, gs, T, Objective::Simple).value();
    Tensor error = squared_error(Var(eps), Var(eps_hat)).value();
    for (int64_t b = 0; b < 3; ++b) {
        double direct = 0.0;
        for (int64_t i = 0; i < 16; ++i) direct += std::pow(eps.at(b * 16 + i) - eps_hat.at(b * 16 + i), 2);
        CHECK(simple.at(b) == doctest::Approx(direct).epsilon(1e-12));
        CHECK(simple.at(b) == error.at(b));
        const double weight = 0.5 * double(T) * std::expm1(gt.value().at(b) - gs.value().at(b));
        CHECK(vlb.at(b) == doctest::Approx(weight * direct).epsilon(1e-12));
    }

    // In the model: one squared error, two weights. The bound does not depend on the
    // objective; train_diffusion is the unweighted error at the bound's own step.
    VdmConfig c = test::tiny_model("ddpm", "discrete");
    c.T = 50;
    Rng init_vlb(4), init_simple(4);
    Vdm vlb_model(c, DType::F64, init_vlb);
    c.objective = "simple";
    Vdm simple_model(c, DType::F64, init_simple);
    test::randomize_zero_inits(vlb_model, 10);
    test::randomize_zero_inits(simple_model, 10);
    const Dataset data = test::synthetic_images(4);
    Rng noise_rng(8);
    BoundNoise noise = vlb_model.draw_noise(4, noise_rng);
    NoGradGuard no_grad;
    BoundTerms a = vlb_model.bound(data.images.data(), noise), b = simple_model.bound(data.images.data(), noise);
    DiscreteTimes steps = discretize_times(noise.t, simple_model.discrete_steps());
    Tensor weight = diffusion_weight_discrete(simple_model.schedule->gamma(steps.t),
                                              simple_model.schedule->gamma(steps.s), 49).value();
    for (int64_t i = 0; i < 4; ++i) {
        CHECK(b.diffusion.value().at(i) == a.diffusion.value().at(i));  // the same bound
        CHECK(a.train_diffusion.value().at(i) == a.diffusion.value().at(i));
        CHECK(b.train_diffusion.value().at(i) * weight.at(i) ==
              doctest::Approx(b.diffusion.value().at(i)).epsilon(1e-12));
        CHECK(b.train_total().value().at(i) ==
              doctest::Approx(b.prior.value().at(i) + b.recon.value().at(i) + b.train_diffusion.value().at(i)));
    }
}

TEST_CASE("objectives and losses that do not fit are one-line errors") {
    Rng rng(1);
    VdmConfig c = test::tiny_model("linear", "continuous");
    c.objective = "simple";
    test::check_error([&] { Vdm m(c, DType::F64, rng); }, Parts{"objective 'simple'", "discrete loss"});
    c = test::tiny_model("learned", "discrete");
    c.objective = "simple";
    test::check_error([&] { Vdm m(c, DType::F64, rng); }, Parts{"objective 'simple'", "learned schedule"});
    c = test::tiny_model("linear", "discrete");
    c.objective = "likelihood";
    test::check_error([&] { Vdm m(c, DType::F64, rng); }, Parts{"unknown objective 'likelihood'"});
    c = test::tiny_model("ddpm", "discrete");
    c.T = 1;
    test::check_error([&] { Vdm m(c, DType::F64, rng); }, Parts{"ddpm schedule: T = 1"});
    // The fitting combinations build.
    for (const char* schedule : {"linear", "ddpm"}) {
        c = test::tiny_model(schedule, "discrete");
        c.objective = "simple";
        CHECK_NOTHROW(Vdm(c, DType::F64, rng));
    }
    c = test::tiny_model("ddpm", "continuous");
    CHECK_NOTHROW(Vdm(c, DType::F64, rng));
}

TEST_CASE("eps_hat -> x_hat -> score -> eps_hat round-trips, and Tweedie's formula holds") {
    const Shape shape{4, 1, 3, 3};
    Tensor z = test::randn(shape, 21, 1.3), eps_hat = test::randn(shape, 22);
    Tensor gammas = test::uniform(Shape{4, 1, 1, 1}, 23, -13.0, 8.0);
    Var g(gammas);
    Var x_hat = predicted_x(Var(z), g, Var(eps_hat));
    Var eps_again = eps_from_x(Var(z), g, x_hat);
    Var score = predicted_score(g, eps_again);
    Var eps_back = eps_from_score(g, score);
    check_close(eps_again.value(), eps_hat, 1e-9);
    check_close(eps_back.value(), eps_hat, 1e-12);
    // Tweedie: alpha_t x_hat = z_t + sigma_t^2 score, and z = alpha x_hat + sigma eps_hat.
    check_close((alpha(g) * x_hat).value(), (Var(z) + sigma_sq(g) * score).value(), 1e-9);
    check_close(marginal_sample(x_hat, g, Var(eps_hat)).value(), z, 1e-9);
    // The score of a Gaussian marginal is -eps / sigma_t exactly when eps_hat is the true eps
    // and x is a point mass: q(z_t) = N(alpha x, sigma^2), grad log q = -(z - alpha x) / sigma^2.
    Tensor x = test::uniform(shape, 24, -1.0, 1.0), eps = test::randn(shape, 25);
    Var z_t = marginal_sample(Var(x), g, Var(eps));
    check_close(predicted_score(g, Var(eps)).value(),
                (-(z_t - alpha(g) * Var(x)) / sigma_sq(g)).value(), 1e-9);
}

TEST_CASE("a DDIM step with eta = 1 has the ancestral step's mean and variance") {
    const Shape shape{2, 1, 3, 3};
    Tensor z = test::randn(shape, 31), eps_hat = test::randn(shape, 32, 0.8), xi = test::randn(shape, 33);
    Var zero(Tensor::zeros(shape, DType::F64));
    for (const auto& pair : kGammaPairs) {
        const double gamma_s = pair.first, gamma_t = pair.second;
        CAPTURE(gamma_s);
        CAPTURE(gamma_t);
        Var gs = scalar(gamma_s), gt = scalar(gamma_t);
        Tensor ddim_mean = ddim_step(Var(z), Var(eps_hat), gs, gt, 1.0, zero).value();
        Tensor ancestral_mean = ancestral_step(Var(z), Var(eps_hat), gs, gt, zero).value();
        check_close(ddim_mean, ancestral_mean, 1e-9);
        // The noise's coefficient: both add sigma_Q xi.
        Tensor ddim_drawn = ddim_step(Var(z), Var(eps_hat), gs, gt, 1.0, Var(xi)).value();
        Tensor ancestral_drawn = ancestral_step(Var(z), Var(eps_hat), gs, gt, Var(xi)).value();
        const double sd = std::sqrt(posterior_sigma_sq(gs, gt).item());
        for (int64_t i = 0; i < z.numel(); ++i) {
            CHECK(ddim_drawn.at(i) - ddim_mean.at(i) == doctest::Approx(sd * xi.at(i)).epsilon(1e-9).scale(1.0));
            CHECK(ancestral_drawn.at(i) - ancestral_mean.at(i) ==
                  doctest::Approx(sd * xi.at(i)).epsilon(1e-9).scale(1.0));
        }
    }
}

TEST_CASE("DDIM with eta = 0 and the true eps maps z_t to the exact z_s; any eta keeps sigma_s^2") {
    const Shape shape{2, 1, 3, 3};
    Tensor x = test::uniform(shape, 41, -1.0, 1.0), eps = test::randn(shape, 42);
    Tensor xi = test::randn(shape, 43);
    Var zero(Tensor::zeros(shape, DType::F64));
    for (const auto& pair : kGammaPairs) {
        const double gamma_s = pair.first, gamma_t = pair.second;
        CAPTURE(gamma_s);
        CAPTURE(gamma_t);
        Var gs = scalar(gamma_s), gt = scalar(gamma_t);
        Var z_t = marginal_sample(Var(x), gt, Var(eps));
        Tensor z_s = ddim_step(z_t, Var(eps), gs, gt, 0.0, Var()).value();
        check_close(z_s, marginal_sample(Var(x), gs, Var(eps)).value(), 1e-9);
        // With the true eps, z_s = alpha_s x + k eps + c xi: k^2 + c^2 = sigma_s^2 for every eta,
        // so q(z_s | x) is kept. k is read off with xi = 0, c from the difference.
        for (double eta : {0.3, 0.7, 1.0}) {
            CAPTURE(eta);
            Tensor mean = ddim_step(z_t, Var(eps), gs, gt, eta, zero).value();
            Tensor drawn = ddim_step(z_t, Var(eps), gs, gt, eta, Var(xi)).value();
            const double alpha_s = alpha(gs).item();
            const double k = (mean.at(0) - alpha_s * x.at(0)) / eps.at(0);
            const double c = (drawn.at(0) - mean.at(0)) / xi.at(0);
            CHECK(k * k + c * c == doctest::Approx(sigma_sq(gs).item()).epsilon(1e-7).scale(0.0));
            CHECK(c * c == doctest::Approx(eta * eta * posterior_sigma_sq(gs, gt).item()).epsilon(1e-7).scale(0.0));
        }
    }
    test::check_error([&] { ddim_step(zero, zero, scalar(0.0), scalar(1.0), 1.5, zero); }, Parts{"eta = 1.5"});
}

TEST_CASE("Langevin iterations move particles to a Gaussian whose score is known") {
    // Target N(m, v) in every coordinate; B "images" of D coordinates, all starting from
    // N(0, 1). The score is -(z - m) / v. With y = z - m and Y = |y|^2, one iteration is
    // y' = (1 - delta / v) y + sqrt(2 delta) xi, delta = c |xi|^2 / Y, c = 2 r^2 v^2, so
    // E[Y' | Y] = Y - 2 c D / v + (c^2 / v^2 + 2 c) D (D + 2) / Y   (E|xi|^4 = D (D + 2)).
    // At stationarity, with E[1 / Y] = D / ((D - 2) E[Y]) (Y ~ a scaled chi-square), the
    // variance per coordinate is E[Y] / D = v (1 + r^2) (D + 2) / (D - 2): the target's v,
    // inflated by the discretization (r^2) and the per-image step size (O(1/D)); exact up
    // to O(delta^2) terms. A wrong sign of the drift diverges; a wrong noise factor (e.g.
    // sqrt(delta)) halves the variance.
    const int64_t B = 500, D = 64;
    const Shape shape{B, 1, 8, 8};
    const double m = 2.0, v = 0.25;
    for (double r : {0.16, 0.5}) {
        CAPTURE(r);
        Var z(test::randn(shape, 50));
        for (int k = 0; k < 800; ++k) {
            Var score = (z - m) * (-1.0 / v);
            Var xi(test::randn(shape, 1000 + uint64_t(k)));
            z = langevin_update(z, score, xi, langevin_step_size(score, xi, r));
        }
        const Tensor zs = z.value();
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < B * D; ++i) mean += zs.at(i) / double(B * D);
        for (int64_t i = 0; i < B * D; ++i) var += std::pow(zs.at(i) - mean, 2) / double(B * D - 1);
        const double expected = v * (1 + r * r) * double(D + 2) / double(D - 2);
        CAPTURE(var);
        CAPTURE(expected);
        CHECK(std::abs(mean - m) < 0.01);
        CHECK(var == doctest::Approx(expected).epsilon(0.03).scale(0.0));  // relative
    }
    // The step size per image, from its definition.
    Tensor score = test::randn(Shape{2, 1, 2, 2}, 60, 3.0), xi = test::randn(Shape{2, 1, 2, 2}, 61);
    Tensor delta = langevin_step_size(Var(score), Var(xi), 0.2).value();
    REQUIRE(delta.numel() == 2);
    for (int64_t b = 0; b < 2; ++b) {
        double xi_sq = 0.0, score_sq = 0.0;
        for (int64_t i = 0; i < 4; ++i) {
            xi_sq += std::pow(xi.at(b * 4 + i), 2);
            score_sq += std::pow(score.at(b * 4 + i), 2);
        }
        CHECK(delta.at(b) == doctest::Approx(2.0 * 0.04 * xi_sq / score_sq).epsilon(1e-12));
    }
}

TEST_CASE("every sampler is reproducible from its seed and counts its network evaluations") {
    for (const char* schedule : {"linear", "ddpm"}) {
        CAPTURE(schedule);
        VdmConfig c = test::tiny_model(schedule, "discrete");
        Rng init(3);
        Vdm model(c, DType::F32, init);
        test::randomize_zero_inits(model, 30);
        struct Case {
            const char* name;
            StepRule rule;
            int64_t evals_per_step;
        };
        const Case cases[] = {{"ancestral", ancestral_rule(), 1},
                              {"ddim eta 0", ddim_rule(0.0), 1},
                              {"ddim eta 1", ddim_rule(1.0), 1},
                              {"langevin", langevin_rule(2, 0.5), 2},
                              {"pc", predictor_corrector_rule(3, 0.16), 4}};
        for (const Case& k : cases) {
            CAPTURE(k.name);
            const int64_t steps = 5;
            Samples a = sample_loop(model, k.rule, 3, steps, 11), b = sample_loop(model, k.rule, 3, steps, 11);
            CHECK(a.images == b.images);
            CHECK(a.images.size() == 3 * 16);
            CHECK(a.network_evals == steps * k.evals_per_step);
            CHECK(sample_loop(model, k.rule, 3, steps, 12).images != a.images);
        }
        // The ancestral sampler is the shared loop with the ancestral rule.
        CHECK(ancestral_sample(model, 3, 7, 5) == sample_loop(model, ancestral_rule(), 3, 7, 5).images);
    }
    test::check_error([] { langevin_rule(0, 0.16); }, Parts{"iterations = 0"});
    test::check_error([] { ddim_rule(-0.5); }, Parts{"eta = -0.5"});
}

TEST_CASE("checkpoints record the ddpm schedule and the objective; old ones load as vlb") {
    const Dataset data = test::synthetic_images(8);
    test::TempDir dir("vdm_views_ckpt_");
    const std::string ckpt = dir.file("c.safetensors");
    RunConfig cfg = test::tiny_run("ddpm", "discrete");
    cfg.model.T = 30;
    cfg.model.objective = "simple";
    Trainer trainer(cfg, data, test::all_indices(8));
    StepStats s = trainer.step();
    CHECK(s.loss != s.bpd);  // trained on the simple loss, reported as the bound too
    trainer.step();
    save_checkpoint(trainer, ckpt);
    RunConfig back = read_checkpoint_config(ckpt);
    CHECK(back.model.schedule == "ddpm");
    CHECK(back.model.objective == "simple");
    CHECK(back.model.T == 30);
    CHECK(back.model.gamma_min == ddpm_gammas(30).front());  // the trainer records the grid's range
    Trainer resumed(back, data, test::all_indices(8));
    load_checkpoint(resumed, ckpt);
    CHECK(resumed.steps_done == 2);
    TrainedModel loaded = load_ema_model(ckpt);
    CHECK(loaded.model->discrete_steps() == 29);
    CHECK(loaded.model->objective == Objective::Simple);

    // A checkpoint written before the objective existed: no "objective" key.
    Trainer old_run(test::tiny_run(), data, test::all_indices(8));
    old_run.step();
    save_checkpoint(old_run, ckpt);
    SafetensorsFile file = load_safetensors(ckpt);
    REQUIRE(file.metadata.erase("objective") == 1);
    const std::string old_ckpt = dir.file("old.safetensors");
    save_safetensors(old_ckpt, file.tensors, file.metadata);
    CHECK(read_checkpoint_config(old_ckpt).model.objective == "vlb");
    Trainer old_resumed(read_checkpoint_config(old_ckpt), data, test::all_indices(8));
    CHECK_NOTHROW(load_checkpoint(old_resumed, old_ckpt));
    CHECK(load_ema_model(old_ckpt).model->objective == Objective::Vlb);
}
