// The baselines' test-set numbers, in the units of every row of the results table:
// per image a bound on (or the exact) -log p(x) in nats, turned into bits per
// dimension by vdm/bpd.h's nats_to_bpd, averaged over the images, with the standard
// error of the mean. 8-bit data, no dequantization.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "baselines/pixelcnn.h"
#include "baselines/vae.h"
#include "datasets/dataset.h"

namespace vdm {

struct BaselineEstimate {
    double bpd = 0.0, bpd_stderr = 0.0;
    double kl = 0.0, recon = 0.0;  // the VAE's -ELBO terms (bpd); 0 otherwise
    int64_t n = 0;
};

// Mean and standard error in bpd of per-image negative log-likelihoods (nats).
BaselineEstimate estimate_from_nats(const std::vector<double>& nats, int64_t dims);

// -ELBO: the closed-form KL plus -log p(x|z) at one draw of z per image (from seed).
BaselineEstimate evaluate_vae_elbo(const Vae& model, const Dataset& data, const std::vector<int64_t>& indices,
                                   int64_t batch, uint64_t seed);
// -IWAE_K per image (K draws each, from seed); progress(done, total) after each 100 images.
BaselineEstimate evaluate_vae_iwae(const Vae& model, const Dataset& data, const std::vector<int64_t>& indices,
                                   int64_t K, uint64_t seed,
                                   const std::function<void(int64_t, int64_t)>& progress = {});
// -log p(x), exact.
BaselineEstimate evaluate_pixelcnn(const PixelCnn& model, const Dataset& data,
                                   const std::vector<int64_t>& indices, int64_t batch);

}  // namespace vdm
