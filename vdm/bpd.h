// Bits per dimension (docs/vdm.md#bits-per-dimension): bpd = nats / (D ln 2) with D the
// number of pixel values per image (784 for MNIST), and the evaluation over a set of
// images of the full variational bound, each term reported on its own, and of the
// probability-flow ODE's dequantized bound (docs/vdm.md#the-dequantized-bound), a
// bound of another kind: the two are reported side by side, never mixed.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "datasets/dataset.h"
#include "distributed/communicator.h"
#include "vdm/model.h"
#include "vdm/probability_flow.h"

namespace vdm {

double nats_to_bpd(double nats, int64_t dims);

// The standard error of the mean of n values with this mean and sum of squares.
double standard_error(double mean, double sum_sq, int64_t n);

// fn(pixels, idx) for the images of indices in batches of at most `batch`, in order,
// pixels (idx.size(), C, H, W) in host memory; progress(done, total) after each (may
// be empty). The batch loop of every evaluation (here and in baselines/).
void for_each_batch(const Dataset& data, const std::vector<int64_t>& indices, int64_t batch,
                    const std::function<void(const uint8_t*, const std::vector<int64_t>&)>& fn,
                    const std::function<void(int64_t, int64_t)>& progress = {});

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
// Over several processes (comm), process r evaluates batches r, r + N, ... (every
// process draws every batch's noise, so each image sees the draws of a one-process
// run) and the sums are added over processes; every process returns the estimate.
BpdEstimate evaluate_bpd(const Vdm& model, const Dataset& data, const std::vector<int64_t>& indices,
                         int64_t batch, uint64_t seed,
                         const std::function<void(int64_t, int64_t)>& progress = {},
                         const Communicator& comm = world());

// The ODE's dequantized bound (vdm/probability_flow.h ode_bpd) for data images
// `indices` in batches, u and the probes of each batch from one Rng seeded with
// `seed`. network_evaluations is the mean over batches of the drift evaluations of a
// batch's ODE (each one forward and one backward pass per probe).
struct OdeBpdEstimate {
    double bpd = 0.0, bpd_stderr = 0.0;
    int64_t n = 0;
    double network_evaluations = 0.0;
};
OdeBpdEstimate evaluate_ode_bpd(const Vdm& model, const Dataset& data,
                                const std::vector<int64_t>& indices, int64_t batch, uint64_t seed,
                                const OdeBpdOptions& options,
                                const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace vdm
