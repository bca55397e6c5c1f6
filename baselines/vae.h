// A variational autoencoder (Kingma & Welling 2014): the first baseline of the results
// table. Gaussian latent z (L), prior N(0, I), encoder q(z|x) = N(mean(x), diag exp(log_var(x))),
// decoder p(x|z): a 256-way categorical per pixel (baselines/pixel_categorical.h).
//
//   encoder  x (B, C, H, W) in (-1, 1)
//            conv 3x3 C -> c, SiLU, 2x2 average pool              (B, c, H/2, W/2)
//            conv 3x3 c -> 2c, SiLU, 2x2 average pool             (B, 2c, H/4, W/4)
//            linear -> mean (B, L) and linear -> log_var (B, L)
//   decoder  linear L -> 2c H/4 W/4, SiLU, nearest 2x upsampling   (B, 2c, H/2, W/2)
//            conv 3x3 2c -> c, SiLU, nearest 2x upsampling          (B, c, H, W)
//            conv 3x3 c -> c, SiLU, conv 1x1 c -> 256 C             logits (B, 256 C, H, W)
//
// The bounds, in nats per image (each a lower bound on log p(x)):
//   ELBO   = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)), the KL in closed form,
//            0.5 sum_l (mean_l^2 + expm1(log_var_l) - log_var_l),
//            the expectation by one reparameterized draw z = mean + exp(log_var / 2) eps;
//   IWAE_K = log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x) (Burda et al. 2016):
//            IWAE_1 is the ELBO's estimate, and E[IWAE_K] grows with K toward log p(x).
// (docs/vdm.md#baselines-vae-iwae-and-pixelcnn)
#pragma once
#include <cstdint>
#include <vector>

#include "nn/layers.h"

namespace vdm {

struct VaeConfig {
    int64_t image_channels = 1, height = 28, width = 28;  // taken from the data
    int64_t channels = 32;  // c: the first convolution's width
    int64_t latent = 32;    // L
};

class Vae : public Module {
public:
    // height and width must be multiples of 4 (two 2x2 poolings).
    Vae(const VaeConfig& config, DType dtype, Rng& rng);

    struct Posterior {
        Var mean, log_var;  // (B, L) each
    };
    Posterior encode(const Var& x) const;  // x (B, C, H, W) in (-1, 1)
    Var decode(const Var& z) const;        // z (B, L) -> logits (B, 256 C, H, W)

    const VaeConfig config;

private:
    Conv2d enc1, enc2;
    Linear enc_mean, enc_log_var, dec_in;
    Conv2d dec1, dec2, dec_out;
};

// KL(N(mean, diag exp(log_var)) || N(0, I)) per row: (B, L) -> (B), nats.
Var kl_to_standard_normal(const Var& mean, const Var& log_var);

// The negative ELBO's two terms per image (nats): KL and -log p(x|z) at one draw.
struct VaeTerms {
    Var kl, recon;  // (B) each
    Var total() const { return kl + recon; }  // -ELBO
};
// pixels (B, C, H, W) uint8 on the host; eps (B, L), the draw's standard normals.
VaeTerms vae_terms(const Vae& model, const uint8_t* pixels, int64_t batch, const Tensor& eps);

// IWAE_K per image (nats, double), for n images, K draws each from `rng`, decoded
// `chunk` draws at a time. No gradients.
std::vector<double> iwae_log_likelihood(const Vae& model, const uint8_t* pixels, int64_t n, int64_t K,
                                        Rng& rng, int64_t chunk = 250);

// Nearest-neighbour 2x upsampling, composed of ops: (B, C, H, W) -> (B, C, 2H, 2W).
Var upsample_nearest_2x(const Var& x);

}  // namespace vdm
