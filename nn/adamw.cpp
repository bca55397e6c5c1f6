// AdamW update, gradient clipping, warmup.
#include "nn/adamw.h"

#include <cmath>

#include "tensor/backend.h"
#include "tensor/dispatch.h"

namespace vdm {

AdamW::AdamW(std::vector<Parameter> params, AdamWConfig config, std::vector<bool> decays)
    : params_(std::move(params)), config_(config), decays_(std::move(decays)) {
    if (decays_.empty()) decays_.assign(params_.size(), true);
    VDM_CHECK(decays_.size() == params_.size(), "AdamW: ", decays_.size(), " decay flags for ",
              params_.size(), " parameters");
    for (const Parameter& p : params_) {
        m.push_back(Tensor::zeros(p.var.shape(), p.var.dtype()));
        v.push_back(Tensor::zeros(p.var.shape(), p.var.dtype()));
    }
}

void AdamW::step(double lr) {
    ++steps;
    const double b1 = config_.beta1, b2 = config_.beta2, eps = config_.eps;
    const double correction1 = 1.0 - std::pow(b1, double(steps));
    const double correction2 = 1.0 - std::pow(b2, double(steps));
    for (size_t i = 0; i < params_.size(); ++i) {
        const double decay = decays_[i] ? 1.0 - lr * config_.weight_decay : 1.0;  // decoupled
        Var p = params_[i].var;
        const Tensor& grad = p.grad();
        if (!grad.defined()) continue;  // not used this step (e.g. a frozen schedule)
        VDM_DISPATCH_FLOAT(p.dtype(), "AdamW", {
            T* w = p.value().data<T>();
            T* mi = m[i].data<T>();
            T* vi = v[i].data<T>();
            const T* g = grad.data<T>();
            const int64_t n = p.numel();
            for (int64_t j = 0; j < n; ++j) {
                mi[j] = T(b1) * mi[j] + T(1.0 - b1) * g[j];
                vi[j] = T(b2) * vi[j] + T(1.0 - b2) * g[j] * g[j];
                T m_hat = mi[j] / T(correction1), v_hat = vi[j] / T(correction2);
                w[j] = T(decay) * w[j] - T(lr) * m_hat / (std::sqrt(v_hat) + T(eps));
            }
        });
        p.zero_grad();
    }
}

double clip_grad_norm(const std::vector<Parameter>& params, double max_norm) {
    double sum_sq = 0.0;
    for (const Parameter& p : params) {
        if (!p.var.grad().defined()) continue;
        for (double g : p.var.grad().to_vector()) sum_sq += g * g;
    }
    const double norm = std::sqrt(sum_sq);
    VDM_CHECK(std::isfinite(norm), "gradient norm is ", norm,
              " (NaN/Inf in the gradients; rerun with VDM_CHECK_FINITE=1 to find the op)");
    if (max_norm > 0.0 && norm > max_norm) {
        const double scale = max_norm / norm;
        for (const Parameter& p : params)
            if (p.var.grad().defined()) {
                Tensor g = p.var.grad();
                backend_for(g.device()).affine(g, scale, 0.0, g);
            }
    }
    return norm;
}

double warmup_lr(double lr, int64_t step, int64_t warmup_steps) {
    if (warmup_steps <= 0 || step >= warmup_steps) return lr;
    return lr * double(step) / double(warmup_steps);
}

}  // namespace vdm
