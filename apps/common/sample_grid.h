// Shared by train_mnist and vdm_sample: draw n ancestral samples and write them as a
// square-ish PNG grid, with a progress line at most once per second.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "datasets/png.h"
#include "vdm/sampler.h"

namespace vdm {

inline void write_sample_grid(const Vdm& model, int64_t n, int64_t steps, uint64_t seed,
                              const std::string& path) {
    auto start = std::chrono::steady_clock::now(), last = start;
    std::vector<uint8_t> images = ancestral_sample(model, n, steps, seed, [&](int64_t i) {
        auto now = std::chrono::steady_clock::now();
        if (std::chrono::duration<double>(now - last).count() < 1.0 && i > 1) return;
        last = now;
        double elapsed = std::chrono::duration<double>(now - start).count();
        int64_t done = steps - i + 1;
        std::fprintf(stderr, "sampling: step %lld/%lld, ETA %.0fs\n", (long long)done,
                     (long long)steps, elapsed / double(done) * double(steps - done));
    });
    const ScoreNetConfig& c = model.config.net;
    const int64_t cols = int64_t(std::ceil(std::sqrt(double(n))));
    int64_t width = 0, height = 0;
    std::vector<uint8_t> grid = tile_images(images.data(), n, c.image_channels, c.height, c.width,
                                            cols, 2, 128, width, height);
    write_png(path, grid.data(), width, height, int(c.image_channels));
}

}  // namespace vdm
