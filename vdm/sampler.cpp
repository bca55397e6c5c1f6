// The shared sampling loop and the ancestral sampler.
#include "vdm/sampler.h"

#include "tensor/backend.h"
#include "vdm/decoder.h"
#include "vdm/process.h"

namespace vdm {

SamplerContext::SamplerContext(const Vdm& model_, int64_t n_, uint64_t seed)
    : model(model_), n(n_), rng_(seed) {}

Var SamplerContext::gamma(double t) const {
    return model.schedule->gamma(Tensor::full(Shape{n}, t, DType::F64, model.device()));
}

Var SamplerContext::per_image(const Var& v) const { return reshape(v, Shape{n, 1, 1, 1}); }

Var SamplerContext::eps_hat(const Var& z, const Var& gamma) {
    ++network_evals;
    return model.net.forward(z, gamma);
}

Var SamplerContext::normal() {  // the same stream positions on every device
    Tensor t = Tensor::empty(model.image_shape(n), model.dtype, model.device());
    backend_for(model.device()).fill_normal(t, rng_.seed, rng_.take(uint64_t(t.numel())));
    return Var(t);
}

Samples sample_loop(const Vdm& model, const StepRule& step, int64_t n, int64_t steps, uint64_t seed,
                    const SampleProgress& progress, const SampleObserver& observe) {
    VDM_CHECK(n >= 1 && steps >= 1, "sampler: n = ", n, " and steps = ", steps, " must be positive");
    NoGradGuard no_grad;
    SamplerContext ctx(model, n, seed);
    Var z = ctx.normal();  // z_1 ~ N(0, I)
    if (observe) observe(ctx, z, 1.0);
    for (int64_t i = steps; i >= 1; --i) {
        const double s = double(i - 1) / double(steps);
        z = step(ctx, z, double(i) / double(steps), s);
        if (observe) observe(ctx, z, s);
        if (progress) progress(steps - i + 1, steps);
    }
    require_finite(z.value(), "sampler: z_0");
    return {decoder_mode(z, model.schedule->gamma_0()), ctx.network_evals};
}

Var ancestral_step(const Var& z_t, const Var& eps_hat, const Var& gamma_s, const Var& gamma_t,
                   const Var& xi) {
    Var c = -expm1(gamma_s - gamma_t);  // sigma_{t|s}^2 / sigma_t^2, stable form
    Var mean = (alpha(gamma_s) / alpha(gamma_t)) * (z_t - c * sigma(gamma_t) * eps_hat);
    return mean + sqrt(c * sigma_sq(gamma_s)) * xi;
}

StepRule ancestral_rule() {
    return [](SamplerContext& ctx, const Var& z, double t, double s) {
        Var gamma_t = ctx.gamma(t), gamma_s = ctx.gamma(s);  // (n)
        Var eps_hat = ctx.eps_hat(z, gamma_t);
        return ancestral_step(z, eps_hat, ctx.per_image(gamma_s), ctx.per_image(gamma_t), ctx.normal());
    };
}

std::vector<uint8_t> ancestral_sample(const Vdm& model, int64_t n, int64_t steps, uint64_t seed,
                                      const std::function<void(int64_t)>& progress) {
    SampleProgress counted;
    if (progress) counted = [&](int64_t done, int64_t total) { progress(total - done + 1); };
    return sample_loop(model, ancestral_rule(), n, steps, seed, counted).images;
}

}  // namespace vdm
