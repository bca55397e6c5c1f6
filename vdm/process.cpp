// The three views of the forward process, in their stable forms (docs/vdm.md#forward-process).
#include "vdm/process.h"

namespace vdm {

Var alpha_sq(const Var& gamma) { return sigmoid(-gamma); }
Var sigma_sq(const Var& gamma) { return sigmoid(gamma); }
Var alpha(const Var& gamma) { return sqrt(alpha_sq(gamma)); }
Var sigma(const Var& gamma) { return sqrt(sigma_sq(gamma)); }
Var snr(const Var& gamma) { return exp(-gamma); }

Var marginal_sample(const Var& x, const Var& gamma_t, const Var& eps) {
    return alpha(gamma_t) * x + sigma(gamma_t) * eps;
}

Var transition_alpha(const Var& gamma_s, const Var& gamma_t) {
    return alpha(gamma_t) / alpha(gamma_s);
}

Var transition_sigma_sq(const Var& gamma_s, const Var& gamma_t) {
    return -(sigma_sq(gamma_t) * expm1(gamma_s - gamma_t));
}

Var posterior_mean(const Var& z_t, const Var& x, const Var& gamma_s, const Var& gamma_t) {
    // the two coefficients of docs/vdm.md#posterior, with sigma_{t|s}^2 in its stable form
    Var sigma_t_sq = sigma_sq(gamma_t);
    Var z_coef = transition_alpha(gamma_s, gamma_t) * sigma_sq(gamma_s) / sigma_t_sq;
    Var x_coef = alpha(gamma_s) * transition_sigma_sq(gamma_s, gamma_t) / sigma_t_sq;
    return z_coef * z_t + x_coef * x;
}

Var posterior_sigma_sq(const Var& gamma_s, const Var& gamma_t) {
    return -(sigma_sq(gamma_s) * expm1(gamma_s - gamma_t));
}

}  // namespace vdm
