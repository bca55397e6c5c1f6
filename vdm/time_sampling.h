// Times for the diffusion loss (docs/vdm.md#antithetic-time-sampling).
//   antithetic (low-discrepancy) sampling over a batch: t_k = mod(u + k / B, 1)
//   discrete time: step i = floor(t T) + 1 in 1..T, t(i) = i / T, s(i) = (i - 1) / T
#pragma once
#include <cstdint>

#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace vdm {

// The times of a share's rows, t_k for k in [begin, begin + rows), of a batch of B
// times in [0, 1) from one uniform u; each is uniform on its own.
Tensor antithetic_times(const BatchShare& share, double u);

// The discrete step containing each time: (t(i), s(i)) for i = floor(t T) + 1.
struct DiscreteTimes {
    Tensor t, s;  // (B) each, F64, on the device of the given times
};
DiscreteTimes discretize_times(const Tensor& t, int64_t T);

}  // namespace vdm
