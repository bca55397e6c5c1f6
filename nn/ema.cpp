// EMA of the weights.
#include "nn/ema.h"

#include <algorithm>

#include "tensor/dispatch.h"

namespace vdm {

Ema::Ema(const std::vector<Parameter>& params, double decay) : decay_(decay) {
    VDM_CHECK(decay >= 0.0 && decay < 1.0, "EMA decay ", decay, " is outside [0, 1)");
    for (const Parameter& p : params) shadow.push_back(p.var.value().clone());
}

void Ema::update(const std::vector<Parameter>& params) {
    VDM_CHECK(params.size() == shadow.size(), "EMA: ", params.size(), " parameters, ",
              shadow.size(), " shadows");
    const double d = std::min(decay_, (1.0 + double(updates)) / (10.0 + double(updates)));
    ++updates;
    for (size_t i = 0; i < params.size(); ++i) {
        const Tensor& p = params[i].var.value();
        VDM_DISPATCH_FLOAT(p.dtype(), "EMA", {
            T* s = shadow[i].data<T>();
            const T* w = p.data<T>();
            _Pragma("omp simd")
            for (int64_t j = 0; j < p.numel(); ++j) s[j] = T(d) * s[j] + T(1.0 - d) * w[j];
        });
    }
}

void Ema::swap(const std::vector<Parameter>& params) {
    for (size_t i = 0; i < params.size(); ++i) std::swap(params[i].var.data()->value, shadow[i]);
}

}  // namespace vdm
