// The diffusion integrand at chosen times, and the schedule's values there.
#include "vdm/integrand.h"

#include <algorithm>
#include <cmath>

#include "tensor/backend.h"
#include "vdm/diffusion_loss.h"
#include "vdm/encoder.h"
#include "vdm/parameterization.h"
#include "vdm/process.h"

namespace vdm {

namespace {

constexpr int64_t kMaxImagesPerPass = 100;

void check_times(const std::vector<double>& times) {
    VDM_CHECK(!times.empty(), "diffusion integrand: no times");
    for (double t : times)
        VDM_CHECK(std::isfinite(t) && t >= 0.0 && t <= 1.0, "diffusion integrand: time ", t,
                  " is outside [0, 1]");
}

// One time for a batch: the lines of Vdm::bound's continuous branch with the batch's
// times all equal to t, so at the bound's own time and eps the result is its term.
struct AtTime {
    Var z_t, eps_hat, gamma_t;  // (B, C, H, W), (B, C, H, W), (B)
    Var integrand;              // (B) in the model's dtype
};
AtTime at_time(const Vdm& model, const Var& x, const Var& eps, double t) {
    const int64_t B = x.dim(0);
    const Tensor times = Tensor::full(Shape{B}, t, DType::F64, model.device());
    AtTime out;
    out.gamma_t = model.schedule->gamma(times);
    Var gamma_prime = model.schedule->gamma_prime(times);
    out.z_t = marginal_sample(x, reshape(out.gamma_t, Shape{B, 1, 1, 1}), eps);
    out.eps_hat = model.net.forward(out.z_t, out.gamma_t);
    out.integrand = diffusion_loss_continuous(eps, out.eps_hat, gamma_prime);
    return out;
}

}  // namespace

std::vector<ScheduleValues> schedule_values(const Schedule& schedule, const std::vector<double>& times) {
    check_times(times);
    NoGradGuard no_grad;
    const int64_t n = int64_t(times.size());
    const Tensor t = Tensor::from_vector(Shape{n}, times, DType::F64).to(schedule.device());
    Var gamma(schedule.gamma(t).value().to(DType::F64));  // (n), widened before alpha, sigma, SNR
    const std::vector<double> g = gamma.value().to_vector();
    const std::vector<double> g_prime = schedule.gamma_prime(t).value().to_vector();
    const std::vector<double> a = alpha(gamma).value().to_vector();
    const std::vector<double> s = sigma(gamma).value().to_vector();
    const std::vector<double> r = snr(gamma).value().to_vector();
    std::vector<ScheduleValues> out(times.size());
    for (size_t j = 0; j < times.size(); ++j) {
        out[j].t = times[j];
        out[j].gamma = g[j];
        out[j].gamma_prime = g_prime[j];
        out[j].alpha = a[j];
        out[j].sigma = s[j];
        out[j].snr = r[j];
        out[j].log_snr = -g[j];  // gamma is -log SNR by definition
    }
    return out;
}

ScheduleValues schedule_values(const Schedule& schedule, double t) {
    return schedule_values(schedule, std::vector<double>{t})[0];
}

Tensor integrand_noise(const Vdm& model, int64_t first, int64_t count, uint64_t seed) {
    VDM_CHECK(first >= 0 && count >= 1, "integrand_noise: first = ", first, ", count = ", count);
    const uint64_t D = uint64_t(model.image_size());
    Tensor eps = Tensor::empty(model.image_shape(count), model.dtype, model.device());
    // Position 0 is draw_noise's uniform for the antithetic times; eps follows it.
    backend_for(model.device()).fill_normal(eps, seed, 1 + uint64_t(first) * D);
    return eps;
}

DenoisedAt denoise_at(const Vdm& model, const uint8_t* pixels, int64_t images, double t,
                      const Tensor& eps) {
    VDM_CHECK(images >= 1, "denoise_at: images = ", images, " must be positive");
    VDM_CHECK(eps.shape() == model.image_shape(images), "denoise_at: eps is ", eps.desc(),
              ", expected ", model.image_shape(images).str(), " for ", images, " images");
    NoGradGuard no_grad;
    DenoisedAt out;
    out.schedule = schedule_values(*model.schedule, t);
    Var x(encode(pixels, model.image_shape(images), model.dtype).to(model.device()));
    AtTime r = at_time(model, x, Var(eps.to(model.device())), t);
    out.z_t = r.z_t.value();
    out.x_hat = predicted_x(r.z_t, reshape(r.gamma_t, Shape{images, 1, 1, 1}), r.eps_hat).value();
    out.integrand = r.integrand.value().to(Device::CPU).to(DType::F64);
    return out;
}

Tensor diffusion_integrand(const Vdm& model, const uint8_t* pixels, int64_t images,
                           const std::vector<double>& times, uint64_t seed) {
    VDM_CHECK(images >= 1, "diffusion integrand: images = ", images, " must be positive");
    check_times(times);
    NoGradGuard no_grad;
    const int64_t n = int64_t(times.size()), D = model.image_size();
    Tensor out = Tensor::empty(Shape{images, n}, DType::F64);  // (images, times)
    for (int64_t first = 0; first < images; first += kMaxImagesPerPass) {
        const int64_t count = std::min(kMaxImagesPerPass, images - first);
        Var x(encode(pixels + first * D, model.image_shape(count), model.dtype).to(model.device()));
        Var eps(integrand_noise(model, first, count, seed));
        std::vector<Var> columns;  // n of (count, 1), kept on the device until the end
        for (double t : times)
            columns.push_back(reshape(at_time(model, x, eps, t).integrand, Shape{count, 1}));
        const std::vector<double> values = concat(columns, 1).value().to_vector();  // (count, n)
        std::copy(values.begin(), values.end(), out.data<double>() + first * n);
    }
    return out;
}

std::vector<double> midpoint_times(int64_t n) {
    VDM_CHECK(n >= 1, "midpoint_times: n = ", n, " must be positive");
    std::vector<double> t(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) t[size_t(j)] = (double(j) + 0.5) / double(n);
    return t;
}

}  // namespace vdm
