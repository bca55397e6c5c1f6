// Shared by the VDM tests: a tiny model config on 4x4 images, random weights for the
// zero-initialized layers so every parameter has a gradient and eps_hat != 0, and a
// tiny training run on synthetic 4x4 images.
#pragma once
#include <string>
#include <vector>

#include "tests/helpers.h"
#include "vdm/trainer.h"

namespace vdm::test {

inline VdmConfig tiny_model(const std::string& schedule, const std::string& loss) {
    VdmConfig c;
    c.net.height = c.net.width = 4;
    c.net.channels = 8;
    c.net.groups = 2;
    c.net.blocks = 1;
    c.net.fourier_min = 1;  // low frequencies: smooth enough for finite differences
    c.net.fourier_max = 2;
    c.schedule = schedule;
    c.schedule_width = 4;
    c.loss = loss;
    c.T = 20;
    return c;
}

inline void randomize_zero_inits(const Vdm& model, uint64_t seed) {
    for (const Parameter& p : model.parameters())
        if (p.name.find("conv2") != std::string::npos || p.name.find("conv_out") != std::string::npos ||
            p.name.find("proj.weight") != std::string::npos)
            p.var.data()->value = randn(p.var.shape(), seed++, 0.2, p.var.dtype());
}

// n synthetic 4x4 "images": a bright square on a dark background, shifted by index.
inline Dataset synthetic_images(int64_t n) {
    Dataset d;
    d.n = n, d.channels = 1, d.height = 4, d.width = 4;
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t p = 0; p < 16; ++p) {
            int64_t r = p / 4, c = p % 4;
            bool on = r >= i % 2 && r < i % 2 + 2 && c >= (i / 2) % 3 && c < (i / 2) % 3 + 2;
            d.images.push_back(on ? uint8_t(200 + i % 50) : uint8_t(i % 3));
        }
        d.labels.push_back(uint8_t(i % 10));
    }
    return d;
}

inline std::vector<int64_t> all_indices(int64_t n) {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    return idx;
}

inline RunConfig tiny_run(const std::string& schedule = "linear",
                          const std::string& loss = "continuous") {
    RunConfig r;
    r.model = tiny_model(schedule, loss);
    r.train.batch = 4;
    r.train.lr = 3e-3;
    r.train.warmup = 2;
    r.train.seed = 9;
    return r;
}

}  // namespace vdm::test
