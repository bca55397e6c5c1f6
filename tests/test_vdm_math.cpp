// The VDM math of docs/vdm.md, checked numerically in float64:
// the three views of the process, the loss terms, the schedules, the sampler step.
#include <doctest/doctest.h>

#include <cmath>

#include "tests/vdm_helpers.h"
#include "vdm/decoder.h"
#include "vdm/diffusion_loss.h"
#include "vdm/encoder.h"
#include "vdm/model.h"
#include "vdm/prior.h"
#include "vdm/process.h"
#include "vdm/sampler.h"
#include "vdm/schedule.h"
#include "vdm/time_sampling.h"

using namespace vdm;

namespace {

Var scalar(double v) { return Var(Tensor::full(Shape{1}, v, DType::F64)); }
double plain_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// (gamma_s, gamma_t) pairs with s < t, from the low-noise end to the high-noise end.
const std::pair<double, double> kGammaPairs[] = {
    {-13.3, -13.2}, {-10.0, -4.0}, {-2.0, -1.5}, {0.0, 3.0}, {4.0, 5.0}, {-6.0, 6.0}};

}  // namespace

TEST_CASE("two Markov steps compose to the marginal") {
    for (const auto& pair : kGammaPairs) {
        const double gamma_s = pair.first, gamma_t = pair.second;  // (clang: no lambda capture of bindings)
        CAPTURE(gamma_s);
        CAPTURE(gamma_t);
        Var gs = scalar(gamma_s), gt = scalar(gamma_t);
        // x -> z_s ~ q(z_s|x) -> z_t ~ q(z_t|z_s): mean alpha_{t|s} alpha_s x, variance
        // alpha_{t|s}^2 sigma_s^2 + sigma_{t|s}^2; the marginal says alpha_t x, sigma_t^2.
        double a_ts = transition_alpha(gs, gt).item();
        double mean_coef = a_ts * alpha(gs).item();
        double variance = a_ts * a_ts * sigma_sq(gs).item() + transition_sigma_sq(gs, gt).item();
        CHECK(mean_coef == doctest::Approx(alpha(gt).item()).epsilon(1e-12));
        CHECK(variance == doctest::Approx(sigma_sq(gt).item()).epsilon(1e-12));
        // Three times r < s < t: q(z_t|z_r) is q(z_s|z_r) followed by q(z_t|z_s).
        Var gr = scalar(gamma_s - 1.0);
        double a_tr = transition_alpha(gs, gt).item() * transition_alpha(gr, gs).item();
        double v_tr = a_ts * a_ts * transition_sigma_sq(gr, gs).item() + transition_sigma_sq(gs, gt).item();
        CHECK(a_tr == doctest::Approx(transition_alpha(gr, gt).item()).epsilon(1e-12));
        CHECK(v_tr == doctest::Approx(transition_sigma_sq(gr, gt).item()).epsilon(1e-12));
    }
}

TEST_CASE("Bayes' rule gives the posterior mu_Q and sigma_Q^2") {
    const double x = 0.37, z_t = -0.81;
    for (const auto& pair : kGammaPairs) {
        const double gamma_s = pair.first, gamma_t = pair.second;  // (clang: no lambda capture of bindings)
        CAPTURE(gamma_s);
        CAPTURE(gamma_t);
        // q(z_s|x) q(z_t|z_s) as a Gaussian in z_s: precisions add, means weight by precision.
        double a_s2 = plain_sigmoid(-gamma_s), s_s2 = plain_sigmoid(gamma_s);
        double a_t2 = plain_sigmoid(-gamma_t), s_t2 = plain_sigmoid(gamma_t);
        double a_ts = std::sqrt(a_t2 / a_s2), s_ts2 = s_t2 - a_ts * a_ts * s_s2;
        double precision = 1.0 / s_s2 + a_ts * a_ts / s_ts2;
        double mean = (std::sqrt(a_s2) * x / s_s2 + a_ts * z_t / s_ts2) / precision;
        Var gs = scalar(gamma_s), gt = scalar(gamma_t);
        CHECK(posterior_mean(scalar(z_t), scalar(x), gs, gt).item() ==
              doctest::Approx(mean).epsilon(1e-9));
        CHECK(posterior_sigma_sq(gs, gt).item() == doctest::Approx(1.0 / precision).epsilon(1e-9));
    }
}

TEST_CASE("stable variance forms equal the plain ones, and stay exact for tiny steps") {
    for (const auto& pair : kGammaPairs) {
        const double gamma_s = pair.first, gamma_t = pair.second;  // (clang: no lambda capture of bindings)
        double s_s2 = plain_sigmoid(gamma_s), s_t2 = plain_sigmoid(gamma_t);
        double a_ts2 = plain_sigmoid(-gamma_t) / plain_sigmoid(-gamma_s);
        double plain_transition = s_t2 - a_ts2 * s_s2;
        double plain_posterior = plain_transition * s_s2 / s_t2;
        Var gs = scalar(gamma_s), gt = scalar(gamma_t);
        CHECK(transition_sigma_sq(gs, gt).item() == doctest::Approx(plain_transition).epsilon(1e-9));
        CHECK(posterior_sigma_sq(gs, gt).item() == doctest::Approx(plain_posterior).epsilon(1e-9));
    }
    // A step of 1e-10 in gamma: sigma_{t|s}^2 = sigma_t^2 (1 - e^{-d}) ~ sigma_t^2 d.
    // The plain difference of two numbers near 1 keeps about 6 digits; expm1 keeps all.
    const double gamma = 2.0, gamma_t = gamma + 1e-10, d = gamma_t - gamma;  // d exact
    double expected = plain_sigmoid(gamma_t) * (d - d * d / 2);
    double stable = transition_sigma_sq(scalar(gamma), scalar(gamma_t)).item();
    CHECK(std::abs(stable - expected) / expected < 1e-12);
    double plain = plain_sigmoid(gamma_t) -
                   plain_sigmoid(-gamma_t) / plain_sigmoid(-gamma) * plain_sigmoid(gamma);
    CHECK(std::abs(plain - expected) / expected > 1e-9);  // the cancellation the stable form avoids
}

TEST_CASE("a discrete diffusion term equals the Gaussian KL of posterior and model") {
    const Shape shape{1, 1, 3, 3};
    Tensor x = test::uniform(shape, 1, -1.0, 1.0), eps = test::randn(shape, 2);
    Tensor eps_hat = test::randn(shape, 3, 0.5);
    const int64_t T = 50;
    for (const auto& pair : kGammaPairs) {
        const double gamma_s = pair.first, gamma_t = pair.second;  // (clang: no lambda capture of bindings)
        CAPTURE(gamma_s);
        Var gs = scalar(gamma_s), gt = scalar(gamma_t);
        Var z_t = marginal_sample(Var(x), gt, Var(eps));
        Var x_hat = (z_t - sigma(gt) * Var(eps_hat)) / alpha(gt);  // eps-parameterization
        // KL(N(mu_Q(x), sigma_Q^2) || N(mu_Q(x_hat), sigma_Q^2)) = |mu - mu_hat|^2 / (2 sigma_Q^2)
        double kl = sum(square(posterior_mean(z_t, Var(x), gs, gt) -
                               posterior_mean(z_t, x_hat, gs, gt))).item() /
                    (2.0 * posterior_sigma_sq(gs, gt).item());
        double term = diffusion_loss_discrete(Var(eps), Var(eps_hat), gt, gs, T).item() / double(T);
        CHECK(term == doctest::Approx(kl).epsilon(1e-8));
        // ... and the x-space form 0.5 (SNR(s) - SNR(t)) |x - x_hat|^2
        double x_form = 0.5 * (snr(gs).item() - snr(gt).item()) * sum(square(Var(x) - x_hat)).item();
        CHECK(term == doctest::Approx(x_form).epsilon(1e-6));
    }
}


TEST_CASE("discrete L_T approaches continuous L_inf as T grows (same network, same eps)") {
    for (const char* kind : {"linear", "learned"}) {
        CAPTURE(kind);
        Rng init(5);
        Vdm model(test::tiny_model(kind, "continuous"), DType::F64, init);
        test::randomize_zero_inits(model, 100);
        const Shape shape = model.image_shape(1);
        Tensor x = test::uniform(shape, 7, -1.0, 1.0), eps = test::randn(shape, 8);
        NoGradGuard no_grad;
        // The integrand 0.5 gamma'(t) |eps - eps_hat(z_t; t)|^2 at times t (n of them).
        auto weighted_error = [&](const Tensor& t, const Var& weight) {
            const int64_t n = t.numel();
            Tensor xs = Tensor::empty(Shape{n, 1, 4, 4}, DType::F64), es = xs.clone();
            for (int64_t i = 0; i < n * 16; ++i) {
                xs.data<double>()[i] = x.at(i % 16);
                es.data<double>()[i] = eps.at(i % 16);
            }
            Var gamma = model.schedule->gamma(t);
            Var z = marginal_sample(Var(xs), reshape(gamma, Shape{n, 1, 1, 1}), Var(es));
            return sum(weight * squared_error(Var(es), model.net.forward(z, gamma))).item() * 0.5;
        };
        // L_inf by the midpoint rule on 4096 points (error ~1e-7 relative here).
        const int64_t Q = 4096;
        Tensor tq = Tensor::empty(Shape{Q}, DType::F64);
        for (int64_t i = 0; i < Q; ++i) tq.data<double>()[i] = (double(i) + 0.5) / double(Q);
        const double l_inf = weighted_error(tq, model.schedule->gamma_prime(tq) * (1.0 / double(Q)));
        // L_T = sum_i 0.5 expm1(gamma(t_i) - gamma(s_i)) |eps - eps_hat(z_{t_i})|^2 exactly.
        double previous_gap = INFINITY;
        for (int64_t T : {10, 100, 1000}) {
            Tensor ti = Tensor::empty(Shape{T}, DType::F64), si = ti.clone();
            for (int64_t i = 1; i <= T; ++i) {
                ti.data<double>()[i - 1] = double(i) / double(T);
                si.data<double>()[i - 1] = double(i - 1) / double(T);
            }
            double l_t = weighted_error(ti, expm1(model.schedule->gamma(ti) - model.schedule->gamma(si)));
            double gap = std::abs(l_t - l_inf) / l_inf;
            CAPTURE(T);
            CHECK(gap < previous_gap);
            previous_gap = gap;
        }
        CHECK(previous_gap < 0.01);  // T = 1000 is within 1% of T -> infinity
    }
}

TEST_CASE("DDPM's per-step weight equals VDM's 0.5 expm1(gamma_t - gamma_{t-1})") {
    const int T = 1000;
    double alpha_bar_prev = 1.0;
    int checked = 0;
    for (int t = 1; t <= T; ++t) {
        const double beta = 1e-4 + (0.02 - 1e-4) * (t - 1) / (T - 1);  // DDPM's linear betas
        const double alpha_t = 1.0 - beta, alpha_bar = alpha_bar_prev * alpha_t;
        if (t >= 2) {
            const double beta_tilde = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * beta;  // sigma_t^2
            const double ddpm = beta * beta / (2.0 * beta_tilde * alpha_t * (1.0 - alpha_bar));
            Var gamma_t = scalar(std::log((1.0 - alpha_bar) / alpha_bar));
            Var gamma_prev = scalar(std::log((1.0 - alpha_bar_prev) / alpha_bar_prev));
            CHECK(0.5 * expm1(gamma_t - gamma_prev).item() == doctest::Approx(ddpm).epsilon(1e-9));
            ++checked;
        }
        alpha_bar_prev = alpha_bar;
    }
    CHECK(checked == T - 1);
}

TEST_CASE("the prior KL equals its Monte Carlo estimate within 3 standard errors") {
    const int64_t D = 6, samples = 200000;
    Tensor x = test::uniform(Shape{1, D}, 11, -1.0, 1.0);
    for (double gamma_1 : {-1.0, 1.0, 5.0}) {
        CAPTURE(gamma_1);
        const double kl = prior_kl(Var(x), scalar(gamma_1)).item();
        // KL = E_q[log q(z|x) - log N(z; 0, I)] with z = alpha x + sigma eps.
        const double a = std::sqrt(plain_sigmoid(-gamma_1)), s2 = plain_sigmoid(gamma_1);
        Tensor eps = test::randn(Shape{samples, D}, 12);
        double sum = 0.0, sum_sq = 0.0;
        for (int64_t n = 0; n < samples; ++n) {
            double log_ratio = 0.0;
            for (int64_t i = 0; i < D; ++i) {
                double e = eps.at(n * D + i), z = a * x.at(i) + std::sqrt(s2) * e;
                log_ratio += -0.5 * e * e - 0.5 * std::log(s2) + 0.5 * z * z;
            }
            sum += log_ratio;
            sum_sq += log_ratio * log_ratio;
        }
        const double mean = sum / samples, stderr_ = std::sqrt((sum_sq / samples - mean * mean) / samples);
        CHECK(std::abs(mean - kl) < 3.0 * stderr_);
        CHECK(kl > 0.0);
    }
}

TEST_CASE("the decoder's log-probabilities normalize and peak at the encoded pixel") {
    const int64_t B = 2, D = 5;
    for (double gamma_0 : {-13.3, -8.0, -2.0, 1.0}) {
        CAPTURE(gamma_0);
        Tensor z0 = test::uniform(Shape{B, D}, 21, -1.2, 1.2);
        Tensor logp = decoder_log_probs(Var(z0), scalar(gamma_0)).value();  // (B, D, 256)
        for (int64_t r = 0; r < B * D; ++r) {
            double total = 0.0;
            for (int v = 0; v < kPixelValues; ++v) total += std::exp(logp.at(r * kPixelValues + v));
            CHECK(total == doctest::Approx(1.0).epsilon(1e-12));
        }
    }
    // Noise-free z_0 = alpha_0 f(x) at gamma_0 = -13.3: the decoder returns x with p > 0.99.
    std::vector<uint8_t> pixels = {0, 1, 127, 254, 255};
    Tensor x = encode(pixels.data(), Shape{1, 5}, DType::F64);
    Var gamma_0 = scalar(-13.3);
    Var loss = reconstruction_loss(alpha(gamma_0) * Var(x), pixel_indices(pixels.data(), Shape{1, 5}), gamma_0);
    CHECK(loss.item() < 5 * 0.01);
    CHECK(encode_pixel(0) == doctest::Approx(-1.0 + 1.0 / 256));
    CHECK(encode_pixel(255) == doctest::Approx(1.0 - 1.0 / 256));
}

TEST_CASE("the learned schedule is monotone, hits its endpoints, and gamma' matches finite differences") {
    Rng rng(3);
    LearnedSchedule schedule(-13.3, 5.0, 16, DType::F64, rng);
    // Move away from the initialization, including negative stored weights: abs() keeps
    // the network monotone whatever the optimizer does to them.
    schedule.w1.data()->value = Tensor::full(Shape{1}, -0.3, DType::F64);
    schedule.w2.data()->value = test::randn(Shape{1, 16}, 31, 8.0);
    schedule.b2.data()->value = test::randn(Shape{1, 16}, 32, 3.0);
    schedule.w3.data()->value = test::randn(Shape{1, 16}, 33, 2.0);
    schedule.gamma0.data()->value = Tensor::full(Shape{1}, -11.0, DType::F64);
    schedule.gamma1.data()->value = Tensor::full(Shape{1}, 6.5, DType::F64);
    NoGradGuard no_grad;
    const int64_t n = 1001;
    Tensor t = Tensor::empty(Shape{n}, DType::F64);
    for (int64_t i = 0; i < n; ++i) t.data<double>()[i] = double(i) / double(n - 1);
    Tensor gamma = schedule.gamma(t).value(), slope = schedule.gamma_prime(t).value();
    CHECK(gamma.at(0) == doctest::Approx(-11.0).epsilon(1e-12));
    CHECK(gamma.at(n - 1) == doctest::Approx(6.5).epsilon(1e-12));
    for (int64_t i = 1; i < n; ++i) CHECK(gamma.at(i) > gamma.at(i - 1));
    // Central differences with Richardson extrapolation at interior times.
    auto gamma_at = [&](double time) {
        return schedule.gamma(Tensor::full(Shape{1}, time, DType::F64)).item();
    };
    for (double time : {0.05, 0.3, 0.5, 0.77, 0.95}) {
        const double h = 1e-3;
        double d1 = (gamma_at(time + h) - gamma_at(time - h)) / (2 * h);
        double d2 = (gamma_at(time + h / 2) - gamma_at(time - h / 2)) / h;
        double numeric = (4 * d2 - d1) / 3;
        double analytic = schedule.gamma_prime(Tensor::full(Shape{1}, time, DType::F64)).item();
        CAPTURE(time);
        CHECK(analytic == doctest::Approx(numeric).epsilon(1e-7));
        CHECK(analytic > 0.0);
    }
    // The linear schedule's gamma' is its constant slope.
    LinearSchedule linear(-13.3, 5.0, DType::F64);
    CHECK(linear.gamma_prime(t).value().at(500) == doctest::Approx(18.3));
    CHECK(linear.gamma(t).value().at(500) == doctest::Approx(-13.3 + 18.3 * 0.5));
}

TEST_CASE("an ancestral step with the true eps has the posterior's mean and variance") {
    const Shape shape{2, 1, 3, 3};
    Tensor x = test::uniform(shape, 41, -1.0, 1.0), eps = test::randn(shape, 42);
    Tensor xi = test::randn(shape, 43);
    for (const auto& pair : kGammaPairs) {
        const double gamma_s = pair.first, gamma_t = pair.second;  // (clang: no lambda capture of bindings)
        CAPTURE(gamma_s);
        Var gs = scalar(gamma_s), gt = scalar(gamma_t);
        Var z_t = marginal_sample(Var(x), gt, Var(eps));
        Var zero(Tensor::zeros(shape, DType::F64));
        Tensor mean = ancestral_step(z_t, Var(eps), gs, gt, zero).value();
        Tensor expected = posterior_mean(z_t, Var(x), gs, gt).value();
        Tensor drawn = ancestral_step(z_t, Var(eps), gs, gt, Var(xi)).value();
        const double sd = std::sqrt(posterior_sigma_sq(gs, gt).item());
        for (int64_t i = 0; i < x.numel(); ++i) {
            CHECK(mean.at(i) == doctest::Approx(expected.at(i)).epsilon(1e-9).scale(1.0));
            CHECK((drawn.at(i) - mean.at(i)) == doctest::Approx(sd * xi.at(i)).epsilon(1e-9).scale(1.0));
        }
    }
}

TEST_CASE("antithetic times cover [0, 1) evenly and discretize to steps 1..T") {
    Tensor t = antithetic_times(BatchShare::whole(4), 0.9);
    CHECK(t.at(0) == doctest::Approx(0.9));
    CHECK(t.at(1) == doctest::Approx(0.15));
    CHECK(t.at(3) == doctest::Approx(0.65));
    DiscreteTimes d = discretize_times(t, 10);
    CHECK(d.t.at(0) == doctest::Approx(1.0));
    CHECK(d.s.at(0) == doctest::Approx(0.9));
    CHECK(d.t.at(1) == doctest::Approx(0.2));
    CHECK(d.s.at(1) == doctest::Approx(0.1));
}
