// Exponential moving average of the weights, used for evaluation and sampling:
//   shadow = d shadow + (1 - d) p,   d = min(decay, (1 + n) / (10 + n)) at update n
// The warmup in d lets the average follow the fast early changes of short runs.
// The shadows live on the parameters' device: build the EMA after moving the model.
#pragma once
#include <vector>

#include "nn/module.h"

namespace vdm {

class Ema {
public:
    Ema(const std::vector<Parameter>& params, double decay);

    void update(const std::vector<Parameter>& params);
    // Exchanges the shadow weights with the parameters' values (cheap: swaps
    // handles). Swapping twice restores the training weights.
    void swap(const std::vector<Parameter>& params);

    std::vector<Tensor> shadow;  // one per parameter, same order
    int64_t updates = 0;

private:
    double decay_;
};

}  // namespace vdm
