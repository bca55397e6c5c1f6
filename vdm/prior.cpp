// Prior KL, stable form.
#include "vdm/prior.h"

#include "vdm/process.h"

namespace vdm {

Var prior_kl(const Var& x, const Var& gamma_1) {
    VDM_CHECK(x.ndim() == 2, "prior_kl: expected x (B, D), got ", x.shape().str());
    Var per_pixel = alpha_sq(gamma_1) * (square(x) - 1.0) + softplus(-gamma_1);  // (B, D)
    return sum(per_pixel, {1}) * 0.5;
}

}  // namespace vdm
