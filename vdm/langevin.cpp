// Annealed Langevin dynamics and the predictor-corrector sampler.
#include "vdm/langevin.h"

#include "vdm/parameterization.h"

namespace vdm {

namespace {

void check_langevin(int64_t iterations, double snr) {
    VDM_CHECK(iterations >= 1, "langevin: iterations = ", iterations, " must be at least 1");
    VDM_CHECK(snr > 0.0, "langevin: snr = ", snr, " must be positive");
}

}  // namespace

Var langevin_step_size(const Var& score, const Var& xi, double snr) {
    Var xi_sq = sum(square(xi), {1, 2, 3}, true);          // |xi|^2, (B, 1, 1, 1)
    Var score_sq = sum(square(score), {1, 2, 3}, true);    // |s_hat|^2
    return (xi_sq / score_sq) * (2.0 * snr * snr);
}

Var langevin_update(const Var& z, const Var& score, const Var& xi, const Var& delta) {
    return z + delta * score + sqrt(delta * 2.0) * xi;
}

Var langevin_correct(SamplerContext& ctx, Var z, double t, int64_t iterations, double snr) {
    check_langevin(iterations, snr);
    Var gamma = ctx.gamma(t);  // (n)
    Var gamma_b = ctx.per_image(gamma);
    for (int64_t m = 0; m < iterations; ++m) {
        Var score = predicted_score(gamma_b, ctx.eps_hat(z, gamma));
        Var xi = ctx.normal();
        z = langevin_update(z, score, xi, langevin_step_size(score, xi, snr));
    }
    return z;
}

StepRule langevin_rule(int64_t iterations, double snr) {
    check_langevin(iterations, snr);
    return [=](SamplerContext& ctx, const Var& z, double, double s) {
        return langevin_correct(ctx, z, s, iterations, snr);
    };
}

StepRule predictor_corrector_rule(int64_t iterations, double snr) {
    check_langevin(iterations, snr);
    StepRule predictor = ancestral_rule();
    return [=](SamplerContext& ctx, const Var& z, double t, double s) {
        return langevin_correct(ctx, predictor(ctx, z, t, s), s, iterations, snr);
    };
}

}  // namespace vdm
