// Test-set bits per dimension of the baselines.
#include "baselines/evaluate.h"

#include <algorithm>
#include <cmath>

#include "tensor/backend.h"
#include "vdm/bpd.h"

namespace vdm {

BaselineEstimate estimate_from_nats(const std::vector<double>& nats, int64_t dims) {
    BaselineEstimate e;
    e.n = int64_t(nats.size());
    VDM_CHECK(e.n > 0, "baselines: no images to evaluate");
    double sum = 0.0, sum_sq = 0.0;
    for (double x : nats) {
        const double bpd = nats_to_bpd(x, dims);
        VDM_CHECK(std::isfinite(bpd), "baselines: a non-finite bound (", x, " nats)");
        sum += bpd;
        sum_sq += bpd * bpd;
    }
    e.bpd = sum / double(e.n);
    e.bpd_stderr = standard_error(e.bpd, sum_sq, e.n);
    return e;
}

BaselineEstimate evaluate_vae_elbo(const Vae& model, const Dataset& data, const std::vector<int64_t>& indices,
                                   int64_t batch, uint64_t seed) {
    NoGradGuard no_grad;
    Rng rng(seed);
    const DType dtype = model.parameters().front().var.dtype();
    std::vector<double> nats;
    double kl = 0.0, recon = 0.0;
    for_each_batch(data, indices, batch, [&](const uint8_t* pixels, const std::vector<int64_t>& idx) {
        const int64_t count = int64_t(idx.size());
        Tensor eps = Tensor::empty(Shape{count, model.config.latent}, dtype);
        backend_for(Device::CPU).fill_normal(eps, rng.seed, rng.take(uint64_t(eps.numel())));
        const VaeTerms terms = vae_terms(model, pixels, count, eps);
        const std::vector<double> k = terms.kl.value().to_vector(), r = terms.recon.value().to_vector();
        for (int64_t b = 0; b < count; ++b) {
            nats.push_back(k[size_t(b)] + r[size_t(b)]);
            kl += k[size_t(b)];
            recon += r[size_t(b)];
        }
    });
    BaselineEstimate e = estimate_from_nats(nats, data.image_size());
    e.kl = nats_to_bpd(kl / double(e.n), data.image_size());
    e.recon = nats_to_bpd(recon / double(e.n), data.image_size());
    return e;
}

BaselineEstimate evaluate_vae_iwae(const Vae& model, const Dataset& data, const std::vector<int64_t>& indices,
                                   int64_t K, uint64_t seed, const std::function<void(int64_t, int64_t)>& progress) {
    Rng rng(seed);
    std::vector<double> nats;
    for_each_batch(data, indices, 100, [&](const uint8_t* pixels, const std::vector<int64_t>& idx) {
        for (double log_p : iwae_log_likelihood(model, pixels, int64_t(idx.size()), K, rng)) nats.push_back(-log_p);
    }, progress);
    return estimate_from_nats(nats, data.image_size());
}

BaselineEstimate evaluate_pixelcnn(const PixelCnn& model, const Dataset& data,
                                   const std::vector<int64_t>& indices, int64_t batch) {
    NoGradGuard no_grad;
    std::vector<double> nats;
    for_each_batch(data, indices, batch, [&](const uint8_t* pixels, const std::vector<int64_t>& idx) {
        for (double log_p : pixelcnn_log_prob(model, pixels, int64_t(idx.size())).value().to_vector())
            nats.push_back(-log_p);
    });
    return estimate_from_nats(nats, data.image_size());
}

}  // namespace vdm
