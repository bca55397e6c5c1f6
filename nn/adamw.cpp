// AdamW update, gradient clipping, warmup.
#include "nn/adamw.h"

#include <cmath>

#include "tensor/backend.h"

namespace vdm {

AdamW::AdamW(std::vector<Parameter> params, AdamWConfig config, std::vector<bool> decays)
    : params_(std::move(params)), config_(config), decays_(std::move(decays)) {
    if (decays_.empty()) decays_.assign(params_.size(), true);
    VDM_CHECK(decays_.size() == params_.size(), "AdamW: ", decays_.size(), " decay flags for ",
              params_.size(), " parameters");
    for (const Parameter& p : params_) {  // on each parameter's device
        m.push_back(Tensor::zeros(p.var.shape(), p.var.dtype(), p.var.device()));
        v.push_back(Tensor::zeros(p.var.shape(), p.var.dtype(), p.var.device()));
    }
}

void AdamW::step(double lr) {
    ++steps;
    AdamWStep s;
    s.lr = lr, s.beta1 = config_.beta1, s.beta2 = config_.beta2, s.eps = config_.eps;
    s.correction1 = 1.0 - std::pow(config_.beta1, double(steps));
    s.correction2 = 1.0 - std::pow(config_.beta2, double(steps));
    for (size_t i = 0; i < params_.size(); ++i) {
        s.decay = decays_[i] ? 1.0 - lr * config_.weight_decay : 1.0;  // decoupled
        Var p = params_[i].var;
        const Tensor& grad = p.grad();
        if (!grad.defined()) continue;  // not used this step (e.g. a frozen schedule)
        VDM_CHECK(m[i].device() == p.device(), "AdamW: '", params_[i].name, "' is on ",
                  device_name(p.device()), ", its moments on ", device_name(m[i].device()),
                  " (build the optimizer after moving the model)");
        backend_for(p.device()).adamw_update(p.value(), m[i], v[i], grad, s);
        p.zero_grad();
    }
}

double clip_grad_norm(const std::vector<Parameter>& params, double max_norm) {
    if (params.empty()) return 0.0;
    // Sum of squares per parameter into one F64 slot each on the parameters' device,
    // then one download and a sum in index order: the same norm on every run.
    const Device device = params.front().var.device();
    Backend& be = backend_for(device);
    Tensor sums = Tensor::zeros(Shape{int64_t(params.size())}, DType::F64, device);  // (P)
    for (size_t i = 0; i < params.size(); ++i) {
        const Tensor& grad = params[i].var.grad();
        if (!grad.defined()) continue;
        VDM_CHECK(grad.device() == device, "clip_grad_norm: '", params[i].name, "' has its gradient on ",
                  device_name(grad.device()), ", the first parameter is on ", device_name(device));
        be.sum_squares(grad, sums, int64_t(i));
    }
    double sum_sq = 0.0;
    for (double s : sums.to_vector()) sum_sq += s;
    const double norm = std::sqrt(sum_sq);
    if (std::isfinite(norm) && max_norm > 0.0 && norm > max_norm) {
        const double scale = max_norm / norm;
        for (const Parameter& p : params)
            if (p.var.grad().defined()) {
                Tensor g = p.var.grad();
                be.affine(g, scale, 0.0, g);
            }
    }
    return norm;
}

double warmup_lr(double lr, int64_t step, int64_t warmup_steps) {
    if (warmup_steps <= 0 || step >= warmup_steps) return lr;
    return lr * double(step) / double(warmup_steps);
}

}  // namespace vdm
