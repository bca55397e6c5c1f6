// bench_vdm: the default ScoreNet's cost table (parameters and FLOPs per image, the
// README's layer table) and the speed of whole training steps and forward passes
// at the default batch, on synthetic pixels. Speed is measured here, never in tests.
//   make bench            (or: build/release/bench_vdm --batch 64 --steps 5)
#include <omp.h>

#include <chrono>
#include <cstdio>

#include "apps/common/flags.h"
#include "vdm/trainer.h"

using namespace vdm;

int main(int argc, char** argv) {
    return run_app([&] {
        RunConfig cfg;
        int64_t steps = 5, threads = 0;
        std::string attention = "on";
        Flags flags("bench_vdm", "VDM training-step speed and the ScoreNet cost table");
        flags.add("batch", &cfg.train.batch, 1, 4096, "images per step");
        flags.add("channels", &cfg.model.net.channels, 8, 1024, "ScoreNet width");
        flags.add("blocks", &cfg.model.net.blocks, 0, 64, "ResNet blocks in the down stack");
        flags.add_choice("attention", &attention, {"on", "off"}, "middle self-attention");
        flags.add("steps", &steps, 1, 1000, "timed steps (after one warm-up step)");
        flags.add("threads", &threads, 0, 1024, "OpenMP threads (0: all cores)");
        if (!flags.parse(argc, argv)) return 0;
        if (threads > 0) omp_set_num_threads(int(threads));
        cfg.model.net.attention = attention == "on";

        // Synthetic 28x28 images: the step's cost does not depend on the pixel values.
        Dataset data;
        data.n = 256, data.channels = 1, data.height = 28, data.width = 28;
        for (int64_t i = 0; i < data.n * 784; ++i) data.images.push_back(uint8_t((i * 7919) % 256));
        data.labels.assign(size_t(data.n), 0);
        std::vector<int64_t> indices;
        for (int64_t i = 0; i < data.n; ++i) indices.push_back(i);
        Trainer trainer(cfg, data, indices);
        const ScoreNet& net = trainer.model->net;

        std::printf("ScoreNet: channels %lld, blocks %lld, attention %s, 1x28x28\n",
                    (long long)cfg.model.net.channels, (long long)cfg.model.net.blocks, attention.c_str());
        std::printf("| layer | parameters | MFLOP / image (forward) |\n|---|---:|---:|\n");
        for (const LayerCost& row : net.layer_costs())
            std::printf("| %s | %lld | %.1f |\n", row.name.c_str(), (long long)row.params, double(row.flops) / 1e6);
        std::printf("| **total** | **%lld** | **%.1f** |\n\n", (long long)net.parameter_count(),
                    double(net.flops_per_image()) / 1e6);

        using clock = std::chrono::steady_clock;
        auto seconds = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };
        trainer.step();  // warm-up: first-touch allocations
        auto start = clock::now();
        for (int64_t i = 0; i < steps; ++i) trainer.step();
        const double step_s = seconds(start) / double(steps);
        const double B = double(cfg.train.batch), flops = double(net.flops_per_image());
        std::printf("training step (batch %lld, %d threads): %.1f ms, %.0f img/s, %.1f GFLOP/s (3x forward FLOPs)\n",
                    (long long)cfg.train.batch, omp_get_max_threads(), 1e3 * step_s, B / step_s,
                    3.0 * flops * B / step_s / 1e9);

        NoGradGuard no_grad;
        Rng rng(1);
        std::vector<uint8_t> pixels(data.images.begin(), data.images.begin() + cfg.train.batch * 784);
        BoundNoise noise = trainer.model->draw_noise(cfg.train.batch, rng);
        trainer.model->bound(pixels.data(), noise);
        start = clock::now();
        for (int64_t i = 0; i < steps; ++i) trainer.model->bound(pixels.data(), noise);
        const double fwd_s = seconds(start) / double(steps);
        std::printf("bound, forward only (batch %lld): %.1f ms, %.0f img/s, %.1f GFLOP/s\n",
                    (long long)cfg.train.batch, 1e3 * fwd_s, B / fwd_s, flops * B / fwd_s / 1e9);
        return 0;
    });
}
