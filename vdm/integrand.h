// The continuous-time diffusion term as a function of time, per image: the
// integrand
//   l(t; x, eps) = 0.5 gamma'(t) |eps - eps_hat(z_t; gamma_t)|^2,   z_t = alpha_t x + sigma_t eps,
// whose integral over t in [0, 1] is the diffusion term L_inf of one image for one
// eps (docs/vdm.md#continuous-time-loss). Vdm::bound evaluates it at one random time
// per image; here it is evaluated at times chosen by the caller (a grid, a tour of
// one image), with no gradient, on the model's device. Also the schedule's values
// at a time (gamma, gamma', alpha, sigma, SNR).
//
// Noise. Image b's eps takes stream positions [1 + b D, 1 + (b + 1) D) of Rng(seed),
// D = C H W: exactly the eps that Vdm::draw_noise(images, Rng(seed)) makes for
// image b (position 0 is its antithetic time's uniform, the positions after the
// last eps its decoder noise). So with the seed a bound was evaluated with, the
// integrand at that bound's time t_b equals its continuous diffusion term, and
// image b's eps does not depend on how many images follow it. The same eps is used
// at every time, so the integrand is a smooth curve in t for each image.
#pragma once
#include <cstdint>
#include <vector>

#include "vdm/model.h"

namespace vdm {

// The schedule at one time t. gamma and gamma' are the schedule's own values (in
// the model's dtype, widened to double); the rest come from vdm/process.h in double
// (docs/vdm.md#signal-to-noise-ratio).
struct ScheduleValues {
    double t = 0.0;
    double gamma = 0.0;        // gamma(t) = -log SNR(t)
    double gamma_prime = 0.0;  // d gamma / dt
    double alpha = 0.0;        // sqrt(sigmoid(-gamma))
    double sigma = 0.0;        // sqrt(sigmoid(gamma))
    double snr = 0.0;          // alpha^2 / sigma^2 = exp(-gamma)
    double log_snr = 0.0;      // -gamma
};

// One entry per time, each in [0, 1]; evaluated as one batch on the schedule's device.
std::vector<ScheduleValues> schedule_values(const Schedule& schedule, const std::vector<double>& times);
ScheduleValues schedule_values(const Schedule& schedule, double t);

// eps of images first .. first + count - 1 as above: (count, C, H, W) in the model's
// dtype on its device.
Tensor integrand_noise(const Vdm& model, int64_t first, int64_t count, uint64_t seed);

// Everything at one time t for a batch of images with given eps.
struct DenoisedAt {
    ScheduleValues schedule;
    Tensor z_t;        // (B, C, H, W) on the model's device
    Tensor x_hat;      // (B, C, H, W) predicted_x, on the model's device
    Tensor integrand;  // (B) F64 on the CPU: 0.5 gamma'(t) |eps - eps_hat|^2 in nats
};
// pixels: (images, C, H, W) uint8 on the host; eps: (images, C, H, W) on any device.
DenoisedAt denoise_at(const Vdm& model, const uint8_t* pixels, int64_t images, double t,
                      const Tensor& eps);

// The integrand for `images` images (pixels (images, C, H, W), uint8, host) at each
// of `times` (each in [0, 1]): an F64 CPU tensor (images, times) in nats per unit t.
// eps from Rng(seed) as described at the top. Batched over images for each time
// (at most 100 images per forward pass), no gradient, on the model's device.
// The mean over a midpoint grid t_j = (j + 0.5) / n estimates each image's
// diffusion term for its eps; averaged over eps, the diffusion term itself.
Tensor diffusion_integrand(const Vdm& model, const uint8_t* pixels, int64_t images,
                           const std::vector<double>& times, uint64_t seed);

// n midpoint times (j + 0.5) / n, j = 0 .. n-1.
std::vector<double> midpoint_times(int64_t n);

}  // namespace vdm
