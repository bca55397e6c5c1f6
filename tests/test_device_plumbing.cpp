// Device plumbing of the model, optimizer and trainer (nn/, vdm/):
//  - Module::to, and the optimizer kernels behind Dropout, AdamW, the EMA and gradient
//    clipping, give exactly the values of a plain host loop on the CPU;
//  - on a GPU ("cuda ..." cases, skipped without one): the same values there to float
//    rounding, the same noise, and checkpoints that cross devices in both directions.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "nn/adamw.h"
#include "nn/ema.h"
#include "nn/layers.h"
#include "tests/cuda_parity.h"
#include "tests/vdm_helpers.h"
#include "vdm/bpd.h"
#include "vdm/checkpoint.h"
#include "vdm/sampler.h"
#include "vdm/time_sampling.h"

using namespace vdm;

namespace {

// Three parameters of odd sizes; each step's gradients come from a seed.
struct ThreeParams : Module {
    Var a, b, c;
    explicit ThreeParams(DType dtype) {
        a = add_parameter("a", test::randn(Shape{1}, 1, 1.0, dtype));
        b = add_parameter("b", test::randn(Shape{7}, 2, 1.0, dtype));
        c = add_parameter("c", test::randn(Shape{5, 157}, 3, 1.0, dtype));  // 785
    }
    // Gradients for step `step`; parameter b gets none on even steps.
    void set_grads(int step) {
        for (const Parameter& p : parameters()) {
            p.var.zero_grad();
            if (p.name == "b" && step % 2 == 0) continue;
            p.var.accumulate_grad(test::randn(p.var.shape(), uint64_t(100 * step) + p.var.numel(), 0.3,
                                              p.var.dtype())
                                      .to(p.var.device()));
        }
    }
};

std::vector<double> values_of(const Tensor& t) { return t.to_vector(); }

// max |x - ref| / max |ref|
double relative_error(const std::vector<double>& x, const std::vector<double>& ref) {
    REQUIRE(x.size() == ref.size());
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
        diff = std::max(diff, std::abs(x[i] - ref[i]));
        scale = std::max(scale, std::abs(ref[i]));
    }
    return diff / std::max(scale, 1e-300);
}

}  // namespace

TEST_CASE("Module::to(Device::CPU) keeps every value, and the device is recorded for children") {
    Rng init(1);
    Vdm model(test::tiny_model("learned", "continuous"), DType::F32, init);
    std::vector<Tensor> before;
    for (const Parameter& p : model.parameters()) before.push_back(p.var.value());
    model.parameters()[0].var.accumulate_grad(Tensor::full(model.parameters()[0].var.shape(), 2.0));
    model.to(Device::CPU);
    CHECK(model.device() == Device::CPU);
    CHECK(model.net.device() == Device::CPU);
    CHECK(model.schedule->device() == Device::CPU);
    const std::vector<Parameter> params = model.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
        CAPTURE(params[i].name);
        CHECK(params[i].var.value().same_storage(before[i]));  // not even copied
    }
    CHECK(params[0].var.grad().to_vector() == std::vector<double>(size_t(params[0].var.numel()), 2.0));
}

TEST_CASE_TEMPLATE("dropout through the backend: the stream's keep values, bit for bit", T, float, double) {
    const Tensor x = test::randn(Shape{3, 17, 5}, 4, 1.0, dtype_of<T>());
    const double p = 0.3;
    Rng rng(7, 11);
    const Tensor y = Dropout(p).forward(Var(x), &rng).value();
    CHECK(rng.offset == 11 + uint64_t(x.numel()));
    const std::vector<double> xs = x.to_vector(), ys = y.to_vector();
    int64_t dropped = 0;
    for (size_t i = 0; i < xs.size(); ++i) {  // the host loop the layer used to run
        const T keep = T(uniform_at(7, 11 + i) >= p ? 1.0 / (1.0 - p) : 0.0);
        CHECK(ys[i] == double(T(xs[i]) * keep));
        dropped += keep == T(0);
    }
    CHECK(dropped > 0);
    CHECK(dropped < x.numel());
}

TEST_CASE_TEMPLATE("AdamW through the backend matches the textbook loop in the parameter's type", T,
                   float, double) {
    ThreeParams m(dtype_of<T>());
    AdamWConfig cfg;
    cfg.weight_decay = 0.1;
    AdamW opt(m.parameters(), cfg, {true, false, true});
    // Reference weights and moments, updated by the loop AdamW::step used to run.
    std::vector<std::vector<T>> w, mo, v;
    for (const Parameter& p : m.parameters()) {
        std::vector<T> values;
        for (double x : p.var.value().to_vector()) values.push_back(T(x));
        w.push_back(values);
        mo.emplace_back(values.size(), T(0));
        v.emplace_back(values.size(), T(0));
    }
    const bool decays[3] = {true, false, true};
    for (int step = 1; step <= 4; ++step) {
        const double lr = 0.01 * step;
        m.set_grads(step);
        std::vector<std::vector<double>> grads;
        for (const Parameter& p : m.parameters())
            grads.push_back(p.var.grad().defined() ? p.var.grad().to_vector() : std::vector<double>{});
        opt.step(lr);
        const double b1 = cfg.beta1, b2 = cfg.beta2;
        const double c1 = 1.0 - std::pow(b1, double(step)), c2 = 1.0 - std::pow(b2, double(step));
        const std::vector<Parameter> params = m.parameters();
        for (size_t i = 0; i < params.size(); ++i) {
            CAPTURE(params[i].name);
            CAPTURE(step);
            CHECK_FALSE(params[i].var.grad().defined());
            if (grads[i].empty()) continue;  // no gradient: unchanged
            const double decay = decays[i] ? 1.0 - lr * cfg.weight_decay : 1.0;
            for (size_t j = 0; j < w[i].size(); ++j) {
                const T g = T(grads[i][j]);
                mo[i][j] = T(b1) * mo[i][j] + T(1.0 - b1) * g;
                v[i][j] = T(b2) * v[i][j] + T(1.0 - b2) * g * g;
                const T m_hat = mo[i][j] / T(c1), v_hat = v[i][j] / T(c2);
                w[i][j] = T(decay) * w[i][j] - T(lr) * m_hat / (std::sqrt(v_hat) + T(cfg.eps));
            }
            const std::vector<double> got_w = params[i].var.value().to_vector();
            const std::vector<double> got_m = opt.m[i].to_vector(), got_v = opt.v[i].to_vector();
            for (size_t j = 0; j < w[i].size(); ++j) {
                CHECK(got_w[j] == double(w[i][j]));
                CHECK(got_m[j] == double(mo[i][j]));
                CHECK(got_v[j] == double(v[i][j]));
            }
        }
    }
}

TEST_CASE_TEMPLATE("EMA through the backend matches the textbook loop in the parameter's type", T,
                   float, double) {
    ThreeParams m(dtype_of<T>());
    const std::vector<Parameter> params = m.parameters();
    Ema ema(params, 0.9);
    std::vector<std::vector<T>> shadow;
    for (const Parameter& p : params) {
        std::vector<T> values;
        for (double x : p.var.value().to_vector()) values.push_back(T(x));
        shadow.push_back(values);
    }
    for (int n = 0; n < 15; ++n) {
        for (const Parameter& p : params)  // new weights each update
            p.var.data()->value = test::randn(p.var.shape(), uint64_t(50 + n) * 3 + p.var.numel(), 1.0,
                                              dtype_of<T>());
        ema.update(params);
        const double d = std::min(0.9, (1.0 + n) / (10.0 + n));
        for (size_t i = 0; i < params.size(); ++i) {
            const std::vector<double> w = params[i].var.value().to_vector();
            const std::vector<double> got = ema.shadow[i].to_vector();
            for (size_t j = 0; j < w.size(); ++j) {
                shadow[i][j] = T(d) * shadow[i][j] + T(1.0 - d) * T(w[j]);
                CHECK(got[j] == double(shadow[i][j]));
            }
        }
    }
}

TEST_CASE_TEMPLATE("clip_grad_norm: per-parameter sums of squares, added in order", T, float, double) {
    ThreeParams m(dtype_of<T>());
    m.set_grads(2);  // b has no gradient
    const std::vector<Parameter> params = m.parameters();
    std::vector<std::vector<double>> before;
    double sum_of_sums = 0.0, running = 0.0;
    for (const Parameter& p : params) {
        before.push_back(p.var.grad().defined() ? p.var.grad().to_vector() : std::vector<double>{});
        double s = 0.0;
        for (double g : before.back()) {
            s += g * g;
            running += g * g;
        }
        sum_of_sums += s;
    }
    const double max_norm = 0.5 * std::sqrt(sum_of_sums);
    const double norm = clip_grad_norm(params, max_norm);
    CHECK(norm == std::sqrt(sum_of_sums));                                  // the deterministic order
    CHECK(norm == doctest::Approx(std::sqrt(running)).epsilon(1e-14));       // the one-loop sum
    const double scale = max_norm / norm;
    for (size_t i = 0; i < params.size(); ++i) {
        if (before[i].empty()) {
            CHECK_FALSE(params[i].var.grad().defined());
            continue;
        }
        const std::vector<double> after = params[i].var.grad().to_vector();
        for (size_t j = 0; j < after.size(); ++j)
            CHECK(after[j] == doctest::Approx(before[i][j] * scale).epsilon(1e-6));
    }
    CHECK(clip_grad_norm({}, 1.0) == 0.0);
}

TEST_CASE("the device is a constructor argument of the trainer, the CPU by default") {
    const Dataset data = test::synthetic_images(8);
    Trainer a(test::tiny_run(), data, test::all_indices(8));
    Trainer b(test::tiny_run(), data, test::all_indices(8), Device::CPU);
    CHECK(a.model->device() == Device::CPU);
    for (int i = 0; i < 2; ++i) CHECK(a.step().bpd == b.step().bpd);
}

// --- on a GPU

TEST_CASE("cuda device plumbing: Module::to moves every parameter there and back unchanged" *
          doctest::skip(!test::gpu_ready())) {
    Rng init(1);
    Vdm model(test::tiny_model("learned", "continuous"), DType::F32, init);
    std::vector<std::vector<double>> before;
    for (const Parameter& p : model.parameters()) before.push_back(p.var.value().to_vector());
    const Var first = model.parameters().front().var;  // a handle taken before the move
    model.to(Device::CUDA);
    CHECK(model.device() == Device::CUDA);
    CHECK(model.net.device() == Device::CUDA);
    CHECK(model.schedule->device() == Device::CUDA);
    for (const Parameter& p : model.parameters()) CHECK(p.var.device() == Device::CUDA);
    CHECK(first.device() == Device::CUDA);  // handles share the parameter's VarData
    model.to(Device::CPU);
    const std::vector<Parameter> params = model.parameters();
    for (size_t i = 0; i < params.size(); ++i) CHECK(params[i].var.value().to_vector() == before[i]);
}

TEST_CASE("cuda device plumbing: dropout, AdamW, EMA and clipping agree with the CPU" *
          doctest::skip(!test::gpu_ready())) {
    // Dropout: the mask is the same stream positions, so the outputs are equal.
    const Tensor x = test::randn(Shape{3, 17, 5}, 4, 1.0, DType::F32);
    Rng cpu_rng(7, 11), gpu_rng(7, 11);
    const Dropout dropout(0.3);
    CHECK(dropout.forward(Var(x), &cpu_rng).value().to_vector() ==
          dropout.forward(Var(x.to(Device::CUDA)), &gpu_rng).value().to_vector());
    CHECK(cpu_rng.offset == gpu_rng.offset);

    // Four steps of clip + AdamW + EMA on each device from the same start.
    ThreeParams cpu(DType::F32), gpu(DType::F32);
    gpu.to(Device::CUDA);
    AdamWConfig cfg;
    AdamW cpu_opt(cpu.parameters(), cfg), gpu_opt(gpu.parameters(), cfg);
    Ema cpu_ema(cpu.parameters(), 0.9), gpu_ema(gpu.parameters(), 0.9);
    CHECK(gpu_opt.m[2].device() == Device::CUDA);
    CHECK(gpu_ema.shadow[2].device() == Device::CUDA);
    for (int step = 1; step <= 4; ++step) {
        CAPTURE(step);
        cpu.set_grads(step);
        gpu.set_grads(step);
        const double cpu_norm = clip_grad_norm(cpu.parameters(), 1.0);
        const double gpu_norm = clip_grad_norm(gpu.parameters(), 1.0);
        CHECK(gpu_norm == doctest::Approx(cpu_norm).epsilon(1e-12));  // double sums, other order
        cpu_opt.step(0.01);
        gpu_opt.step(0.01);
        cpu_ema.update(cpu.parameters());
        gpu_ema.update(gpu.parameters());
        const std::vector<Parameter> cp = cpu.parameters(), gp = gpu.parameters();
        for (size_t i = 0; i < cp.size(); ++i) {
            CAPTURE(cp[i].name);
            CHECK(relative_error(values_of(gp[i].var.value()), values_of(cp[i].var.value())) < 1e-6);
            CHECK(relative_error(values_of(gpu_opt.v[i]), values_of(cpu_opt.v[i])) < 1e-6);
            CHECK(relative_error(values_of(gpu_ema.shadow[i]), values_of(cpu_ema.shadow[i])) < 1e-6);
        }
    }
}

TEST_CASE("cuda device plumbing: noise, times and schedules on the model's device" *
          doctest::skip(!test::gpu_ready())) {
    Rng init_cpu(1), init_gpu(1);
    Vdm cpu(test::tiny_model("learned", "discrete"), DType::F32, init_cpu);
    Vdm gpu(test::tiny_model("learned", "discrete"), DType::F32, init_gpu);
    gpu.to(Device::CUDA);
    Rng cpu_rng(3), gpu_rng(3);
    const BoundNoise a = cpu.draw_noise(5, cpu_rng), b = gpu.draw_noise(5, gpu_rng);
    CHECK(cpu_rng.offset == gpu_rng.offset);
    CHECK(b.t.device() == Device::CUDA);
    CHECK(b.eps.device() == Device::CUDA);
    CHECK(b.t.to_vector() == a.t.to_vector());  // made on the host
    CHECK(relative_error(values_of(b.eps), values_of(a.eps)) < 1e-6);  // normals: float rounding
    CHECK(relative_error(values_of(b.eps0), values_of(a.eps0)) < 1e-6);
    const DiscreteTimes steps = discretize_times(b.t, 20);
    CHECK(steps.t.device() == Device::CUDA);
    CHECK(steps.t.to_vector() == discretize_times(a.t, 20).t.to_vector());
    // Host times into a GPU schedule: the result is on the GPU.
    const Var gamma = gpu.schedule->gamma(a.t);
    CHECK(gamma.device() == Device::CUDA);
    CHECK(relative_error(values_of(gamma.value()), values_of(cpu.schedule->gamma(a.t).value())) < 1e-6);
    // The bound with noise drawn on the CPU, evaluated on the GPU.
    const Dataset data = test::synthetic_images(5);
    const std::vector<uint8_t> pixels(data.images.begin(), data.images.end());
    NoGradGuard no_grad;
    const double cpu_bound = mean(cpu.bound(pixels.data(), a).total()).item();
    const double gpu_bound = mean(gpu.bound(pixels.data(), a).total()).item();
    CHECK(gpu_bound == doctest::Approx(cpu_bound).epsilon(1e-4));
}

TEST_CASE("cuda device plumbing: training, evaluation and checkpoints across devices" *
          doctest::skip(!test::gpu_ready())) {
    const Dataset data = test::synthetic_images(24);
    test::TempDir dir("vdm_devices_");
    const RunConfig cfg = test::tiny_run("learned");
    Trainer cpu(cfg, data, test::all_indices(24)), gpu(cfg, data, test::all_indices(24), Device::CUDA);
    CHECK(gpu.model->device() == Device::CUDA);
    CHECK(gpu.optimizer->m[0].device() == Device::CUDA);
    for (int i = 0; i < 3; ++i) {
        const StepStats a = cpu.step(), b = gpu.step();
        CHECK(b.bpd == doctest::Approx(a.bpd).epsilon(1e-3));
    }

    // A GPU checkpoint resumes on the CPU, a CPU checkpoint on the GPU: the same tensors.
    const std::string from_gpu = dir.file("gpu.safetensors"), from_cpu = dir.file("cpu.safetensors");
    save_checkpoint(gpu, from_gpu);
    save_checkpoint(cpu, from_cpu);
    Trainer gpu_on_cpu(cfg, data, test::all_indices(24));
    Trainer cpu_on_gpu(cfg, data, test::all_indices(24), Device::CUDA);
    load_checkpoint(gpu_on_cpu, from_gpu);
    load_checkpoint(cpu_on_gpu, from_cpu);
    for (size_t p = 0; p < cpu.params.size(); ++p) {
        CAPTURE(cpu.params[p].name);
        CHECK(gpu_on_cpu.params[p].var.value().to_vector() == gpu.params[p].var.value().to_vector());
        CHECK(gpu_on_cpu.optimizer->v[p].to_vector() == gpu.optimizer->v[p].to_vector());
        CHECK(cpu_on_gpu.params[p].var.device() == Device::CUDA);
        CHECK(cpu_on_gpu.params[p].var.value().to_vector() == cpu.params[p].var.value().to_vector());
        CHECK(cpu_on_gpu.ema->shadow[p].to_vector() == cpu.ema->shadow[p].to_vector());
    }
    CHECK(gpu_on_cpu.steps_done == 3);
    CHECK(std::isfinite(gpu_on_cpu.step().bpd));
    CHECK(std::isfinite(cpu_on_gpu.step().bpd));

    // The EMA model of one file on both devices: the same weights, the same bound.
    TrainedModel on_cpu = load_ema_model(from_gpu), on_gpu = load_ema_model(from_gpu, Device::CUDA);
    CHECK(on_gpu.model->device() == Device::CUDA);
    const std::vector<Parameter> cp = on_cpu.model->parameters(), gp = on_gpu.model->parameters();
    for (size_t p = 0; p < cp.size(); ++p) CHECK(gp[p].var.value().to_vector() == cp[p].var.value().to_vector());
    const BpdEstimate e_cpu = evaluate_bpd(*on_cpu.model, data, test::all_indices(24), 10, 5);
    const BpdEstimate e_gpu = evaluate_bpd(*on_gpu.model, data, test::all_indices(24), 10, 5);
    CHECK(e_gpu.bpd == doctest::Approx(e_cpu.bpd).epsilon(1e-4));
    CHECK(e_gpu.diffusion == doctest::Approx(e_cpu.diffusion).epsilon(1e-4));

    // Sampling on the GPU: reproducible, and the CPU's images up to rare rounding at
    // the edge of a pixel bin.
    const std::vector<uint8_t> s1 = ancestral_sample(*on_gpu.model, 3, 10, 11);
    CHECK(s1 == ancestral_sample(*on_gpu.model, 3, 10, 11));
    const std::vector<uint8_t> s_cpu = ancestral_sample(*on_cpu.model, 3, 10, 11);
    REQUIRE(s1.size() == s_cpu.size());
    int64_t far = 0;
    for (size_t k = 0; k < s1.size(); ++k) far += std::abs(int(s1[k]) - int(s_cpu[k])) > 1;
    CHECK(far <= int64_t(s1.size()) / 10);
}
