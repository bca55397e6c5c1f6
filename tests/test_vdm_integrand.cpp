// The diffusion integrand at chosen times (vdm/integrand.h): it is the bound's
// continuous diffusion term at the bound's own time and eps, its mean over t and eps
// estimates that term, and it is reproducible from its seed. Tiny models on 4x4 images.
#include <doctest/doctest.h>

#include <cmath>

#include "tests/vdm_helpers.h"
#include "vdm/bpd.h"
#include "vdm/encoder.h"
#include "vdm/integrand.h"
#include "vdm/parameterization.h"
#include "vdm/process.h"

using namespace vdm;
using test::randomize_zero_inits;
using test::synthetic_images;
using test::tiny_model;

namespace {

constexpr int64_t kD = 16;  // values per 4x4 image

// `copies` copies of image `which` of the synthetic set.
std::vector<uint8_t> repeated_image(int64_t which, int64_t copies) {
    const Dataset data = synthetic_images(which + 1);
    std::vector<uint8_t> out(static_cast<size_t>(copies * kD));
    for (int64_t i = 0; i < copies * kD; ++i) out[size_t(i)] = data.images[size_t(which * kD + i % kD)];
    return out;
}

}  // namespace

TEST_CASE("the integrand at the bound's own time and eps equals its continuous diffusion term") {
    const Dataset data = synthetic_images(3);
    const std::vector<uint8_t> pixels(data.images.begin(), data.images.begin() + 3 * kD);
    for (const char* schedule : {"linear", "learned"}) {
        CAPTURE(schedule);
        Rng init(3);
        Vdm model(tiny_model(schedule, "continuous"), DType::F64, init);
        randomize_zero_inits(model, 40);
        NoGradGuard no_grad;
        const uint64_t seed = 17;
        Rng rng(seed);
        const BoundNoise noise = model.draw_noise(3, rng);
        const std::vector<double> diffusion = model.bound(pixels.data(), noise).diffusion.value().to_vector();
        // eps takes the stream positions draw_noise gives it
        CHECK(integrand_noise(model, 0, 3, seed).to_vector() == noise.eps.to_vector());
        // image b at every image's time: the diagonal is the bound's term
        const std::vector<double> times = noise.t.to_vector();
        const Tensor integrand = diffusion_integrand(model, pixels.data(), 3, times, seed);
        for (int64_t b = 0; b < 3; ++b) {
            CAPTURE(b);
            CHECK(integrand.at(b * 3 + b) == doctest::Approx(diffusion[size_t(b)]).epsilon(1e-12));
        }
    }
    // One image in the apps' dtype, as vdm_tour reproduces vdm_eval --index: identical.
    Rng init(4);
    Vdm model(tiny_model("linear", "continuous"), DType::F32, init);
    randomize_zero_inits(model, 60);
    for (int64_t k : {0, 2}) {
        CAPTURE(k);
        const uint64_t seed = 5 + uint64_t(k);
        const BpdEstimate e = evaluate_bpd(model, data, {k}, 1, seed);
        Rng rng(seed);
        const double t = model.draw_noise(1, rng).t.item();
        const Tensor at_t = diffusion_integrand(model, pixels.data() + k * kD, 1, {t}, seed);
        CHECK(nats_to_bpd(at_t.item(), kD) == e.diffusion);
    }
}

TEST_CASE("with eps_hat = 0 the integrand's mean over t is 0.5 (gamma_1 - gamma_0) |eps|^2") {
    // A fresh ScoreNet predicts eps_hat = 0, so l(t) = 0.5 gamma'(t) |eps|^2 and its
    // integral over [0, 1] is 0.5 (gamma(1) - gamma(0)) |eps|^2 whatever the schedule's
    // shape: the midpoint grid's mean must converge to it.
    const std::vector<uint8_t> pixels = repeated_image(2, 3);
    Rng init(12);
    Vdm model(tiny_model("learned", "continuous"), DType::F64, init);
    const uint64_t seed = 31;
    const std::vector<double> eps = integrand_noise(model, 0, 3, seed).to_vector();
    const double range = model.schedule->gamma_1().item() - model.schedule->gamma_0().item();
    double previous_error = INFINITY;
    for (int64_t n : {10, 100, 1000}) {
        CAPTURE(n);
        const std::vector<double> l = diffusion_integrand(model, pixels.data(), 3, midpoint_times(n), seed).to_vector();
        double worst = 0.0;
        for (int64_t b = 0; b < 3; ++b) {
            double grid_mean = 0.0, eps_sq = 0.0;
            for (int64_t j = 0; j < n; ++j) grid_mean += l[size_t(b * n + j)] / double(n);
            for (int64_t k = 0; k < kD; ++k) eps_sq += eps[size_t(b * kD + k)] * eps[size_t(b * kD + k)];
            worst = std::max(worst, std::abs(grid_mean / (0.5 * range * eps_sq) - 1.0));
        }
        CHECK(worst < previous_error);
        previous_error = worst;
    }
    CHECK(previous_error < 1e-5);
}

TEST_CASE("the integrand's mean over a time grid estimates the bound's diffusion term") {
    // One image in M copies. With one seed, copy b gets the same eps in the bound and
    // in the integrand, and the bound a uniform time t_b. So for each copy
    //   L(t_b; eps_b) - mean_j l(t_j; eps_b),   t_j the n midpoint times,
    // has mean zero when the grid's mean is the integral over t that the bound's
    // one-sample term estimates (the eps noise cancels in the difference).
    // F32: fast, and ample at the level of standard errors.
    const int64_t M = 128, n = 20;
    const std::vector<uint8_t> pixels = repeated_image(1, M);
    Rng init(8);
    Vdm model(tiny_model("learned", "continuous"), DType::F32, init);
    randomize_zero_inits(model, 90);
    const uint64_t seed = 23;
    const std::vector<double> grid =
        diffusion_integrand(model, pixels.data(), M, midpoint_times(n), seed).to_vector();
    NoGradGuard no_grad;
    Rng rng(seed);
    const std::vector<double> one_sample =
        model.bound(pixels.data(), model.draw_noise(M, rng)).diffusion.value().to_vector();
    std::vector<double> integral(size_t(M), 0.0), difference(integral);
    for (int64_t b = 0; b < M; ++b) {
        for (int64_t j = 0; j < n; ++j) integral[size_t(b)] += grid[size_t(b * n + j)] / double(n);
        difference[size_t(b)] = one_sample[size_t(b)] - integral[size_t(b)];
    }
    const test::MeanAndError d = test::mean_and_error(difference), term = test::mean_and_error(integral);
    CAPTURE(d.mean);
    CAPTURE(d.stderr_);
    CAPTURE(term.mean);
    CHECK(std::abs(d.mean) < 4.0 * d.stderr_);
    CHECK(d.stderr_ < 0.05 * term.mean);  // precise enough to mean something
}

TEST_CASE("the integrand has one row per image and one column per time, and follows its seed") {
    Rng init(2);
    Vdm model(tiny_model("learned", "continuous"), DType::F64, init);
    randomize_zero_inits(model, 10);
    const int64_t images = 120;  // more than one forward pass holds
    const Dataset data = synthetic_images(images);
    const std::vector<double> times = {0.0, 0.3, 0.7, 1.0};
    const Tensor a = diffusion_integrand(model, data.images.data(), images, times, 3);
    CHECK((a.shape() == Shape{images, 4}));
    CHECK(a.dtype() == DType::F64);
    CHECK(a.device() == Device::CPU);
    CHECK(diffusion_integrand(model, data.images.data(), images, times, 3).to_vector() == a.to_vector());
    CHECK(diffusion_integrand(model, data.images.data(), images, times, 4).to_vector() != a.to_vector());
    for (double v : a.to_vector()) CHECK(v > 0.0);
    // An image's eps does not depend on the images after it, nor on the pass it falls in.
    const Tensor first = diffusion_integrand(model, data.images.data(), 2, times, 3);
    for (int64_t k = 0; k < 2 * 4; ++k) CHECK(first.at(k) == doctest::Approx(a.at(k)).epsilon(1e-12));
    for (int64_t b : {99, 100, 119}) {
        CAPTURE(b);
        const Tensor eps = integrand_noise(model, b, 1, 3);
        for (int64_t j = 0; j < 4; ++j) {
            const DenoisedAt one = denoise_at(model, data.images.data() + b * kD, 1, times[size_t(j)], eps);
            CHECK(one.integrand.item() == doctest::Approx(a.at(b * 4 + j)).epsilon(1e-12));
        }
    }
    CHECK_THROWS_WITH_AS(diffusion_integrand(model, data.images.data(), 1, {0.5, 1.5}, 3),
                         doctest::Contains("outside [0, 1]"), Error);
    CHECK_THROWS_AS(diffusion_integrand(model, data.images.data(), 1, {}, 3), Error);
    CHECK_THROWS_AS(diffusion_integrand(model, data.images.data(), 0, times, 3), Error);
    CHECK((midpoint_times(4) == std::vector<double>{0.125, 0.375, 0.625, 0.875}));
}

TEST_CASE("schedule values at a time come from the schedule and the process functions") {
    NoGradGuard no_grad;
    LinearSchedule linear(-13.3, 5.0, DType::F64);
    const ScheduleValues v = schedule_values(linear, 0.25);
    CHECK(v.t == 0.25);
    CHECK(v.gamma == doctest::Approx(-13.3 + 18.3 * 0.25).epsilon(1e-14));
    CHECK(v.gamma_prime == doctest::Approx(18.3).epsilon(1e-14));
    CHECK(v.log_snr == -v.gamma);
    CHECK(v.alpha * v.alpha + v.sigma * v.sigma == doctest::Approx(1.0).epsilon(1e-14));
    CHECK(v.snr == doctest::Approx(v.alpha * v.alpha / (v.sigma * v.sigma)).epsilon(1e-12));
    CHECK(v.snr == doctest::Approx(std::exp(-v.gamma)).epsilon(1e-14));

    Rng init(6);
    Vdm model(tiny_model("learned", "continuous"), DType::F64, init);
    const std::vector<double> times = {0.0, 0.3, 0.3 + 1e-6, 1.0};
    const std::vector<ScheduleValues> s = schedule_values(*model.schedule, times);
    REQUIRE(s.size() == 4);
    CHECK(s[0].gamma == doctest::Approx(model.schedule->gamma_0().item()).epsilon(1e-12));
    CHECK(s[3].gamma == doctest::Approx(model.schedule->gamma_1().item()).epsilon(1e-12));
    CHECK((s[2].gamma - s[1].gamma) / 1e-6 == doctest::Approx(s[1].gamma_prime).epsilon(1e-4));
    Var gamma(Tensor::full(Shape{1}, s[1].gamma, DType::F64));
    CHECK(s[1].alpha == alpha(gamma).item());
    CHECK(s[1].sigma == sigma(gamma).item());
    CHECK(s[1].snr == snr(gamma).item());
    CHECK_THROWS_AS(schedule_values(linear, -0.1), Error);
}

TEST_CASE("with the true eps, predicted_x recovers x, and denoise_at returns z_t and x_hat") {
    const Shape shape{2, 1, 4, 4};
    Var x(test::uniform(shape, 1, -1.0, 1.0)), eps(test::randn(shape, 2));
    Var gamma(Tensor::from_vector(Shape{2, 1, 1, 1}, {-6.0, 3.0}, DType::F64));
    Var z = marginal_sample(x, gamma, eps);
    const std::vector<double> back = predicted_x(z, gamma, eps).value().to_vector(), want = x.value().to_vector();
    for (size_t k = 0; k < want.size(); ++k) CHECK(back[k] == doctest::Approx(want[k]).epsilon(1e-9));

    Rng init(7);
    Vdm model(tiny_model("linear", "continuous"), DType::F64, init);
    randomize_zero_inits(model, 30);
    const Dataset data = synthetic_images(2);
    const Tensor noise = integrand_noise(model, 0, 2, 9);
    const DenoisedAt at = denoise_at(model, data.images.data(), 2, 0.6, noise);
    CHECK(at.schedule.t == 0.6);
    CHECK(at.z_t.shape() == shape);
    CHECK(at.x_hat.shape() == shape);
    CHECK(at.integrand.shape() == Shape{2});
    // z_t = alpha x + sigma eps with the schedule's values at t
    const std::vector<double> z_t = at.z_t.to_vector(), e = noise.to_vector();
    for (int64_t k = 0; k < 32; ++k) {
        const double x_k = encode_pixel(data.images[size_t(k)]);
        CHECK(z_t[size_t(k)] == doctest::Approx(at.schedule.alpha * x_k + at.schedule.sigma * e[size_t(k)]).epsilon(1e-12));
    }
    CHECK_THROWS_WITH_AS(denoise_at(model, data.images.data(), 1, 0.6, noise),
                         doctest::Contains("expected (1, 1, 4, 4)"), Error);
}
