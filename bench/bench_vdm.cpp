// bench_vdm: the default ScoreNet's cost table (parameters and FLOPs per image, the
// README's layer table) and the speed of whole training steps and forward passes
// at the default batch, on synthetic pixels, on the CPU or (--device cuda) the GPU.
// Speed is measured here, never in tests. The last stdout line is JSON.
//   make bench            (or: build/release/bench_vdm --batch 64 --steps 5 --device cuda)
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "apps/common/device.h"
#include "apps/common/flags.h"
#include "vdm/trainer.h"

using namespace vdm;

int main(int argc, char** argv) {
    return run_app([&] {
        RunConfig cfg;
        int64_t steps = 5, threads = 0;
        std::string attention = "on", device_flag = "cpu", tf32 = "off";
        Flags flags("bench_vdm", "VDM training-step speed and the ScoreNet cost table");
        flags.add("batch", &cfg.train.batch, 1, 4096, "images per step");
        flags.add("channels", &cfg.model.net.channels, 8, 1024, "ScoreNet width");
        flags.add("blocks", &cfg.model.net.blocks, 0, 64, "ResNet blocks in the down stack");
        flags.add_choice("attention", &attention, {"on", "off"}, "middle self-attention");
        flags.add("steps", &steps, 1, 1000, "timed steps (after one warm-up step)");
        flags.add("threads", &threads, 0, 1024, "OpenMP threads (0: all cores)");
        add_device_flags(flags, &device_flag, &tf32);
        if (!flags.parse(argc, argv)) return 0;
        if (threads > 0) omp_set_num_threads(int(threads));
        const Device device = select_device(device_flag, tf32);
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
                    device_description(device).c_str(), tf32 == "on" ? ", TF32" : "");
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
        const int64_t mallocs_before = cuda_memory_stats().mallocs;
        auto start = now();
        for (int64_t i = 0; i < steps; ++i) trainer.step();
        const double step_s = seconds(start) / double(steps);
        const int64_t timed_mallocs = cuda_memory_stats().mallocs - mallocs_before;
        const double B = double(cfg.train.batch), flops = double(net.flops_per_image());
        const double gflops = 3.0 * flops * B / step_s / 1e9;
        std::printf("training step (batch %lld, %s): %.1f ms, %.0f img/s, %.1f GFLOP/s (3x forward FLOPs)\n",
                    (long long)cfg.train.batch, device_name(device), 1e3 * step_s, B / step_s, gflops);

        NoGradGuard no_grad;
        Rng rng(1);
        std::vector<uint8_t> pixels(data.images.begin(), data.images.begin() + cfg.train.batch * 784);
        BoundNoise noise = trainer.model->draw_noise(cfg.train.batch, rng);
        trainer.model->bound(pixels.data(), noise);
        start = now();
        for (int64_t i = 0; i < steps; ++i) trainer.model->bound(pixels.data(), noise);
        const double fwd_s = seconds(start) / double(steps);
        std::printf("bound, forward only (batch %lld): %.1f ms, %.0f img/s, %.1f GFLOP/s\n",
                    (long long)cfg.train.batch, 1e3 * fwd_s, B / fwd_s, flops * B / fwd_s / 1e9);

        std::string peak_mib = "null", timed_mallocs_json = "null";  // CUDA only
        if (device == Device::CUDA) {
            const DeviceMemoryStats m = cuda_memory_stats();
            std::printf("device memory: peak %.1f MiB; %lld cudaMalloc during the %lld timed steps "
                        "(%lld in all, %lld cudaFree)\n",
                        mebibytes(m.peak_bytes), (long long)timed_mallocs, (long long)steps,
                        (long long)m.mallocs, (long long)m.frees);
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.1f", mebibytes(m.peak_bytes));
            peak_mib = buf;
            timed_mallocs_json = std::to_string(timed_mallocs);
        }
        std::printf("{\"device\": \"%s\", \"tf32\": \"%s\", \"batch\": %lld, \"channels\": %lld, \"blocks\": %lld, "
                    "\"attention\": \"%s\", \"ms_per_step\": %.2f, \"images_per_s\": %.1f, \"gflops\": %.2f, "
                    "\"forward_ms\": %.2f, \"peak_device_mib\": %s, \"mallocs_in_timed_steps\": %s}\n",
                    device_name(device), tf32.c_str(), (long long)cfg.train.batch,
                    (long long)cfg.model.net.channels, (long long)cfg.model.net.blocks, attention.c_str(),
                    1e3 * step_s, B / step_s, gflops, 1e3 * fwd_s, peak_mib.c_str(),
                    timed_mallocs_json.c_str());
        return 0;
    });
}
