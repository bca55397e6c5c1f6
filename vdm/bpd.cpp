// bpd conversion and evaluation of the bounds on a dataset.
#include "vdm/bpd.h"

#include <algorithm>
#include <cmath>

namespace vdm {

namespace {

void check_images(const char* what, const Vdm& model, const Dataset& data,
                  const std::vector<int64_t>& indices) {
    VDM_CHECK(!indices.empty(), what, ": no images");
    VDM_CHECK(data.image_size() == model.image_size(), what, ": the data's images have ",
              data.image_size(), " values, the model's ", model.image_size());
}

}  // namespace

double nats_to_bpd(double nats, int64_t dims) { return nats / (double(dims) * std::log(2.0)); }

double standard_error(double mean, double sum_sq, int64_t n) {
    const double variance = std::max(0.0, sum_sq / double(n) - mean * mean);
    return std::sqrt(variance / double(std::max<int64_t>(n - 1, 1)));
}

void for_each_batch(const Dataset& data, const std::vector<int64_t>& indices, int64_t batch,
                    const std::function<void(const uint8_t*, const std::vector<int64_t>&)>& fn,
                    const std::function<void(int64_t, int64_t)>& progress) {
    const int64_t total = int64_t(indices.size());
    std::vector<uint8_t> pixels;
    for (int64_t first = 0; first < total; first += batch) {
        const int64_t count = std::min(batch, total - first);
        std::vector<int64_t> idx(indices.begin() + first, indices.begin() + first + count);
        pixels.resize(size_t(count * data.image_size()));
        gather_images(data, idx, pixels.data());
        fn(pixels.data(), idx);
        if (progress) progress(first + count, total);
    }
}

BpdEstimate evaluate_bpd(const Vdm& model, const Dataset& data, const std::vector<int64_t>& indices,
                         int64_t batch, uint64_t seed,
                         const std::function<void(int64_t, int64_t)>& progress, const Communicator& comm) {
    check_images("evaluate_bpd", model, data, indices);
    NoGradGuard no_grad;
    Rng rng(seed);
    const int64_t D = model.image_size(), total = int64_t(indices.size());
    // sums of prior, recon, diffusion and of the total's square, in bpd
    std::vector<double> sums(4, 0.0);
    int64_t batch_number = 0;
    for_each_batch(data, indices, batch, [&](const uint8_t* pixels, const std::vector<int64_t>& idx) {
        const int64_t count = int64_t(idx.size());
        const BoundNoise noise = model.draw_noise(count, rng);  // every process draws every batch's
        if (batch_number++ % comm.size() != comm.rank()) return;  // another process's batch
        BoundTerms terms = model.bound(pixels, noise);
        // (3 count): prior, recon, diffusion per image; one download per batch
        const std::vector<double> parts =
            concat({terms.prior, terms.recon, terms.diffusion}, 0).value().to_vector();
        for (int64_t b = 0; b < count; ++b) {
            double image_total = 0.0;
            for (size_t k = 0; k < 3; ++k) {
                double bpd = nats_to_bpd(parts[k * size_t(count) + size_t(b)], D);
                sums[k] += bpd;
                image_total += bpd;
            }
            VDM_CHECK(std::isfinite(image_total), "evaluate_bpd: the bound of image ",
                      idx[size_t(b)], " is ", image_total);
            sums[3] += image_total * image_total;
        }
    }, progress);
    comm.sum(sums);
    BpdEstimate e;
    e.n = total;
    e.prior = sums[0] / double(total);
    e.recon = sums[1] / double(total);
    e.diffusion = sums[2] / double(total);
    e.bpd = e.prior + e.recon + e.diffusion;
    e.bpd_stderr = standard_error(e.bpd, sums[3], total);
    return e;
}

OdeBpdEstimate evaluate_ode_bpd(const Vdm& model, const Dataset& data,
                                const std::vector<int64_t>& indices, int64_t batch, uint64_t seed,
                                const OdeBpdOptions& options,
                                const std::function<void(int64_t, int64_t)>& progress) {
    check_images("evaluate_ode_bpd", model, data, indices);
    VDM_CHECK(batch >= 1, "evaluate_ode_bpd: batch = ", batch, " must be positive");
    Rng rng(seed);
    const int64_t total = int64_t(indices.size());
    double sum = 0.0, sum_sq = 0.0, evaluations = 0.0;
    int64_t batches = 0;
    for_each_batch(data, indices, batch, [&](const uint8_t* pixels, const std::vector<int64_t>& idx) {
        const int64_t count = int64_t(idx.size());
        const OdeBpd result = ode_bpd(model, pixels, count, rng, options);
        for (int64_t b = 0; b < count; ++b) {
            const double bpd = result.bpd[size_t(b)];
            VDM_CHECK(std::isfinite(bpd), "evaluate_ode_bpd: the bound of image ", idx[size_t(b)],
                      " is ", bpd);
            sum += bpd;
            sum_sq += bpd * bpd;
        }
        evaluations += double(result.evaluations);
        ++batches;
    }, progress);
    OdeBpdEstimate e;
    e.n = total;
    e.bpd = sum / double(total);
    e.bpd_stderr = standard_error(e.bpd, sum_sq, total);
    e.network_evaluations = evaluations / double(batches);
    return e;
}

}  // namespace vdm
