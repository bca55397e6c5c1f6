// Ancestral sampler.
#include "vdm/sampler.h"

#include "tensor/backend.h"
#include "vdm/decoder.h"
#include "vdm/process.h"

namespace vdm {

Var ancestral_step(const Var& z_t, const Var& eps_hat, const Var& gamma_s, const Var& gamma_t,
                   const Var& xi) {
    Var c = -expm1(gamma_s - gamma_t);  // sigma_{t|s}^2 / sigma_t^2, stable form
    Var mean = (alpha(gamma_s) / alpha(gamma_t)) * (z_t - c * sigma(gamma_t) * eps_hat);
    return mean + sqrt(c * sigma_sq(gamma_s)) * xi;
}

std::vector<uint8_t> ancestral_sample(const Vdm& model, int64_t n, int64_t steps, uint64_t seed,
                                      const std::function<void(int64_t)>& progress) {
    VDM_CHECK(n >= 1 && steps >= 1, "ancestral_sample: n = ", n, " and steps = ", steps,
              " must be positive");
    NoGradGuard no_grad;
    const Device device = model.device();
    Backend& be = backend_for(device);
    Rng rng(seed);
    const Shape shape = model.image_shape(n);
    auto normal = [&] {  // the same stream positions on every device
        Tensor t = Tensor::empty(shape, model.dtype, device);
        be.fill_normal(t, rng.seed, rng.take(uint64_t(t.numel())));
        return Var(t);
    };
    auto gamma_at = [&](double time, int64_t count) {
        return model.schedule->gamma(Tensor::full(Shape{count}, time, DType::F64, device));
    };
    Var z = normal();  // z_1 ~ N(0, I)
    for (int64_t i = steps; i >= 1; --i) {
        Var gamma_t = gamma_at(double(i) / double(steps), n);      // (n)
        Var gamma_s = gamma_at(double(i - 1) / double(steps), n);  // (n)
        Var eps_hat = model.net.forward(z, gamma_t);
        const Shape per_image{n, 1, 1, 1};
        z = ancestral_step(z, eps_hat, reshape(gamma_s, per_image), reshape(gamma_t, per_image),
                           normal());
        if (progress) progress(i);
    }
    require_finite(z.value(), "ancestral_sample: z_0");
    return decoder_mode(z, model.schedule->gamma_0());
}

}  // namespace vdm
