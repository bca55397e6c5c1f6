// Diffusion loss in continuous and discrete time, and the training objective's weight.
#include "vdm/diffusion_loss.h"

namespace vdm {

Objective parse_objective(const std::string& name) {
    if (name == "vlb") return Objective::Vlb;
    if (name == "simple") return Objective::Simple;
    fail("unknown objective '", name, "' (vlb or simple)");
}

Var squared_error(const Var& eps, const Var& eps_hat) {
    check_same_shape("diffusion loss", eps.value(), eps_hat.value());
    return sum(square(eps - eps_hat), {1, 2, 3});
}

Var diffusion_weight_discrete(const Var& gamma_t, const Var& gamma_s, int64_t T,
                              Objective objective) {
    VDM_CHECK(T >= 1, "discrete diffusion loss: T = ", T, " must be at least 1");
    if (objective == Objective::Simple)
        return Var(Tensor::full(gamma_t.shape(), 1.0, gamma_t.dtype(), gamma_t.device()));
    return expm1(gamma_t - gamma_s) * (0.5 * double(T));
}

Var diffusion_loss_continuous(const Var& eps, const Var& eps_hat, const Var& gamma_prime) {
    return gamma_prime * squared_error(eps, eps_hat) * 0.5;
}

Var diffusion_loss_discrete(const Var& eps, const Var& eps_hat, const Var& gamma_t,
                            const Var& gamma_s, int64_t T, Objective objective) {
    return diffusion_weight_discrete(gamma_t, gamma_s, T, objective) * squared_error(eps, eps_hat);
}

}  // namespace vdm
