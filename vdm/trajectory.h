// How a sample forms: z_t and Tweedie's denoised estimate x_hat(z_t)
// (docs/vdm.md#parameterizations) at a few evenly spaced times of a fixed-grid
// sampler's run, t = 1 .. 0, as a strip per sample (vdm_sample --trajectory).
//
// A SampleObserver for sample_loop: at the first grid time s <= each of the target
// times it keeps z_s and x_hat = (z_s - sigma_s eps_hat) / alpha_s, which costs one
// more network evaluation per kept time (counted like the sampler's). Both are shown
// as pixels through the encoder's inverse, v = (x + 1) 128 - 0.5, clamped to [0, 255]
// (vdm/encoder.h), so x_hat reads as an image and z_t as its noisy, scaled version.
#pragma once
#include <cstdint>
#include <vector>

#include "vdm/sampler.h"

namespace vdm {

struct Trajectory {
    std::vector<double> times;                // the grid times kept, from 1 down to 0
    std::vector<std::vector<uint8_t>> z;      // per kept time: (n, C, H, W) pixels of z_t
    std::vector<std::vector<uint8_t>> x_hat;  // per kept time: (n, C, H, W) pixels of x_hat
};

// Records into `out` at `frames` >= 2 target times 1, (frames - 2) / (frames - 1), ..., 0
// (one frame for all the targets a step passes: fewer frames on a coarse grid).
SampleObserver trajectory_observer(Trajectory& out, int frames);

// The strip of sample i: z_t in the top row, x_hat below, one column per kept time;
// (2 * frames images of one sample) as (2 * frames, C, H, W) pixels for tile_images.
std::vector<uint8_t> trajectory_strip(const Trajectory& trajectory, int64_t i, int64_t image_size);

}  // namespace vdm
