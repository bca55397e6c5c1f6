// Diffusion loss in continuous and discrete time.
#include "vdm/diffusion_loss.h"

namespace vdm {

Var squared_error(const Var& eps, const Var& eps_hat) {
    check_same_shape("diffusion loss", eps.value(), eps_hat.value());
    return sum(square(eps - eps_hat), {1, 2, 3});
}

Var diffusion_loss_continuous(const Var& eps, const Var& eps_hat, const Var& gamma_prime) {
    return gamma_prime * squared_error(eps, eps_hat) * 0.5;
}

Var diffusion_loss_discrete(const Var& eps, const Var& eps_hat, const Var& gamma_t,
                            const Var& gamma_s, int64_t T) {
    VDM_CHECK(T >= 1, "discrete diffusion loss: T = ", T, " must be at least 1");
    return expm1(gamma_t - gamma_s) * squared_error(eps, eps_hat) * (0.5 * double(T));
}

}  // namespace vdm
