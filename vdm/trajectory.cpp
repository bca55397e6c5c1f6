// Recording a sampler's trajectory.
#include "vdm/trajectory.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "vdm/parameterization.h"

namespace vdm {

namespace {

// x in model units -> pixel value: the inverse of encode_pixel, clamped.
std::vector<uint8_t> to_pixels(const Var& x) {
    std::vector<uint8_t> pixels;
    for (double v : x.value().to_vector())
        pixels.push_back(uint8_t(std::clamp(std::lround((v + 1.0) * 128.0 - 0.5), 0L, 255L)));
    return pixels;
}

}  // namespace

SampleObserver trajectory_observer(Trajectory& out, int frames) {
    VDM_CHECK(frames >= 2, "trajectory: ", frames, " frames (at least 2: t = 1 and t = 0)");
    auto next = std::make_shared<int>(0);  // the next target time's index
    auto target = [frames](int k) { return 1.0 - double(k) / double(frames - 1); };
    return [&out, frames, next, target](SamplerContext& ctx, const Var& z, double t) {
        if (*next >= frames || t > target(*next) + 1e-12) return;
        while (*next < frames && t <= target(*next) + 1e-12) ++*next;  // a coarse grid keeps fewer
        Var gamma = ctx.gamma(t);
        Var x_hat = predicted_x(z, ctx.per_image(gamma), ctx.eps_hat(z, gamma));
        out.times.push_back(t);
        out.z.push_back(to_pixels(z));
        out.x_hat.push_back(to_pixels(x_hat));
    };
}

std::vector<uint8_t> trajectory_strip(const Trajectory& trajectory, int64_t i, int64_t image_size) {
    std::vector<uint8_t> strip;
    for (const auto* row : {&trajectory.z, &trajectory.x_hat})
        for (const std::vector<uint8_t>& frame : *row)
            strip.insert(strip.end(), frame.begin() + i * image_size, frame.begin() + (i + 1) * image_size);
    return strip;
}

}  // namespace vdm
