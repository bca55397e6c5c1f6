// Shared by the VDM tests: a tiny model config on 4x4 images, and random weights for
// the zero-initialized layers so every parameter has a gradient and eps_hat != 0.
#pragma once
#include <string>

#include "tests/helpers.h"
#include "vdm/model.h"

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

}  // namespace vdm::test
