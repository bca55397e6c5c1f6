// bench_vdm: the default ScoreNet's cost table (parameters and FLOPs per image, the
// README's layer table) and the speed of whole training steps and forward passes
// at the default batch, on synthetic pixels, on the CPU or (--device cuda) the GPU.
// Speed is measured here, never in tests. The last stdout line is JSON.
// --profile adds a per-op profile of --steps more training steps (tensor/profiler.h):
// ms and % of a step per op class, GFLOP/s where FLOPs are defined, and the step's
// FLOP rate against a 1024^3 matrix product measured in this process.
//   make bench            (or: build/release/bench_vdm --batch 64 --steps 5 --device cuda)
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "apps/common/device.h"
#include "apps/common/flags.h"
#include "tensor/cpu/gemm.h"
#include "tensor/host_allocator.h"
#include "tensor/profiler.h"
#include "vdm/trainer.h"

using namespace vdm;

namespace {

using Clock = std::chrono::steady_clock;

// Seconds since `start`, after the GPU's queued work (part of the time) is done.
double seconds_since(Clock::time_point start, Device device) {
    finish_work(device);
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// GFLOP/s of one 1024^3 f32 matrix product, the best of 10 after a warm-up: what this
// machine's matrix kernel reaches in this process (cpu::gemm, or the CUDA backend's matmul).
double gemm_1024_gflops(Device device) {
    const int64_t n = 1024;
    Tensor a = Tensor::full(Shape{1, n, n}, 0.5, DType::F32, device);
    Tensor b = Tensor::full(Shape{1, n, n}, 0.25, DType::F32, device);
    Tensor c = Tensor::empty(Shape{1, n, n}, DType::F32, device);
    auto product = [&] {
        if (device == Device::CPU)
            cpu::gemm<float>(false, false, n, n, n, a.data<float>(), n, b.data<float>(), n, 0.0f,
                             c.data<float>(), n);
        else
            backend_for(device).matmul(a, false, b, false, c, 0.0);
    };
    product();
    finish_work(device);
    double best = 1e30;
    for (int i = 0; i < 10; ++i) {
        const auto start = Clock::now();
        product();
        best = std::min(best, seconds_since(start, device));
    }
    return 2.0 * double(n * n * n) / best / 1e9;
}

// printf of one number, for the JSON line and the table's optional cells.
std::string format(const char* fmt, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, value);
    return buf;
}

// Profiles `steps` training steps and prints the table; step_flops (3x the forward
// FLOPs) and step_s (the unprofiled step time) give the whole step's FLOP rate.
// Returns the figures as a JSON object.
std::string profile_steps(Trainer& trainer, int64_t steps, Device device, double step_flops,
                          double step_s) {
    const double gemm_gflops = gemm_1024_gflops(device);
    take_profile();  // from zero
    set_profiling(true);
    const auto start = Clock::now();
    for (int64_t i = 0; i < steps; ++i) trainer.step();
    const double step_ms = 1e3 * seconds_since(start, device) / double(steps);
    set_profiling(false);
    const Profile p = take_profile();

    std::printf("\nper-op profile of %lld training steps: %.1f ms / step (unprofiled: %.1f)\n",
                (long long)steps, step_ms, 1e3 * step_s);
    std::printf("| op class | ms / step | %% of step | GFLOP/s | calls / step |\n"
                "|---|---:|---:|---:|---:|\n");
    std::string json = "{\"step_ms\": " + format("%.2f", step_ms) + ", \"ms_per_step\": {";
    const double n = double(steps);
    double flops = 0.0;
    for (int c = 0; c < kOpClasses; ++c) {
        const OpStats& s = p.ops[size_t(c)];
        const std::string rate = s.flops > 0 ? format("%.1f", s.flops / (s.ms * 1e6)) : "";
        std::printf("| %s | %.1f | %.1f%% | %s | %.0f |\n", op_class_name(OpClass(c)), s.ms / n,
                    100.0 * s.ms / n / step_ms, rate.c_str(), double(s.calls) / n);
        json += std::string(c > 0 ? ", " : "") + "\"" + op_class_name(OpClass(c)) + "\": " +
                format("%.2f", s.ms / n);
        flops += s.flops;
    }
    const double kernel_ms = p.kernel_ms() / n, outside_ms = step_ms - kernel_ms;
    std::printf("| **total (kernels)** | **%.1f** | **%.1f%%** | %.1f | |\n", kernel_ms,
                100.0 * kernel_ms / step_ms, flops / n / (kernel_ms * 1e6));
    std::printf("| outside kernels (graph bookkeeping, ...) | %.1f | %.1f%% | | |\n", outside_ms,
                100.0 * outside_ms / step_ms);
    const double step_gflops = step_flops / step_s / 1e9;
    std::printf("GEMM 1024³: %.1f GFLOP/s (this process); whole step: %.1f GFLOP/s = %.0f%% of it "
                "(3x forward FLOPs over the unprofiled step)\n",
                gemm_gflops, step_gflops, 100.0 * step_gflops / gemm_gflops);
    json += "}, \"outside_kernels_ms\": " + format("%.2f", outside_ms) +
            ", \"gemm_1024_gflops\": " + format("%.1f", gemm_gflops) +
            ", \"step_gflops\": " + format("%.2f", step_gflops) +
            ", \"utilization\": " + format("%.3f", step_gflops / gemm_gflops) + "}";
    return json;
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        RunConfig cfg;
        int64_t steps = 5;
        std::string attention = "on";
        bool profile = false;
        Flags flags("bench_vdm", "VDM training-step speed and the ScoreNet cost table");
        flags.add("batch", &cfg.train.batch, 1, 4096, "images per step");
        flags.add("channels", &cfg.model.net.channels, 8, 1024, "ScoreNet width");
        flags.add("blocks", &cfg.model.net.blocks, 0, 64, "ResNet blocks in the down stack");
        flags.add_choice("attention", &attention, {"on", "off"}, "middle self-attention");
        flags.add("steps", &steps, 1, 1000, "timed steps (after one warm-up step)");
        flags.add_switch("profile", &profile, "then a per-op profile of --steps more training steps");
        DeviceFlags device_flags(flags, true);
        if (!flags.parse(argc, argv)) return 0;
        const Device device = device_flags.select();
        cfg.model.net.attention = attention == "on";

        // Synthetic 28x28 images: the step's cost does not depend on the pixel values.
        Dataset data;
        data.n = 256, data.channels = 1, data.height = 28, data.width = 28;
        for (int64_t i = 0; i < data.n * 784; ++i) data.images.push_back(uint8_t((i * 7919) % 256));
        data.labels.assign(size_t(data.n), 0);
        std::vector<int64_t> indices;
        for (int64_t i = 0; i < data.n; ++i) indices.push_back(i);
        Trainer trainer(cfg, data, indices, device);
        const ScoreNet& net = trainer.model->net;

        std::printf("ScoreNet: channels %lld, blocks %lld, attention %s, 1x28x28; on %s%s\n",
                    (long long)cfg.model.net.channels, (long long)cfg.model.net.blocks, attention.c_str(),
                    device_description(device).c_str(), device_flags.precision == "fp32" ? "" : (", " + device_flags.precision).c_str());
        std::printf("| layer | parameters | MFLOP / image (forward) |\n|---|---:|---:|\n");
        for (const LayerCost& row : net.layer_costs())
            std::printf("| %s | %lld | %.1f |\n", row.name.c_str(), (long long)row.params, double(row.flops) / 1e6);
        std::printf("| **total** | **%lld** | **%.1f** |\n\n", (long long)net.parameter_count(),
                    double(net.flops_per_image()) / 1e6);

        using clock = std::chrono::steady_clock;
        auto now = [&] {  // the GPU's queued work is part of the time
            finish_work(device);
            return clock::now();
        };
        auto seconds = [&](clock::time_point a) { return std::chrono::duration<double>(now() - a).count(); };
        trainer.step();  // warm-up: first-touch allocations, the device allocator's cache
        // Memory taken from the system (host allocator, or cudaMalloc) during the timed steps.
        auto system_allocs = [&] {
            return device == Device::CUDA ? cuda_memory_stats().mallocs : host_memory_stats().system_allocs;
        };
        const int64_t mallocs_before = system_allocs();
        auto start = now();
        for (int64_t i = 0; i < steps; ++i) trainer.step();
        const double step_s = seconds(start) / double(steps);
        const int64_t timed_mallocs = system_allocs() - mallocs_before;
        const double B = double(cfg.train.batch), flops = double(net.flops_per_image());
        const double gflops = 3.0 * flops * B / step_s / 1e9;
        std::printf("training step (batch %lld, %s): %.1f ms, %.0f img/s, %.1f GFLOP/s (3x forward FLOPs)\n",
                    (long long)cfg.train.batch, device_name(device), 1e3 * step_s, B / step_s, gflops);

        double fwd_s = 0.0;
        {
            NoGradGuard no_grad;
            Rng rng(1);
            std::vector<uint8_t> pixels(data.images.begin(), data.images.begin() + cfg.train.batch * 784);
            BoundNoise noise = trainer.model->draw_noise(cfg.train.batch, rng);
            trainer.model->bound(pixels.data(), noise);
            start = now();
            for (int64_t i = 0; i < steps; ++i) trainer.model->bound(pixels.data(), noise);
            fwd_s = seconds(start) / double(steps);
        }
        std::printf("bound, forward only (batch %lld): %.1f ms, %.0f img/s, %.1f GFLOP/s\n",
                    (long long)cfg.train.batch, 1e3 * fwd_s, B / fwd_s, flops * B / fwd_s / 1e9);

        rusage usage{};
        getrusage(RUSAGE_SELF, &usage);
        const double peak_rss_mib = double(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
        std::printf("peak RSS %.1f MiB; %lld %s during the %lld timed steps\n", peak_rss_mib,
                    (long long)timed_mallocs,
                    device == Device::CUDA ? "cudaMalloc" : "host blocks taken from the system",
                    (long long)steps);
        std::string peak_mib = "null";  // CUDA only
        if (device == Device::CUDA) {
            const DeviceMemoryStats m = cuda_memory_stats();
            std::printf("device memory: peak %.1f MiB (%lld cudaMalloc in all, %lld cudaFree)\n",
                        mebibytes(m.peak_bytes), (long long)m.mallocs, (long long)m.frees);
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.1f", mebibytes(m.peak_bytes));
            peak_mib = buf;
        }

        std::string profile_json;  // in the JSON line only with --profile
        if (profile)
            profile_json = ", \"profile\": " + profile_steps(trainer, steps, device, 3.0 * flops * B, step_s);
        std::printf("{\"device\": \"%s\", \"precision\": \"%s\", \"batch\": %lld, \"channels\": %lld, \"blocks\": %lld, "
                    "\"attention\": \"%s\", \"ms_per_step\": %.2f, \"images_per_s\": %.1f, \"gflops\": %.2f, "
                    "\"forward_ms\": %.2f, \"peak_rss_mib\": %.1f, \"peak_device_mib\": %s, "
                    "\"mallocs_in_timed_steps\": %lld%s}\n",
                    device_name(device), device_flags.precision.c_str(), (long long)cfg.train.batch,
                    (long long)cfg.model.net.channels, (long long)cfg.model.net.blocks, attention.c_str(),
                    1e3 * step_s, B / step_s, gflops, 1e3 * fwd_s, peak_rss_mib, peak_mib.c_str(),
                    (long long)timed_mallocs, profile_json.c_str());
        return 0;
    });
}
