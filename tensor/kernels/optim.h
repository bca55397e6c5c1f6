// Per-element arithmetic of the optimizer kernels, shared by the CPU and CUDA
// backends (nn/adamw.h and nn/ema.h hold the math in words).
#pragma once
#include "tensor/backend.h"
#include "tensor/kernels/host_device.h"

namespace vdm::kernels {

// The scalars of one AdamW update in the tensor's type.
template <typename T> struct AdamWScalars {
    T lr, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, decay, correction1, correction2;
    explicit AdamWScalars(const AdamWStep& s)
        : lr(T(s.lr)), beta1(T(s.beta1)), one_minus_beta1(T(1.0 - s.beta1)), beta2(T(s.beta2)),
          one_minus_beta2(T(1.0 - s.beta2)), eps(T(s.eps)), decay(T(s.decay)),
          correction1(T(s.correction1)), correction2(T(s.correction2)) {}
};

// One element of AdamW: moments from the gradient, then the decoupled update.
template <typename T>
VDM_HOST_DEVICE inline void adamw_element(const AdamWScalars<T>& s, T& w, T& m, T& v, T g) {
    m = s.beta1 * m + s.one_minus_beta1 * g;
    v = s.beta2 * v + s.one_minus_beta2 * g * g;
    const T m_hat = m / s.correction1, v_hat = v / s.correction2;
    w = s.decay * w - s.lr * m_hat / (kernels::sqrt(v_hat) + s.eps);
}

// One element of the EMA: shadow = decay shadow + (1 - decay) w.
template <typename T>
VDM_HOST_DEVICE inline T ema_element(T shadow, T w, T decay, T one_minus_decay) {
    return decay * shadow + one_minus_decay * w;
}

}  // namespace vdm::kernels
