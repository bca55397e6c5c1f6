// EMA of the weights.
#include "nn/ema.h"

#include <algorithm>

#include "tensor/backend.h"

namespace vdm {

Ema::Ema(const std::vector<Parameter>& params, double decay) : decay_(decay) {
    VDM_CHECK(decay >= 0.0 && decay < 1.0, "EMA decay ", decay, " is outside [0, 1)");
    for (const Parameter& p : params) shadow.push_back(p.var.value().clone());  // same device
}

void Ema::update(const std::vector<Parameter>& params) {
    VDM_CHECK(params.size() == shadow.size(), "EMA: ", params.size(), " parameters, ",
              shadow.size(), " shadows");
    const double d = std::min(decay_, (1.0 + double(updates)) / (10.0 + double(updates)));
    ++updates;
    for (size_t i = 0; i < params.size(); ++i) {
        const Tensor& w = params[i].var.value();
        VDM_CHECK(shadow[i].device() == w.device(), "EMA: '", params[i].name, "' is on ",
                  device_name(w.device()), ", its shadow on ", device_name(shadow[i].device()),
                  " (build the EMA after moving the model)");
        backend_for(w.device()).ema_update(shadow[i], w, d);
    }
}

void Ema::swap(const std::vector<Parameter>& params) {
    for (size_t i = 0; i < params.size(); ++i) std::swap(params[i].var.data()->value, shadow[i]);
}

}  // namespace vdm
