// vdm/bits_back.h: the coder undoes itself exactly, on both schedules and any T; its
// reported terms are the bound's; the fingerprints tell models and settings apart.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "tests/vdm_helpers.h"
#include "vdm/bits_back.h"
#include "vdm/encoder.h"
#include "vdm/prior.h"

using namespace vdm;

TEST_CASE("bits-back coding of images decodes them exactly and ends on the initial bits") {
    const Dataset images = test::synthetic_images(5);
    for (const char* schedule : {"linear", "learned"}) {
        for (int64_t T : {1, 7}) {
            CAPTURE(schedule);
            CAPTURE(T);
            Rng init(3);
            const Vdm model(test::tiny_model(schedule, "continuous"), DType::F32, init);
            test::randomize_zero_inits(model, 11);
            const BitsBackCoder coder(model, {T, 1.0 / 16, 8.0});
            const int64_t D = model.image_size();
            RansStack stack(5);
            double coded = 0;
            for (int64_t k = 0; k < images.n; ++k) {
                const ImageCode code = coder.encode(stack, images.images.data() + k * D);
                CHECK(code.code_length > 0);
                CHECK(code.prior >= 0);
                CHECK(code.recon >= 0);
                CHECK(code.diffusion >= 0);
                coded += code.code_length;
            }
            CHECK(stack.net_bits() * std::log(2.0) == doctest::Approx(coded).epsilon(1e-9));
            for (int64_t k = images.n - 1; k >= 0; --k) {
                const std::vector<uint8_t> decoded = coder.decode(stack);
                REQUIRE(decoded == std::vector<uint8_t>(images.images.begin() + k * D,
                                                        images.images.begin() + (k + 1) * D));
            }
            CHECK(stack.at_start());
        }
    }
}

TEST_CASE("the coder's prior term is the bound's, and its terms sum to the trajectory's cost in expectation") {
    // A fresh ScoreNet (eps_hat = 0) on T = 50 steps: p(z_s | z_t) about 0.4 sigma from
    // q(z_s | z_t, x) per pixel and step, a model off by as much as a weakly trained one.
    Rng init(4);
    const Vdm model(test::tiny_model("linear", "continuous"), DType::F64, init);
    const Dataset images = test::synthetic_images(1);
    const BitsBackCoder coder(model, {50, 1.0 / 16, 8.0});
    const Var x(encode(images.images.data(), Shape{1, model.image_size()}, DType::F64));
    const double prior = prior_kl(x, model.schedule->gamma_1()).value().item();
    // Many encodings of one image from different random stacks, and as many reference
    // draws: the bound's terms hold the expectation of what the trajectories cost (the
    // KLs given each z_t are exact), and the coded and the reference bound agree.
    double trajectory = 0, bound = 0, reference_trajectory = 0, reference = 0;
    const int n = 200;
    Rng rng(9);
    for (int k = 0; k < n; ++k) {
        RansStack stack(uint64_t(100 + k));
        const ImageCode code = coder.encode(stack, images.images.data());
        CHECK(code.prior == doctest::Approx(prior).epsilon(1e-12));
        trajectory += code.trajectory / n, bound += code.bound() / n;
        const ImageCode drawn = coder.sample_bound(images.images.data(), rng);
        CHECK(drawn.code_length == 0);
        reference_trajectory += drawn.trajectory / n, reference += drawn.bound() / n;
    }
    CHECK(trajectory == doctest::Approx(bound).epsilon(0.05));
    CHECK(reference_trajectory == doctest::Approx(reference).epsilon(0.05));
    CHECK(bound == doctest::Approx(reference).epsilon(0.03));  // without whitening: 25 times apart
    Rng again(9);
    CHECK(coder.sample_bound(images.images.data(), again).bound() ==
          coder.sample_bound(images.images.data(), *std::make_unique<Rng>(9)).bound());
}

TEST_CASE("fingerprints: the same model and settings agree; another weight, T or bin does not") {
    Rng init(5);
    const Vdm model(test::tiny_model("linear", "continuous"), DType::F32, init);
    Rng init_again(5);
    const Vdm same(test::tiny_model("linear", "continuous"), DType::F32, init_again);
    CHECK(model_fingerprint(model) == model_fingerprint(same));
    const BitsBackOptions options{6, 1.0 / 16, 8.0};
    const uint64_t computed = BitsBackCoder(model, options).computation_fingerprint();
    CHECK(computed == BitsBackCoder(same, options).computation_fingerprint());
    CHECK(computed != BitsBackCoder(model, {7, 1.0 / 16, 8.0}).computation_fingerprint());
    CHECK(computed != BitsBackCoder(model, {6, 1.0 / 8, 8.0}).computation_fingerprint());

    const Parameter p = same.parameters().back();
    std::vector<double> w = p.var.value().to_vector();
    w[0] += 1e-6;
    p.var.data()->value = Tensor::from_vector(p.var.shape(), w, p.var.dtype());
    CHECK(model_fingerprint(model) != model_fingerprint(same));
    CHECK(computed != BitsBackCoder(same, options).computation_fingerprint());
}
