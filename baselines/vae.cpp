// The VAE baseline: network, closed-form KL, the ELBO's terms and the IWAE bound.
#include "baselines/vae.h"

#include <algorithm>
#include <cmath>

#include "baselines/pixel_categorical.h"
#include "nn/classifier.h"
#include "tensor/backend.h"
#include "vdm/encoder.h"

namespace vdm {

Vae::Vae(const VaeConfig& c, DType dtype, Rng& rng)
    : config(c),
      enc1(c.image_channels, c.channels, 3, dtype, rng),
      enc2(c.channels, 2 * c.channels, 3, dtype, rng),
      enc_mean(2 * c.channels * (c.height / 4) * (c.width / 4), c.latent, dtype, rng),
      enc_log_var(2 * c.channels * (c.height / 4) * (c.width / 4), c.latent, dtype, rng),
      dec_in(c.latent, 2 * c.channels * (c.height / 4) * (c.width / 4), dtype, rng),
      dec1(2 * c.channels, c.channels, 3, dtype, rng),
      dec2(c.channels, c.channels, 3, dtype, rng),
      dec_out(c.channels, kPixelValues * c.image_channels, 1, dtype, rng) {
    VDM_CHECK(c.height % 4 == 0 && c.width % 4 == 0 && c.height > 0 && c.width > 0,
              "Vae: images of ", c.height, "x", c.width,
              " do not pool twice by 2 (height and width must be multiples of 4)");
    add_child("enc1", enc1);
    add_child("enc2", enc2);
    add_child("enc_mean", enc_mean);
    add_child("enc_log_var", enc_log_var);
    add_child("dec_in", dec_in);
    add_child("dec1", dec1);
    add_child("dec2", dec2);
    add_child("dec_out", dec_out);
}

Vae::Posterior Vae::encode(const Var& x) const {
    const VaeConfig& c = config;
    VDM_CHECK(x.ndim() == 4 && x.dim(1) == c.image_channels && x.dim(2) == c.height && x.dim(3) == c.width,
              "Vae: expected (B, ", c.image_channels, ", ", c.height, ", ", c.width, "), got ", x.shape().str());
    Var h = average_pool_2x2(silu(enc1.forward(x)));  // (B, c, H/2, W/2)
    h = average_pool_2x2(silu(enc2.forward(h)));       // (B, 2c, H/4, W/4)
    h = reshape(h, Shape{x.dim(0), h.numel() / x.dim(0)});
    return {enc_mean.forward(h), enc_log_var.forward(h)};
}

Var Vae::decode(const Var& z) const {
    const VaeConfig& c = config;
    Var h = reshape(silu(dec_in.forward(z)), Shape{z.dim(0), 2 * c.channels, c.height / 4, c.width / 4});
    h = silu(dec1.forward(upsample_nearest_2x(h)));  // (B, c, H/2, W/2)
    h = silu(dec2.forward(upsample_nearest_2x(h)));  // (B, c, H, W)
    return dec_out.forward(h);                        // (B, 256 C, H, W)
}

Var kl_to_standard_normal(const Var& mean, const Var& log_var) {
    // exp(lv) - 1 - lv as expm1(lv) - lv: no cancellation when the posterior is near the prior
    return 0.5 * sum(square(mean) + expm1(log_var) - log_var, {1});
}

VaeTerms vae_terms(const Vae& model, const uint8_t* pixels, int64_t batch, const Tensor& eps) {
    const VaeConfig& c = model.config;
    const Shape shape{batch, c.image_channels, c.height, c.width};
    Var x(encode(pixels, shape, eps.dtype()).to(model.device()));
    const Vae::Posterior q = model.encode(x);
    Var z = q.mean + exp(0.5 * q.log_var) * Var(eps.to(model.device()));  // reparameterized draw
    VaeTerms terms;
    terms.kl = kl_to_standard_normal(q.mean, q.log_var);
    terms.recon = -pixel_log_prob(model.decode(z), pixels);
    return terms;
}

std::vector<double> iwae_log_likelihood(const Vae& model, const uint8_t* pixels, int64_t n, int64_t K,
                                        Rng& rng, int64_t chunk) {
    VDM_CHECK(n >= 1 && K >= 1 && chunk >= 1, "iwae_log_likelihood: n = ", n, ", K = ", K, ", chunk = ", chunk);
    NoGradGuard no_grad;
    const VaeConfig& c = model.config;
    const int64_t D = c.image_channels * c.height * c.width, L = c.latent;
    const DType dtype = model.parameters().front().var.dtype();
    std::vector<double> out(static_cast<size_t>(n));
    std::vector<uint8_t> copies;
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t* image = pixels + i * D;
        Var x(encode(image, Shape{1, c.image_channels, c.height, c.width}, dtype).to(model.device()));
        const Vae::Posterior q = model.encode(x);
        const std::vector<double> mean = q.mean.value().to_vector(), log_var = q.log_var.value().to_vector();
        std::vector<double> log_w;  // log p(x, z_k) - log q(z_k | x), the 2 pi terms cancelling
        for (int64_t first = 0; first < K; first += chunk) {
            const int64_t m = std::min(chunk, K - first);
            Tensor eps = Tensor::empty(Shape{m, L}, DType::F64);
            backend_for(Device::CPU).fill_normal(eps, rng.seed, rng.take(uint64_t(m * L)));
            Tensor z = Tensor::empty(Shape{m, L}, DType::F64);
            std::vector<double> log_ratio(size_t(m), 0.0);
            for (int64_t k = 0; k < m; ++k)
                for (int64_t l = 0; l < L; ++l) {
                    const double e = eps.data<double>()[k * L + l];
                    const double zl = mean[size_t(l)] + std::exp(0.5 * log_var[size_t(l)]) * e;
                    z.data<double>()[k * L + l] = zl;
                    // log N(z; 0, 1) - log N(z; mean, var) = -z^2/2 + e^2/2 + log_var/2
                    log_ratio[size_t(k)] += -0.5 * zl * zl + 0.5 * e * e + 0.5 * log_var[size_t(l)];
                }
            copies.resize(size_t(m * D));
            for (int64_t k = 0; k < m; ++k) std::copy(image, image + D, copies.begin() + k * D);
            const std::vector<double> log_px =
                pixel_log_prob(model.decode(Var(z.to(dtype).to(model.device()))), copies.data()).value().to_vector();
            for (int64_t k = 0; k < m; ++k) log_w.push_back(log_px[size_t(k)] + log_ratio[size_t(k)]);
        }
        const double top = *std::max_element(log_w.begin(), log_w.end());
        double total = 0.0;  // log-sum-exp
        for (double w : log_w) total += std::exp(w - top);
        out[size_t(i)] = top + std::log(total) - std::log(double(K));
    }
    return out;
}

Var upsample_nearest_2x(const Var& x) {
    VDM_CHECK(x.ndim() == 4, "upsample_nearest_2x: expected (B, C, H, W), got ", x.shape().str());
    const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    // (B C H, 1, W, 1) times ones (1, 2, 1, 2): element (r, dh, w, dw) is row 2h + dh,
    // column 2w + dw of the output
    Var ones(Tensor::full(Shape{1, 2, 1, 2}, 1.0, x.dtype(), x.device()));
    return reshape(reshape(x, Shape{B * C * H, 1, W, 1}) * ones, Shape{B, C, 2 * H, 2 * W});
}

}  // namespace vdm
