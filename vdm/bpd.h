// Bits per dimension (docs/vdm.md#bits-per-dimension): bpd = nats / (D ln 2) with D the
// number of pixel values per image (784 for MNIST), and the evaluation of the full
// bound over a set of images, each term reported on its own.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "datasets/dataset.h"
#include "vdm/model.h"

namespace vdm {

double nats_to_bpd(double nats, int64_t dims);

// Means over images of each term in bpd, and the standard error of the total.
struct BpdEstimate {
    double bpd = 0.0, bpd_stderr = 0.0;
    double prior = 0.0, recon = 0.0, diffusion = 0.0;
    int64_t n = 0;
};

// The bound for data images `indices` in batches, one draw of (t, eps, eps0) per
// image from an Rng seeded with `seed` (so the estimate is reproducible), on the
// model's device.
// progress(done, total) is called after each batch, may be empty.
BpdEstimate evaluate_bpd(const Vdm& model, const Dataset& data, const std::vector<int64_t>& indices,
                         int64_t batch, uint64_t seed,
                         const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace vdm
