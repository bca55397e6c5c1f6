// The probability-flow ODE of the forward process, written in gamma
// (docs/vdm.md#probability-flow-ode): a deterministic path with the same marginals
// q(z_t) as the diffusion,
//   dz/dt = F(z, t) = f(t) z - 0.5 g(t)^2 score(z, t) = 0.5 gamma'(t) (sigma_t eps_hat(z; t) - sigma_t^2 z),
// with the SDE coefficients f(t) = d log alpha_t / dt = -0.5 sigma_t^2 gamma'(t) and
// g(t)^2 = sigma_t^2 gamma'(t), and the score read from eps_hat (vdm/parameterization.h).
//
//   sampler     z(1) ~ N(0, I), integrated from t = 1 to 0, then the decoder's most
//               likely pixels (docs/vdm.md#sampling-by-the-ode)
//   likelihood  log p_0(z(0)) = log N(z(1); 0, I) + integral_0^1 div F dt, z and the
//               log-density integrated together from t = 0 to 1, with
//               div F = 0.5 gamma'(t) (sigma_t div_z eps_hat - sigma_t^2 D); div_z eps_hat
//               exactly (D vector-Jacobian products) or by Hutchinson's estimator
//               (docs/vdm.md#likelihood-by-the-ode)
//   bound       bits per dimension of 8-bit images by uniform dequantization: a bound of
//               another kind than the variational bound (docs/vdm.md#the-dequantized-bound)
// The integrator is vdm/ode_solver.h. eps_hat is a parameter (an EpsFunction), so tests
// can plug in the exact eps of a toy distribution; network_eps is the trained model's.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "vdm/model.h"
#include "vdm/ode_solver.h"
#include "vdm/sampler.h"

namespace vdm {

// eps_hat(z; gamma): z (B, C, H, W), gamma (B) -> (B, C, H, W).
using EpsFunction = std::function<Var(const Var& z, const Var& gamma)>;

// The model's network, model.net.forward.
EpsFunction network_eps(const Vdm& model);

// F(z, t) from eps_hat at z: z, eps_hat (B, C, H, W); gamma, gamma_prime broadcast to
// them, e.g. (B, 1, 1, 1).
Var probability_flow_drift(const Var& z, const Var& gamma, const Var& gamma_prime,
                           const Var& eps_hat);

// div_z F per image, (B), from div_z eps_hat (B); gamma, gamma_prime (B); D = C H W.
Var probability_flow_divergence(const Var& gamma, const Var& gamma_prime,
                                const Var& eps_divergence, int64_t dims);

// The vectors v whose quadratic forms v^T J v, J = d eps_hat / d z, make div_z eps_hat =
// trace J = weight sum_v v^T J v (per image).
struct DivergenceProbes {
    std::vector<Tensor> vectors;  // each (B, C, H, W)
    double weight = 1.0;
};
// `count` Rademacher vectors (entries +-1, each with probability 1/2), weight 1/count:
// E[v v^T] = I, so the estimate is unbiased. Drawn on the host from rng (the same
// numbers on every device), then copied to `device`.
DivergenceProbes rademacher_probes(const Shape& shape, int64_t count, Rng& rng, DType dtype,
                                   Device device);
// The D unit vectors e_j (the same j in every image), weight 1: the exact trace.
DivergenceProbes basis_probes(const Shape& shape, DType dtype, Device device);

// eps_hat(z; gamma) and div_z eps_hat per image, each v^T J v one vector-Jacobian
// product through our autodiff: the gradient of sum(eps_hat * v) with respect to z is
// v^T J, and sum(v^T J * v) over an image's values is v^T J v. Images must not
// interact in eps (true of the ScoreNet). Needs grad mode on; gamma should carry no
// gradient. One forward and one backward pass per probe.
struct EpsAndDivergence {
    Var eps_hat;     // (B, C, H, W)
    Var divergence;  // (B)
};
EpsAndDivergence eps_and_divergence(const EpsFunction& eps, const Var& z, const Var& gamma,
                                    const DivergenceProbes& probes);

// z(t1) from z(t0) along the ODE, either direction. evaluations counts eps calls.
struct FlowResult {
    Var z;
    int64_t evaluations = 0;
};
FlowResult integrate_probability_flow(const Schedule& schedule, const EpsFunction& eps,
                                      const Var& z, double t0, double t1,
                                      const OdeOptions& options);

// n images as uint8 (n, C, H, W) on the host, and the number of forward passes of the
// batch; reproducible from seed: z(1) takes positions [0, n D) of Rng(seed), the same
// z_1 as the fixed-grid samplers' (vdm/sampler.h). On the model's device. Errors: n < 1,
// a tolerance <= 0, more evaluations than options.max_evaluations.
Samples ode_sample(const Vdm& model, int64_t n, uint64_t seed, const OdeOptions& options);

// log p_0(z0) per image under the ODE from the prior N(0, I): (B) F64 on the host.
// The probes stay fixed along the trajectory. evaluations counts drift evaluations
// (each one forward and one backward pass per probe).
struct OdeLogLikelihood {
    std::vector<double> log_density;
    int64_t evaluations = 0;
};
OdeLogLikelihood ode_log_likelihood(const Schedule& schedule, const EpsFunction& eps,
                                    const Var& z0, const DivergenceProbes& probes,
                                    const OdeOptions& options);

struct OdeBpdOptions {
    OdeOptions ode;
    int64_t probes = 1;             // Rademacher probes per image (Hutchinson)
    bool exact_divergence = false;  // D vector-Jacobian products instead (tiny images)
};
// The dequantized bound in bits per dimension for each of n images (pixels (n, C, H, W),
// uint8, host): y = 2 (x + u) / 256 - 1, u ~ U[0, 1)^D, z(0) = alpha_0 y,
//   bpd = -(log p_0(alpha_0 y) + D log alpha_0 + D log(2 / 256)) / (D ln 2).
// u, then the probes, are drawn from rng. On the model's device, as one batch.
struct OdeBpd {
    std::vector<double> bpd;
    int64_t evaluations = 0;
};
OdeBpd ode_bpd(const Vdm& model, const uint8_t* pixels, int64_t n, Rng& rng,
               const OdeBpdOptions& options);

}  // namespace vdm
