// Module parameter registry and weight initialization.
#include "nn/module.h"

#include <cmath>

#include "tensor/backend.h"

namespace vdm {

Var Module::add_parameter(const std::string& name, Tensor init) {
    Var v(std::move(init), /*requires_grad=*/true);
    params_.push_back({name, v});
    return v;
}

void Module::add_child(const std::string& name, Module& child) {
    children_.emplace_back(name, &child);
}

void Module::collect(const std::string& prefix, std::vector<Parameter>& out) const {
    for (const Parameter& p : params_) out.push_back({prefix + p.name, p.var});
    for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<Parameter> Module::parameters() const {
    std::vector<Parameter> out;
    collect("", out);
    return out;
}

void Module::to(Device device) {
    for (Parameter& p : params_) {
        VarData* data = p.var.data();
        data->value = data->value.to(device);
        if (data->grad.defined()) data->grad = data->grad.to(device);
    }
    for (auto& [name, child] : children_) child->to(device);
    device_ = device;
}

int64_t Module::parameter_count() const {
    int64_t n = 0;
    for (const Parameter& p : parameters()) n += p.var.numel();
    return n;
}

Tensor init_normal(const Shape& shape, int64_t fan_in, double scale, DType dtype, Rng& rng) {
    Tensor t = Tensor::empty(shape, dtype);
    Backend& be = backend_for(Device::CPU);
    be.fill_normal(t, rng.seed, rng.take(uint64_t(t.numel())));
    be.affine(t, scale / std::sqrt(double(fan_in)), 0.0, t);
    return t;
}

}  // namespace vdm
