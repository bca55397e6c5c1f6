// The whole model on the GPU against the CPU (issue 7, acceptances 2 and 4), on a
// small ScoreNet over synthetic 28x28 images (8 channels, 1 block per stack,
// attention on), built on the CPU from one seed and then moved, so both devices start
// from the same weights:
//  - the bound's three terms per image and every parameter's gradient of the mean
//    bound, both losses and both schedules: in f64 within 1e-8, in f32 the terms
//    within 1e-4 and the gradient as close as f32 rounding allows (see below);
//  - 50 training steps of the default schedule on each device: train bpd within 1e-3;
//  - the same seed twice on the GPU: bit-identical statistics, weights and moments;
//  - a GPU checkpoint resumes exactly on the GPU, and its EMA model gives the same
//    bound on the CPU within 1e-4.
// Every case skips without a GPU.
//
// Why f64 carries the per-parameter check: the bound's gradient is ill-conditioned
// in places. Against the f64 model on the CPU, the CPU's own f32 gradient is off by
// 5e-5 (linear schedule) to 2.8e-3 (the learned schedule's gamma_1 under the discrete
// loss, a difference of two nearby gammas) per parameter, so two correct f32
// implementations cannot agree to 1e-4 there. In f64 the same amplification of
// rounding stays below 1e-11, and 1e-8 still catches any wrong kernel.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/ops.h"
#include "tests/cuda_parity.h"
#include "tests/vdm_helpers.h"
#include "vdm/checkpoint.h"

using namespace vdm;

namespace {

// A schedule and loss, and whether the learned schedule's gradient is split as the
// trainer does it (continuous loss: endpoints get the bound's gradient, the shape
// its second moment's).
struct Variant {
    const char *schedule, *loss;
    bool split;
};
const Variant kVariants[] = {{"linear", "continuous", false},
                             {"linear", "discrete", false},
                             {"learned", "continuous", false},
                             {"learned", "continuous", true},
                             {"learned", "discrete", false}};

// The default model shrunk: 28x28, 8 channels in 4 groups, one block per stack, attention.
VdmConfig small_model(const std::string& schedule, const std::string& loss) {
    VdmConfig c;
    c.net.channels = 8;
    c.net.groups = 4;
    c.net.blocks = 1;
    c.net.attention = true;
    c.schedule = schedule;
    c.schedule_width = 16;
    c.loss = loss;
    return c;
}

RunConfig small_run(const std::string& schedule, const std::string& loss) {
    RunConfig r;
    r.model = small_model(schedule, loss);
    r.train.batch = 4;
    r.train.warmup = 10;
    r.train.seed = 3;
    return r;
}

// n synthetic 28x28 "digits": a bright ring whose centre and radius depend on the
// index, on a dark background with a little noise (every pixel value is reachable).
Dataset synthetic_digits(int64_t n) {
    Dataset d;
    d.n = n, d.channels = 1, d.height = 28, d.width = 28;
    for (int64_t i = 0; i < n; ++i) {
        const double cy = 9 + double((i * 5) % 10), cx = 9 + double((i * 7) % 10);
        const double radius = 4 + double(i % 4);
        for (int64_t p = 0; p < 784; ++p) {
            const double dist = std::hypot(double(p / 28) - cy, double(p % 28) - cx);
            const double noise = uniform_at(99, uint64_t(i * 784 + p));
            const bool on = std::abs(dist - radius) < 1.5;
            d.images.push_back(uint8_t(on ? 200 + 55 * noise : 30 * noise));
        }
        d.labels.push_back(uint8_t(i % 10));
    }
    return d;
}

// ||a - b|| / ||b||
double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        norm += b[i] * b[i];
    }
    return std::sqrt(diff / std::max(norm, 1e-300));
}

double norm_of(const std::vector<double>& v) {
    double s = 0.0;
    for (double x : v) s += x * x;
    return std::sqrt(s);
}

std::vector<uint8_t> first_images(const Dataset& d, int64_t count) {
    return std::vector<uint8_t>(d.images.begin(), d.images.begin() + count * d.image_size());
}

// The bound of a batch and the gradient of its mean (in bpd), as host numbers.
struct BoundAndGradient {
    std::vector<double> prior, recon, diffusion;  // (B) nats per image
    std::vector<std::string> names;               // parameters, in order
    std::vector<std::vector<double>> grads;       // one per parameter

    std::vector<double> whole_gradient() const {
        std::vector<double> all;
        for (const std::vector<double>& g : grads) all.insert(all.end(), g.begin(), g.end());
        return all;
    }
};

// Builds the small model on the CPU from seed 1 (every zero-initialized layer given
// random weights, so every parameter has a gradient), draws (t, eps, eps0) there from
// seed 2, then moves the model to `device` and evaluates the bound and its gradient.
BoundAndGradient bound_and_gradient(const Variant& v, DType dtype, Device device,
                                    const std::vector<uint8_t>& pixels, int64_t batch) {
    Rng init(1), noise_rng(2);
    Vdm model(small_model(v.schedule, v.loss), dtype, init);
    test::randomize_zero_inits(model, 50);
    const BoundNoise noise = model.draw_noise(batch, noise_rng);  // on the CPU, for both devices
    model.to(device);
    const BoundTerms terms = model.bound(pixels.data(), noise, nullptr, v.split);
    REQUIRE(terms.diffusion.device() == device);
    const double to_bpd = 1.0 / (double(model.image_size()) * std::log(2.0));
    (mean(terms.total()) * to_bpd).backward();
    if (v.split) model.schedule_backward(terms, to_bpd);
    BoundAndGradient out;
    out.prior = terms.prior.value().to_vector();
    out.recon = terms.recon.value().to_vector();
    out.diffusion = terms.diffusion.value().to_vector();
    for (const Parameter& p : model.parameters()) {
        CAPTURE(p.name);
        REQUIRE(p.var.grad().defined());
        out.names.push_back(p.name);
        out.grads.push_back(p.var.grad().to_vector());
    }
    return out;
}

// The worst of the three terms' relative errors, per image.
std::pair<std::string, double> worst_term_error(const BoundAndGradient& got,
                                                const BoundAndGradient& ref) {
    const std::pair<std::string, double> errors[] = {
        {"prior", relative_error(got.prior, ref.prior)},
        {"recon", relative_error(got.recon, ref.recon)},
        {"diffusion", relative_error(got.diffusion, ref.diffusion)}};
    return *std::max_element(std::begin(errors), std::end(errors),
                             [](const auto& a, const auto& b) { return a.second < b.second; });
}

// Each parameter's gradient against the reference's. A parameter whose exact
// gradient is 0 (attention's key bias: softmax ignores a shift shared by all of a
// query's scores) holds rounding noise on both sides, so each error is measured
// against the parameter's own gradient norm or 1e-3 of the whole gradient's, whichever
// is larger. Returns the worst (name, error).
std::pair<std::string, double> worst_gradient_error(const BoundAndGradient& got,
                                                    const BoundAndGradient& ref) {
    REQUIRE(got.grads.size() == ref.grads.size());
    const double floor = 1e-3 * norm_of(ref.whole_gradient());
    std::pair<std::string, double> worst{"", -1.0};
    for (size_t p = 0; p < ref.grads.size(); ++p) {
        REQUIRE(got.grads[p].size() == ref.grads[p].size());
        std::vector<double> diff(ref.grads[p].size());
        for (size_t i = 0; i < diff.size(); ++i) diff[i] = got.grads[p][i] - ref.grads[p][i];
        const double error = norm_of(diff) / std::max(norm_of(ref.grads[p]), floor);
        if (error > worst.second) worst = {ref.names[p], error};
    }
    return worst;
}

std::string variant_name(const Variant& v) {
    return std::string(v.schedule) + " " + v.loss + (v.split ? " (split schedule gradient)" : "");
}

bool same_stats(const StepStats& a, const StepStats& b) {
    return a.bpd == b.bpd && a.prior == b.prior && a.recon == b.recon &&
           a.diffusion == b.diffusion && a.grad_norm == b.grad_norm && a.lr == b.lr;
}

}  // namespace

TEST_CASE("cuda model: in f64 the bound's terms and every gradient match the CPU within 1e-8" *
          test::needs_gpu()) {
    const int64_t B = 4;
    const std::vector<uint8_t> pixels = first_images(synthetic_digits(B), B);
    for (const Variant& v : kVariants) {
        const std::string variant = variant_name(v);
        CAPTURE(variant);
        const BoundAndGradient cpu = bound_and_gradient(v, DType::F64, Device::CPU, pixels, B);
        const BoundAndGradient gpu = bound_and_gradient(v, DType::F64, Device::CUDA, pixels, B);
        const std::pair<std::string, double> term = worst_term_error(gpu, cpu);
        const std::pair<std::string, double> grad = worst_gradient_error(gpu, cpu);
        INFO("worst term " << term.first << ": rel " << term.second);
        INFO("worst parameter gradient " << grad.first << ": rel " << grad.second);
        CHECK(term.second <= 1e-8);
        CHECK(grad.second <= 1e-8);
        MESSAGE("f64 " << variant << ": worst term " << term.first << " " << term.second
                       << ", worst gradient " << grad.first << " " << grad.second);
    }
}

TEST_CASE("cuda model: in f32 the bound's terms match within 1e-4, the gradient to f32 rounding" *
          test::needs_gpu()) {
    const int64_t B = 4;
    const std::vector<uint8_t> pixels = first_images(synthetic_digits(B), B);
    for (const Variant& v : kVariants) {
        const std::string variant = variant_name(v);
        CAPTURE(variant);
        const BoundAndGradient cpu = bound_and_gradient(v, DType::F32, Device::CPU, pixels, B);
        const BoundAndGradient gpu = bound_and_gradient(v, DType::F32, Device::CUDA, pixels, B);
        const BoundAndGradient exact = bound_and_gradient(v, DType::F64, Device::CPU, pixels, B);
        const std::pair<std::string, double> term = worst_term_error(gpu, cpu);
        INFO("worst term " << term.first << ": rel " << term.second);
        CHECK(term.second <= 1e-4);
        // The whole gradient: within 1e-4 of the CPU's, or within 3 times the CPU's
        // own f32 rounding error (its distance from the f64 gradient), if larger.
        const double cpu_rounding = relative_error(cpu.whole_gradient(), exact.whole_gradient());
        const double rel = relative_error(gpu.whole_gradient(), cpu.whole_gradient());
        INFO("whole gradient: rel " << rel << "; the CPU's own f32 error " << cpu_rounding);
        CHECK(rel <= std::max(1e-4, 3.0 * cpu_rounding));
        MESSAGE("f32 " << variant << ": worst term " << term.first << " " << term.second
                       << ", whole gradient " << rel << " (CPU f32 vs f64: " << cpu_rounding
                       << ")");
    }
}

// The default (linear) schedule, both losses. The learned schedule's f32 gradient is
// ill-conditioned (see the top), so its runs drift apart from rounding alone: on the
// CPU, 1 thread vs 2 (which only reorders a few sums) already moves its train bpd by
// 7e-4 within 50 steps, against 1e-6 for the linear schedule. Its GPU steps are
// checked exactly instead (determinism and resume below).
TEST_CASE("cuda model: 50 training steps follow the CPU's train bpd within 1e-3" *
          test::needs_gpu()) {
    const Dataset data = synthetic_digits(64);
    for (const std::string loss : {"continuous", "discrete"}) {
        CAPTURE(loss);
        const RunConfig cfg = small_run("linear", loss);
        Trainer cpu(cfg, data, test::all_indices(64)),
            gpu(cfg, data, test::all_indices(64), Device::CUDA);
        REQUIRE(gpu.model->device() == Device::CUDA);
        double worst = 0.0;
        int worst_step = 0;
        for (int step = 1; step <= 50; ++step) {
            const StepStats a = cpu.step(), b = gpu.step();
            const double diff = std::abs(b.bpd - a.bpd);
            if (diff > worst) worst = diff, worst_step = step;
        }
        INFO("largest |bpd_gpu - bpd_cpu| " << worst << " at step " << worst_step);
        CHECK(worst <= 1e-3);
        MESSAGE("linear " << loss << ": largest train bpd difference " << worst << " (step "
                          << worst_step << ")");
    }
}

TEST_CASE("cuda model: the same seed twice on the GPU gives bit-identical runs" *
          test::needs_gpu()) {
    const Dataset data = synthetic_digits(32);
    RunConfig cfg = small_run("learned", "continuous");
    cfg.model.net.dropout = 0.1;  // the device's dropout masks too
    Trainer a(cfg, data, test::all_indices(32), Device::CUDA),
        b(cfg, data, test::all_indices(32), Device::CUDA);
    for (int step = 1; step <= 20; ++step) {
        CAPTURE(step);
        CHECK(same_stats(a.step(), b.step()));
    }
    for (size_t p = 0; p < a.params.size(); ++p) {
        CAPTURE(a.params[p].name);
        CHECK(a.params[p].var.value().to_vector() == b.params[p].var.value().to_vector());
        CHECK(a.optimizer->m[p].to_vector() == b.optimizer->m[p].to_vector());
        CHECK(a.optimizer->v[p].to_vector() == b.optimizer->v[p].to_vector());
        CHECK(a.ema->shadow[p].to_vector() == b.ema->shadow[p].to_vector());
    }
}

TEST_CASE("cuda model: a GPU checkpoint resumes exactly, and gives the CPU the same bound" *
          test::needs_gpu()) {
    const Dataset data = synthetic_digits(32);
    test::TempDir dir("vdm_cuda_model_");
    const std::string ckpt = dir.file("step3.safetensors");
    const RunConfig cfg = small_run("learned", "continuous");
    Trainer run(cfg, data, test::all_indices(32), Device::CUDA);
    std::vector<StepStats> stats;
    for (int step = 1; step <= 6; ++step) {
        stats.push_back(run.step());
        if (step == 3) save_checkpoint(run, ckpt);
    }
    // Resumed on the GPU: the same steps 4-6, bit for bit, and the same final weights.
    Trainer resumed(read_checkpoint_config(ckpt), data, test::all_indices(32), Device::CUDA);
    load_checkpoint(resumed, ckpt);
    REQUIRE(resumed.steps_done == 3);
    for (int step = 4; step <= 6; ++step) {
        CAPTURE(step);
        CHECK(same_stats(resumed.step(), stats[size_t(step - 1)]));
    }
    for (size_t p = 0; p < run.params.size(); ++p) {
        CAPTURE(run.params[p].name);
        CHECK(resumed.params[p].var.value().to_vector() == run.params[p].var.value().to_vector());
        CHECK(resumed.ema->shadow[p].to_vector() == run.ema->shadow[p].to_vector());
    }

    // The checkpoint's EMA model on each device: the same bound for the same noise.
    TrainedModel on_gpu = load_ema_model(ckpt, Device::CUDA),
                 on_cpu = load_ema_model(ckpt, Device::CPU);
    REQUIRE(on_gpu.model->device() == Device::CUDA);
    REQUIRE(on_cpu.model->device() == Device::CPU);
    const std::vector<uint8_t> pixels = first_images(data, 8);
    Rng noise_rng(4);
    const BoundNoise noise = on_cpu.model->draw_noise(8, noise_rng);
    NoGradGuard no_grad;
    const double bound_gpu = mean(on_gpu.model->bound(pixels.data(), noise).total()).item();
    const double bound_cpu = mean(on_cpu.model->bound(pixels.data(), noise).total()).item();
    INFO("bound on the GPU " << bound_gpu << ", on the CPU " << bound_cpu);
    CHECK(std::abs(bound_gpu - bound_cpu) <= 1e-4 * std::abs(bound_cpu));
}
