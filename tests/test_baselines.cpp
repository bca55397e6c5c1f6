// baselines/: the VAE's closed-form KL against Monte Carlo, the IWAE bound against the
// ELBO and across K, PixelCNN's causality through autodiff, float64 gradient checks of
// the new compositions, and one bpd definition for every evaluation path (a uniform
// categorical model gives exactly 8 bpd through each).
#include <doctest/doctest.h>

#include <cmath>

#include "autodiff/gradcheck.h"
#include "baselines/evaluate.h"
#include "baselines/pixel_categorical.h"
#include "tests/helpers.h"
#include "vdm/bpd.h"

using namespace vdm;

namespace {


// n synthetic images (C, H, W) with a deterministic pattern of all 256 values.
Dataset synthetic_images(int64_t n, int64_t H, int64_t W) {
    Dataset d;
    d.n = n, d.channels = 1, d.height = H, d.width = W;
    for (int64_t i = 0; i < n * H * W; ++i) d.images.push_back(uint8_t((i * 37 + i / 7) % 256));
    d.labels.assign(size_t(n), 0);
    return d;
}

VaeConfig tiny_vae() {
    VaeConfig c;
    c.height = c.width = 4;
    c.channels = 2;
    c.latent = 3;
    return c;
}

PixelCnnConfig tiny_pixelcnn(int64_t size, int64_t channels, int64_t blocks) {
    PixelCnnConfig c;
    c.height = c.width = size;
    c.channels = channels;
    c.blocks = blocks;
    return c;
}

}  // namespace

TEST_CASE("the VAE's KL in closed form equals a Monte Carlo estimate of E_q[log q(z) - log p(z)]") {
    const Tensor mean = test::randn(Shape{3, 4}, 1, 0.8), log_var = test::randn(Shape{3, 4}, 2, 0.7);
    const std::vector<double> kl = kl_to_standard_normal(Var(mean), Var(log_var)).value().to_vector();
    const int64_t draws = 200000;
    const Tensor eps = test::randn(Shape{3, draws, 4}, 77);
    const double* e_all = eps.data<double>();
    for (int64_t b = 0; b < 3; ++b) {
        std::vector<double> samples;
        for (int64_t s = 0; s < draws; ++s) {
            double log_ratio = 0.0;  // log q(z) - log p(z), z = mean + sigma e (the 2 pi terms cancel)
            for (int64_t l = 0; l < 4; ++l) {
                const double m = mean.at(b * 4 + l), lv = log_var.at(b * 4 + l);
                const double e = e_all[(b * draws + s) * 4 + l];
                const double z = m + std::exp(0.5 * lv) * e;
                log_ratio += -0.5 * lv - 0.5 * e * e + 0.5 * z * z;
            }
            samples.push_back(log_ratio);
        }
        const test::MeanAndError mc = test::mean_and_error(samples);
        CAPTURE(b);
        CAPTURE(mc.mean);
        CAPTURE(kl[size_t(b)]);
        CHECK(std::abs(mc.mean - kl[size_t(b)]) < 5.0 * mc.stderr_);
        CHECK(mc.stderr_ < 0.01 * kl[size_t(b)]);
    }
    // at the prior the KL is exactly 0 (expm1(0) - 0)
    const Var zeros(Tensor::zeros(Shape{1, 4}, DType::F64));
    CHECK(kl_to_standard_normal(zeros, zeros).item() == 0.0);
}

TEST_CASE("IWAE on a toy VAE: IWAE_1 estimates the ELBO, and the bound grows with K") {
    Rng init(3);
    Vae model(tiny_vae(), DType::F64, init);
    test::randomize(model, 100, 0.5);
    const Dataset data = synthetic_images(3, 4, 4);
    // The ELBO of each image, by many one-draw estimates.
    std::vector<double> elbo(3, 0.0);
    const int64_t reps = 1000;
    for (int64_t r = 0; r < reps; ++r) {
        Tensor eps = test::randn(Shape{3, 3}, 1000 + uint64_t(r));
        const std::vector<double> t = vae_terms(model, data.images.data(), 3, eps).total().value().to_vector();
        for (int64_t i = 0; i < 3; ++i) elbo[size_t(i)] -= t[size_t(i)] / double(reps);
    }
    // E[IWAE_K] by repeated evaluation, K = 1, 10, 100.
    std::vector<std::vector<double>> means;
    for (int64_t K : {1, 10, 100}) {
        Rng rng(7 + uint64_t(K));
        std::vector<double> sum(3, 0.0);
        const int64_t repeats = K == 1 ? 1000 : 100;
        for (int64_t r = 0; r < repeats; ++r) {
            const std::vector<double> v = iwae_log_likelihood(model, data.images.data(), 3, K, rng, 64);
            for (int64_t i = 0; i < 3; ++i) sum[size_t(i)] += v[size_t(i)] / double(repeats);
        }
        means.push_back(sum);
    }
    for (int64_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CAPTURE(elbo[size_t(i)]);
        CAPTURE(means[0][size_t(i)]);
        CAPTURE(means[1][size_t(i)]);
        CAPTURE(means[2][size_t(i)]);
        // measured: ELBO -88.08, IWAE_1 -88.06, IWAE_10 -87.60, IWAE_100 -87.50 for image 0
        CHECK(std::abs(means[0][size_t(i)] - elbo[size_t(i)]) < 0.005 * std::abs(elbo[size_t(i)]));
        CHECK(means[1][size_t(i)] > elbo[size_t(i)]);
        CHECK(means[2][size_t(i)] > means[1][size_t(i)]);
    }
}

TEST_CASE("PixelCNN: output pixel i has zero gradient w.r.t. input pixels >= i, at all 64 positions of 8x8") {
    Rng init(5);
    PixelCnn model(tiny_pixelcnn(8, 4, 2), DType::F64, init);
    test::randomize(model, 300);
    const int64_t HW = 64;
    for (int64_t i = 0; i < HW; ++i) {
        Var x(test::randn(Shape{1, 1, 8, 8}, 9), true);
        std::vector<double> pick(size_t(kPixelValues * HW), 0.0);  // random weights on pixel i's logits
        for (int64_t v = 0; v < kPixelValues; ++v) pick[size_t(v * HW + i)] = std::sin(double(v + 1));
        sum(model.logits(x) * Var(Tensor::from_vector(Shape{1, kPixelValues, 8, 8}, pick, DType::F64))).backward();
        const std::vector<double> g = x.grad().to_vector();
        CAPTURE(i);
        for (int64_t j = i; j < HW; ++j) CHECK(g[size_t(j)] == 0.0);
        if (i % 8 > 0) CHECK(g[size_t(i - 1)] != 0.0);  // and it does see the pixel to its left
    }
}

TEST_CASE("baselines pass float64 gradient checks: upsampling, masked conv, pixel likelihood, both models") {
    SUBCASE("nearest 2x upsampling") {
        GradCheckResult r = gradcheck([](const std::vector<Var>& v) { return upsample_nearest_2x(v[0]); },
                                      {test::randn(Shape{2, 3, 2, 3}, 1)});
        CAPTURE(r.worst);
        CHECK(r.passed);
        const Tensor up = upsample_nearest_2x(Var(Tensor::from_vector(Shape{1, 1, 1, 2}, {1, 2}, DType::F64))).value();
        CHECK(up.to_vector() == std::vector<double>{1, 1, 2, 2, 1, 1, 2, 2});
    }
    SUBCASE("pixel log-likelihood w.r.t. the logits") {
        const uint8_t pixels[6] = {0, 255, 17, 128, 3, 200};
        GradCheckResult r = gradcheck([&](const std::vector<Var>& v) { return pixel_log_prob(v[0], pixels); },
                                      {test::randn(Shape{2, 256, 1, 3}, 2)});
        CAPTURE(r.worst);
        CHECK(r.passed);
    }
    SUBCASE("masked convolution, types A and B") {
        for (MaskType type : {MaskType::A, MaskType::B}) {
            Rng init(4);
            MaskedConv2d conv(2, 3, 3, type, DType::F64, init);
            test::randomize(conv, 40);
            Var input(test::randn(Shape{2, 2, 4, 4}, 3), true);
            std::vector<Var> leaves = test::leaves_of(conv);
            leaves.push_back(input);
            GradCheckResult r = gradcheck_leaves([&](const std::vector<Var>&) { return conv.forward(input); }, leaves);
            CAPTURE(r.worst);
            CHECK(r.passed);
        }
    }
    SUBCASE("the VAE's -ELBO w.r.t. every parameter") {
        Rng init(6);
        Vae model(tiny_vae(), DType::F64, init);
        test::randomize(model, 500);
        const Dataset data = synthetic_images(2, 4, 4);
        const Tensor eps = test::randn(Shape{2, 3}, 8);
        GradCheckResult r = gradcheck_leaves(
            [&](const std::vector<Var>&) { return vae_terms(model, data.images.data(), 2, eps).total(); },
            test::leaves_of(model), 1e-6, 2e-2, 1234, 6, 1e-7);
        CAPTURE(r.worst);
        CHECK(r.passed);
    }
    SUBCASE("PixelCNN's log-likelihood w.r.t. every parameter") {
        Rng init(7);
        PixelCnn model(tiny_pixelcnn(4, 3, 1), DType::F64, init);
        test::randomize(model, 600);
        const Dataset data = synthetic_images(2, 4, 4);
        GradCheckResult r = gradcheck_leaves(
            [&](const std::vector<Var>&) { return pixelcnn_log_prob(model, data.images.data(), 2); },
            test::leaves_of(model), 1e-6, 2e-2, 1234, 6, 1e-7);
        CAPTURE(r.worst);
        CHECK(r.passed);
    }
}

TEST_CASE("one bpd definition: a uniform categorical model is exactly 8 bpd through every evaluation path") {
    const Dataset data = synthetic_images(5, 8, 8);
    const std::vector<int64_t> all{0, 1, 2, 3, 4};
    // Zero weights in the last layers: logits 0 (uniform over 256 values) and, for the
    // VAE, q(z|x) = N(0, I) = p(z), so KL = 0 and every importance weight is p(x|z).
    auto zero = [](const Module& m, const std::string& prefix) {
        for (const Parameter& p : m.parameters())
            if (p.name.rfind(prefix, 0) == 0) p.var.data()->value.fill(0.0);
    };
    VaeConfig vc;
    vc.height = vc.width = 8;
    vc.channels = 2;
    vc.latent = 3;
    Rng init(9);
    Vae vae(vc, DType::F64, init);
    zero(vae, "dec_out.");
    zero(vae, "enc_mean.");
    zero(vae, "enc_log_var.");
    const BaselineEstimate elbo = evaluate_vae_elbo(vae, data, all, 2, 1);
    CHECK(elbo.bpd == doctest::Approx(8.0).epsilon(1e-12));
    CHECK(elbo.kl == 0.0);
    CHECK(elbo.recon == doctest::Approx(8.0).epsilon(1e-12));
    CHECK(evaluate_vae_iwae(vae, data, all, 7, 1).bpd == doctest::Approx(8.0).epsilon(1e-12));

    PixelCnn pixelcnn(tiny_pixelcnn(8, 4, 1), DType::F64, init);
    zero(pixelcnn, "head2.");
    const BaselineEstimate exact = evaluate_pixelcnn(pixelcnn, data, all, 2);
    CHECK(exact.bpd == doctest::Approx(8.0).epsilon(1e-12));
    CHECK(exact.bpd_stderr == doctest::Approx(0.0));
    // and the VDM's evaluation converts nats the same way: 256 equally likely values per dimension
    CHECK(nats_to_bpd(64 * std::log(256.0), 64) == doctest::Approx(8.0).epsilon(1e-15));
}
