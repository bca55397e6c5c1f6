// OpenMP helpers for the CPU kernels.
#pragma once
#include <cstdint>

namespace vdm::cpu {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

// Accumulator type for sums: reductions add in double whatever the tensor's dtype.
template <typename T> using Acc = double;

}  // namespace vdm::cpu
