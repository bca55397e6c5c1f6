// The VDM as a whole: gradient of the full bound, the learned schedule's gradient
// routing, training determinism and exact resume, checkpoints, evaluation, sampling.
// Tiny models on synthetic 4x4 images keep this fast.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "autodiff/gradcheck.h"
#include "tests/vdm_helpers.h"
#include "vdm/bpd.h"
#include "vdm/checkpoint.h"
#include "vdm/sampler.h"

using namespace vdm;
using test::all_indices;
using test::randomize_zero_inits;
using test::synthetic_images;
using test::tiny_model;
using test::tiny_run;

namespace {

std::vector<uint8_t> pixels_of(const Dataset& d, int64_t count) {
    return std::vector<uint8_t>(d.images.begin(), d.images.begin() + count * 16);
}

bool same_stats(const StepStats& a, const StepStats& b) {
    return a.bpd == b.bpd && a.prior == b.prior && a.recon == b.recon &&
           a.diffusion == b.diffusion && a.grad_norm == b.grad_norm;
}

}  // namespace

TEST_CASE("gradient check of the whole VDM bound w.r.t. network and schedule parameters") {
    const Dataset data = synthetic_images(3);
    const std::vector<uint8_t> pixels = pixels_of(data, 3);
    for (const auto& pair : {std::pair{"learned", "continuous"}, {"learned", "discrete"},
                             {"linear", "continuous"}}) {
        const char *schedule = pair.first, *loss = pair.second;
        CAPTURE(schedule);
        CAPTURE(loss);
        Rng init(1), noise_rng(2);
        Vdm model(tiny_model(schedule, loss), DType::F64, init);
        randomize_zero_inits(model, 50);
        const BoundNoise noise = model.draw_noise(3, noise_rng);
        std::vector<Var> leaves;
        for (const Parameter& p : model.parameters()) leaves.push_back(p.var);
        // Mean bound over the batch in bits per dimension, all three terms.
        auto bound = [&](const std::vector<Var>&) {
            return mean(model.bound(pixels.data(), noise).total()) * (1.0 / (16 * std::log(2.0)));
        };
        // Round-off in a difference quotient of this bound (logits up to ~1e6 in the
        // decoder) is ~2e-12, so a gradient that is exactly zero (a key bias under
        // softmax) reads as 2e-12. With a floor of 1e-5, elements below 1e-5 must match
        // to 1e-11 absolute; all others to 1e-6 relative.
        GradCheckResult r = gradcheck_leaves(bound, leaves, 1e-6, 2e-3, 7, /*elements_per_leaf=*/3,
                                             /*error_floor=*/1e-5);
        CAPTURE(r.worst);
        CHECK(r.passed);
    }
}

TEST_CASE("learned schedule: endpoints get the bound's gradient, the shape its second moment's") {
    const Dataset data = synthetic_images(4);
    const std::vector<uint8_t> pixels = pixels_of(data, 4);
    Rng init(1), noise_rng(2);
    Vdm model(tiny_model("learned", "continuous"), DType::F64, init);
    randomize_zero_inits(model, 70);
    const BoundNoise noise = model.draw_noise(4, noise_rng);
    const double scale = 1.0 / (16 * std::log(2.0));
    auto* schedule = dynamic_cast<LearnedSchedule*>(model.schedule.get());
    REQUIRE(schedule != nullptr);
    const std::vector<Var> endpoints = {schedule->gamma0, schedule->gamma1};
    const std::vector<Var> shape = {schedule->w1, schedule->w2, schedule->b2, schedule->w3};
    auto grads = [](const std::vector<Var>& vars) {
        std::vector<std::vector<double>> g;
        for (const Var& v : vars) g.push_back(v.grad().to_vector());
        return g;
    };
    auto clear = [&] {
        for (const Parameter& p : model.parameters()) p.var.zero_grad();
    };

    // Split: one backward of the bound, then schedule_backward.
    BoundTerms split = model.bound(pixels.data(), noise, nullptr, /*split_schedule_grad=*/true);
    (mean(split.total()) * scale).backward();
    model.schedule_backward(split, scale);
    auto split_endpoints = grads(endpoints), split_shape = grads(shape);
    clear();
    // Direct: the bound's gradient for the endpoints ...
    (mean(model.bound(pixels.data(), noise).total()) * scale).backward();
    auto bound_endpoints = grads(endpoints);
    clear();
    // ... and the gradient of mean_b (scale L_b)^2 for the shape.
    Var l = model.bound(pixels.data(), noise).diffusion * scale;
    mean(square(l)).backward();
    auto second_moment_shape = grads(shape);
    clear();

    for (size_t i = 0; i < endpoints.size(); ++i)
        CHECK(split_endpoints[i][0] == doctest::Approx(bound_endpoints[i][0]).epsilon(1e-10));
    double largest = 0.0;
    for (size_t i = 0; i < shape.size(); ++i)
        for (size_t j = 0; j < split_shape[i].size(); ++j) {
            CHECK(split_shape[i][j] == doctest::Approx(second_moment_shape[i][j]).epsilon(1e-10).scale(1e-12));
            largest = std::max(largest, std::abs(split_shape[i][j]));
        }
    CHECK(largest > 1e-6);  // the comparison is not between zeros
}

TEST_CASE("training is deterministic and a resumed run continues exactly") {
    const Dataset data = synthetic_images(24);
    test::TempDir dir("vdm_resume_");
    const std::string ckpt = dir.file("step3.safetensors");
    for (const char* schedule : {"linear", "learned"}) {
        CAPTURE(schedule);
        const RunConfig cfg = tiny_run(schedule);
        Trainer a(cfg, data, all_indices(24)), b(cfg, data, all_indices(24));
        std::vector<StepStats> run_a;
        for (int i = 0; i < 6; ++i) {
            run_a.push_back(a.step());
            CHECK(same_stats(run_a.back(), b.step()));
            if (i == 2) save_checkpoint(a, ckpt);
        }
        Trainer resumed(read_checkpoint_config(ckpt), data, all_indices(24));
        load_checkpoint(resumed, ckpt);
        CHECK(resumed.steps_done == 3);
        for (int i = 3; i < 6; ++i) CHECK(same_stats(resumed.step(), run_a[size_t(i)]));
        // The weights and EMA end bit-identical too.
        for (size_t p = 0; p < a.params.size(); ++p) {
            CHECK(a.params[p].var.value().to_vector() == resumed.params[p].var.value().to_vector());
            CHECK(a.ema->shadow[p].to_vector() == resumed.ema->shadow[p].to_vector());
        }
    }
}

TEST_CASE("training lowers the bound on a tiny synthetic dataset") {
    const Dataset data = synthetic_images(32);
    RunConfig cfg = tiny_run();
    cfg.train.batch = 8;
    Trainer trainer(cfg, data, all_indices(32));
    double first = 0.0, last = 0.0;
    for (int i = 0; i < 60; ++i) {
        double bpd = trainer.step().bpd;
        if (i < 10) first += bpd / 10;
        if (i >= 50) last += bpd / 10;
    }
    CAPTURE(first);
    CAPTURE(last);
    CHECK(last < 0.8 * first);
}

TEST_CASE("checkpoints refuse another config, missing tensors and truncation") {
    const Dataset data = synthetic_images(8);
    test::TempDir dir("vdm_ckpt_");
    const std::string ckpt = dir.file("c.safetensors");
    Trainer trainer(tiny_run(), data, all_indices(8));
    trainer.step();
    save_checkpoint(trainer, ckpt);

    RunConfig wider = tiny_run();
    wider.model.net.channels = 16;
    Trainer other(wider, data, all_indices(8));
    try {
        load_checkpoint(other, ckpt);
        FAIL("a checkpoint of another config loaded");
    } catch (const Error& e) {
        std::string msg = e.what();
        CHECK(msg.find(ckpt) != std::string::npos);
        CHECK(msg.find("channels") != std::string::npos);
        CHECK(msg.find('\n') == std::string::npos);
    }
    // Files whose tensors do not match their own config: one tensor missing.
    const SafetensorsFile file = load_safetensors(ckpt);
    const std::string partial = dir.file("partial.safetensors");
    for (const char* group : {"adam_v.", "ema."}) {
        CAPTURE(group);
        SafetensorsFile cut = file;
        auto it = std::find_if(cut.tensors.begin(), cut.tensors.end(),
                               [&](const NamedTensor& t) { return t.name.rfind(group, 0) == 0; });
        REQUIRE(it != cut.tensors.end());
        cut.tensors.erase(it);
        save_safetensors(partial, cut.tensors, cut.metadata);
        CHECK_THROWS_WITH_AS(load_checkpoint(trainer, partial), doctest::Contains("has no tensor"), Error);
    }
    CHECK_THROWS_WITH_AS(load_ema_model(partial), doctest::Contains("has no tensor 'ema."), Error);
    // Truncated: every cut is refused with one line naming the file.
    const auto size = std::filesystem::file_size(ckpt);
    for (auto cut : {size - 1, size / 2, uintmax_t(100), uintmax_t(4)}) {
        std::filesystem::copy_file(ckpt, dir.file("cut.safetensors"),
                                   std::filesystem::copy_options::overwrite_existing);
        std::filesystem::resize_file(dir.file("cut.safetensors"), cut);
        CHECK_THROWS_WITH_AS(load_ema_model(dir.file("cut.safetensors")),
                             doctest::Contains("cut.safetensors"), Error);
    }
    // The EMA model loads and matches the trainer's shadow weights.
    TrainedModel loaded = load_ema_model(ckpt);
    CHECK(loaded.step == 1);
    auto params = loaded.model->parameters();
    for (size_t p = 0; p < params.size(); ++p)
        CHECK(params[p].var.value().to_vector() == trainer.ema->shadow[p].to_vector());
}

TEST_CASE("evaluation and sampling are reproducible from their seeds") {
    const Dataset data = synthetic_images(10);
    Trainer trainer(tiny_run(), data, all_indices(10));
    for (int i = 0; i < 3; ++i) trainer.step();
    const Vdm& model = *trainer.model;
    BpdEstimate e1 = evaluate_bpd(model, data, all_indices(10), 4, 5);
    BpdEstimate e2 = evaluate_bpd(model, data, all_indices(10), 4, 5);
    CHECK(e1.bpd == e2.bpd);
    CHECK(e1.n == 10);
    CHECK(e1.bpd == doctest::Approx(e1.prior + e1.recon + e1.diffusion));
    CHECK(e1.bpd_stderr > 0.0);
    CHECK(evaluate_bpd(model, data, all_indices(10), 4, 6).bpd != e1.bpd);
    std::vector<uint8_t> s1 = ancestral_sample(model, 3, 10, 11), s2 = ancestral_sample(model, 3, 10, 11);
    CHECK(s1 == s2);
    CHECK(s1.size() == 3 * 16);
    CHECK(ancestral_sample(model, 3, 10, 12) != s1);
}

TEST_CASE("the ScoreNet's cost table covers every parameter") {
    Rng init(1);
    ScoreNetConfig c;
    ScoreNet net(c, DType::F32, init);
    int64_t params = 0;
    for (const LayerCost& row : net.layer_costs()) params += row.params;
    CHECK(params == net.parameter_count());
    // One 3x3 conv 32 -> 32 at 28x28 is 2 * 784 * 32 * 32 * 9 FLOPs; a ResNet block has two.
    CHECK(net.layer_costs()[2].flops == 2 * (2 * 784 * 32 * 32 * 9) + 2 * 128 * 32);
}
