// The probability-flow ODE: drift, divergence, sampler, likelihood, dequantized bound.
#include "vdm/probability_flow.h"

#include <algorithm>
#include <cmath>

#include "tensor/backend.h"
#include "vdm/bpd.h"
#include "vdm/decoder.h"
#include "vdm/process.h"

namespace vdm {

namespace {

constexpr double kLogTwoPi = 1.8378770664093453;  // log(2 pi)

// Sets requires_grad off on every parameter of a module while it lives, so that the
// vector-Jacobian products reach z alone: no weight gradient is computed or stored.
class FrozenParameters {
public:
    explicit FrozenParameters(const Module& module) : parameters_(module.parameters()) {
        for (const Parameter& p : parameters_) {
            was_trainable_.push_back(p.var.requires_grad());
            p.var.data()->requires_grad = false;
        }
    }
    ~FrozenParameters() {
        for (size_t i = 0; i < parameters_.size(); ++i)
            parameters_[i].var.data()->requires_grad = was_trainable_[i];
    }
    FrozenParameters(const FrozenParameters&) = delete;
    FrozenParameters& operator=(const FrozenParameters&) = delete;

private:
    std::vector<Parameter> parameters_;
    std::vector<bool> was_trainable_;
};

void check_image_batch(const char* what, const Var& z) {
    VDM_CHECK(z.ndim() == 4 && z.dim(0) >= 1, what, ": expected z (B, C, H, W), got ",
              z.shape().str());
}

// gamma(t) and gamma'(t) for B images, as constants (B) on `device`.
struct GammaAt {
    Var gamma, gamma_prime;
};
GammaAt gamma_at(const Schedule& schedule, double t, int64_t B, Device device) {
    NoGradGuard no_grad;
    const Tensor times = Tensor::full(Shape{B}, t, DType::F64, device);
    return {schedule.gamma(times), schedule.gamma_prime(times)};
}

// log(alpha_0) = 0.5 log sigmoid(-gamma_0) = -0.5 softplus(gamma_0), stable for any gamma_0.
double log_alpha(double gamma) {
    return -0.5 * (std::max(gamma, 0.0) + std::log1p(std::exp(-std::abs(gamma))));
}

}  // namespace

EpsFunction network_eps(const Vdm& model) {
    return [&model](const Var& z, const Var& gamma) { return model.net.forward(z, gamma); };
}

// f z - 0.5 g^2 score with f = -0.5 sigma^2 gamma', g^2 = sigma^2 gamma' and
// score = -eps_hat / sigma (docs/vdm.md#the-drift-in-gamma).
Var probability_flow_drift(const Var& z, const Var& gamma, const Var& gamma_prime,
                           const Var& eps_hat) {
    return gamma_prime * 0.5 * (sigma(gamma) * eps_hat - sigma_sq(gamma) * z);
}

// The divergence of the drift term by term: div_z (sigma eps_hat) = sigma div_z eps_hat,
// div_z (sigma^2 z) = sigma^2 D (docs/vdm.md#likelihood-by-the-ode).
Var probability_flow_divergence(const Var& gamma, const Var& gamma_prime,
                                const Var& eps_divergence, int64_t dims) {
    return gamma_prime * 0.5 * (sigma(gamma) * eps_divergence - sigma_sq(gamma) * double(dims));
}

DivergenceProbes rademacher_probes(const Shape& shape, int64_t count, Rng& rng, DType dtype,
                                   Device device) {
    VDM_CHECK(count >= 1, "rademacher_probes: count = ", count, " must be positive");
    DivergenceProbes probes;
    probes.weight = 1.0 / double(count);
    for (int64_t k = 0; k < count; ++k) {
        Tensor v = Tensor::empty(shape, DType::F64);
        const uint64_t start = rng.take(uint64_t(v.numel()));
        double* p = v.data<double>();
        for (int64_t i = 0; i < v.numel(); ++i)
            p[i] = uniform_at(rng.seed, start + uint64_t(i)) < 0.5 ? -1.0 : 1.0;
        probes.vectors.push_back(v.to(dtype).to(device));
    }
    return probes;
}

DivergenceProbes basis_probes(const Shape& shape, DType dtype, Device device) {
    VDM_CHECK(shape.ndim() >= 2, "basis_probes: expected a batch shape, got ", shape.str());
    const int64_t B = shape[0], D = shape.numel() / B;
    DivergenceProbes probes;
    for (int64_t j = 0; j < D; ++j) {
        Tensor e = Tensor::zeros(shape, DType::F64);
        for (int64_t b = 0; b < B; ++b) e.data<double>()[b * D + j] = 1.0;
        probes.vectors.push_back(e.to(dtype).to(device));
    }
    return probes;
}

EpsAndDivergence eps_and_divergence(const EpsFunction& eps, const Var& z, const Var& gamma,
                                    const DivergenceProbes& probes) {
    check_image_batch("eps_and_divergence", z);
    VDM_CHECK(!probes.vectors.empty(), "eps_and_divergence: no probes");
    VDM_CHECK(grad_enabled(), "eps_and_divergence: needs grad mode (it takes vector-Jacobian products)");
    const int64_t B = z.dim(0), D = z.numel() / B;
    EpsAndDivergence out;
    Var sum_of_forms;
    for (const Tensor& probe : probes.vectors) {
        check_same_shape("eps_and_divergence: probe against z", z.value(), probe);
        Var z_leaf(z.value(), /*requires_grad=*/true);
        Var eps_hat = eps(z_leaf, gamma);
        const Var v(probe);
        Var form;  // (B): v^T J v per image
        if (eps_hat.requires_grad()) {
            sum(eps_hat * v).backward();  // z_leaf's gradient is v^T J
            form = sum(reshape(Var(z_leaf.grad()) * v, Shape{B, D}), {1});
        } else {  // eps_hat does not depend on z: J = 0
            form = Var(Tensor::zeros(Shape{B}, z.dtype(), z.device()));
        }
        sum_of_forms = sum_of_forms.defined() ? sum_of_forms + form : form;
        if (!out.eps_hat.defined()) out.eps_hat = Var(eps_hat.value());
    }
    out.divergence = sum_of_forms * probes.weight;
    return out;
}

FlowResult integrate_probability_flow(const Schedule& schedule, const EpsFunction& eps,
                                      const Var& z, double t0, double t1,
                                      const OdeOptions& options) {
    check_image_batch("integrate_probability_flow", z);
    NoGradGuard no_grad;
    const int64_t B = z.dim(0);
    const Shape per_image{B, 1, 1, 1};
    const OdeFunction drift = [&](double t, const OdeState& y) {
        const GammaAt g = gamma_at(schedule, t, B, z.device());
        return OdeState{probability_flow_drift(y[0], reshape(g.gamma, per_image),
                                               reshape(g.gamma_prime, per_image),
                                               eps(y[0], g.gamma))};
    };
    OdeSolution solution = solve_ode(drift, t0, t1, {z}, options);
    return {solution.y[0], solution.evaluations};
}

Samples ode_sample(const Vdm& model, int64_t n, uint64_t seed, const OdeOptions& options) {
    VDM_CHECK(n >= 1, "ode_sample: n = ", n, " must be positive");
    NoGradGuard no_grad;
    Rng rng(seed);
    Tensor z1 = Tensor::empty(model.image_shape(n), model.dtype, model.device());
    backend_for(model.device()).fill_normal(z1, rng.seed, rng.take(uint64_t(z1.numel())));
    const FlowResult flow =
        integrate_probability_flow(*model.schedule, network_eps(model), Var(z1), 1.0, 0.0, options);
    return {decoder_mode(flow.z, model.schedule->gamma_0()), flow.evaluations};
}

// The state is (z, delta) with d delta / dt = div F and delta(0) = 0, so that
// log p_0(z(0)) = log N(z(1); 0, I) + delta(1) (docs/vdm.md#likelihood-by-the-ode).
OdeLogLikelihood ode_log_likelihood(const Schedule& schedule, const EpsFunction& eps,
                                    const Var& z0, const DivergenceProbes& probes,
                                    const OdeOptions& options) {
    check_image_batch("ode_log_likelihood", z0);
    const int64_t B = z0.dim(0), D = z0.numel() / B;
    const Shape per_image{B, 1, 1, 1};
    const OdeFunction dynamics = [&](double t, const OdeState& y) {
        const GammaAt g = gamma_at(schedule, t, B, z0.device());
        const EpsAndDivergence e = eps_and_divergence(eps, y[0], g.gamma, probes);
        return OdeState{probability_flow_drift(y[0], reshape(g.gamma, per_image),
                                               reshape(g.gamma_prime, per_image), e.eps_hat),
                        probability_flow_divergence(g.gamma, g.gamma_prime, e.divergence, D)};
    };
    const Var delta_0(Tensor::zeros(Shape{B}, z0.dtype(), z0.device()));
    const OdeSolution solution = solve_ode(dynamics, 0.0, 1.0, {z0, delta_0}, options);
    const std::vector<double> z1 = solution.y[0].value().to_vector();
    const std::vector<double> delta = solution.y[1].value().to_vector();
    OdeLogLikelihood out;
    out.evaluations = solution.evaluations;
    for (int64_t b = 0; b < B; ++b) {
        double sum_sq = 0.0;
        for (int64_t i = b * D; i < (b + 1) * D; ++i) sum_sq += z1[size_t(i)] * z1[size_t(i)];
        out.log_density.push_back(-0.5 * sum_sq - 0.5 * double(D) * kLogTwoPi + delta[size_t(b)]);
    }
    return out;
}

// docs/vdm.md#the-dequantized-bound
OdeBpd ode_bpd(const Vdm& model, const uint8_t* pixels, int64_t n, Rng& rng,
               const OdeBpdOptions& options) {
    VDM_CHECK(n >= 1, "ode_bpd: n = ", n, " must be positive");
    VDM_CHECK(options.exact_divergence || options.probes >= 1, "ode_bpd: probes = ",
              options.probes, " must be positive");
    const FrozenParameters frozen(model);
    const Device device = model.device();
    const Shape shape = model.image_shape(n);
    const int64_t D = model.image_size();
    Var z0, gamma_0;
    {
        NoGradGuard no_grad;
        const Var x(Tensor::from_vector(shape, std::vector<double>(pixels, pixels + n * D),
                                        model.dtype, device));
        Tensor u = Tensor::empty(shape, model.dtype, device);
        backend_for(device).fill_uniform(u, rng.seed, rng.take(uint64_t(u.numel())));
        const Var y = affine(x + Var(u), 2.0 / kPixelValues, -1.0);  // 2 (x + u) / 256 - 1
        gamma_0 = model.schedule->gamma_0();
        z0 = alpha(gamma_0) * y;
    }
    const DivergenceProbes probes =
        options.exact_divergence ? basis_probes(shape, model.dtype, device)
                                 : rademacher_probes(shape, options.probes, rng, model.dtype, device);
    const OdeLogLikelihood ll =
        ode_log_likelihood(*model.schedule, network_eps(model), z0, probes, options.ode);
    // log of the density of y (change of variables z = alpha_0 y) and of a bin's width
    const double log_jacobian = double(D) * (log_alpha(gamma_0.item()) + std::log(2.0 / kPixelValues));
    OdeBpd out;
    out.evaluations = ll.evaluations;
    for (double log_density : ll.log_density)
        out.bpd.push_back(nats_to_bpd(-(log_density + log_jacobian), D));
    return out;
}

}  // namespace vdm
