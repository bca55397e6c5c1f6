// AdamW (Loshchilov & Hutter): Adam with bias correction and decoupled weight decay,
// global gradient-norm clipping, and a linear learning-rate warmup.
//
//   m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
//   p -= lr (m / (1 - b1^n)) / (sqrt(v / (1 - b2^n)) + eps) + lr wd p
//
// The moments m and v are tensors named like the parameters, so checkpoints store
// them as "adam_m.<name>" and "adam_v.<name>". They live on each parameter's device:
// build the optimizer after moving the model there. The update runs as one backend
// kernel per parameter (tensor/kernels/optim.h).
#pragma once
#include <vector>

#include "nn/module.h"

namespace vdm {

struct AdamWConfig {
    double beta1 = 0.9, beta2 = 0.99;  // VDM uses beta2 = 0.99
    double eps = 1e-8;
    double weight_decay = 0.01;
};

class AdamW {
public:
    // decays[i]: whether weight decay applies to params[i] (empty: to all).
    AdamW(std::vector<Parameter> params, AdamWConfig config, std::vector<bool> decays = {});

    // One update with learning rate lr from the parameters' gradients, then clears
    // them. A parameter that received no gradient this step is left unchanged.
    void step(double lr);

    const std::vector<Parameter>& params() const { return params_; }
    std::vector<Tensor> m, v;  // first and second moments, one per parameter
    int64_t steps = 0;         // updates made: the n in the bias correction

private:
    std::vector<Parameter> params_;
    AdamWConfig config_;
    std::vector<bool> decays_;
};

// Scales all gradients so their global L2 norm is at most max_norm (<= 0: no clip).
// Returns the norm before clipping; a NaN or Inf norm is returned with the gradients
// untouched, for the caller to act on (Trainer::step skips the update). All
// parameters are on one device; the norm costs one download of P doubles.
double clip_grad_norm(const std::vector<Parameter>& params, double max_norm);

// Linear warmup: lr * min(1, step / warmup_steps) for step = 1, 2, ...
double warmup_lr(double lr, int64_t step, int64_t warmup_steps);

}  // namespace vdm
