// eps_hat <-> x_hat <-> score.
#include "vdm/parameterization.h"

#include "vdm/process.h"

namespace vdm {

Var predicted_x(const Var& z_t, const Var& gamma_t, const Var& eps_hat) {
    return (z_t - sigma(gamma_t) * eps_hat) / alpha(gamma_t);
}

Var predicted_score(const Var& gamma_t, const Var& eps_hat) { return -eps_hat / sigma(gamma_t); }

Var eps_from_x(const Var& z_t, const Var& gamma_t, const Var& x_hat) {
    return (z_t - alpha(gamma_t) * x_hat) / sigma(gamma_t);
}

Var eps_from_score(const Var& gamma_t, const Var& score) { return -sigma(gamma_t) * score; }

}  // namespace vdm
