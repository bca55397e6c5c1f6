// The DDIM step.
#include "vdm/ddim.h"

#include "vdm/parameterization.h"
#include "vdm/process.h"

namespace vdm {

Var ddim_step(const Var& z_t, const Var& eps_hat, const Var& gamma_s, const Var& gamma_t,
              double eta, const Var& xi) {
    VDM_CHECK(eta >= 0.0 && eta <= 1.0, "ddim: eta = ", eta, " is outside [0, 1]");
    const double eta_sq = eta * eta;
    Var x_hat = predicted_x(z_t, gamma_t, eps_hat);
    // sigma_s^2 - eta^2 sigma_Q^2 = sigma_s^2 ((1 - eta^2) + eta^2 exp(gamma_s - gamma_t))
    Var kept_sq = sigma_sq(gamma_s) * affine(exp(gamma_s - gamma_t), eta_sq, 1.0 - eta_sq);
    Var z_s = alpha(gamma_s) * x_hat + sqrt(kept_sq) * eps_hat;
    if (eta == 0.0) return z_s;
    VDM_CHECK(xi.defined(), "ddim: eta = ", eta, " > 0 needs noise xi");
    return z_s + sqrt(posterior_sigma_sq(gamma_s, gamma_t) * eta_sq) * xi;  // c xi
}

StepRule ddim_rule(double eta) {
    VDM_CHECK(eta >= 0.0 && eta <= 1.0, "ddim: eta = ", eta, " is outside [0, 1]");
    return [eta](SamplerContext& ctx, const Var& z, double t, double s) {
        Var gamma_t = ctx.gamma(t), gamma_s = ctx.gamma(s);  // (n)
        Var eps_hat = ctx.eps_hat(z, gamma_t);
        Var xi = eta > 0.0 ? ctx.normal() : Var();
        return ddim_step(z, eps_hat, ctx.per_image(gamma_s), ctx.per_image(gamma_t), eta, xi);
    };
}

}  // namespace vdm
