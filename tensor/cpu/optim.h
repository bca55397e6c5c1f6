// CPU optimizer kernels: AdamW, the EMA of the weights, and the sum of squares
// behind gradient clipping. The per-element math is tensor/kernels/optim.h.
#pragma once
#include "tensor/cpu/parallel.h"
#include "tensor/kernels/optim.h"

namespace vdm::cpu {

template <typename T>
void adamw_update(T* w, T* m, T* v, const T* g, int64_t n, const AdamWStep& step) {
    const kernels::AdamWScalars<T> s(step);
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) kernels::adamw_element(s, w[i], m[i], v[i], g[i]);
}

template <typename T> void ema_update(T* shadow, const T* w, int64_t n, double decay) {
    const T d = T(decay), rest = T(1.0 - decay);
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) shadow[i] = kernels::ema_element(shadow[i], w[i], d, rest);
}

// Serial in index order: the same sum on every run and thread count.
template <typename T> double sum_squares(const T* x, int64_t n) {
    double acc = 0.0;
    for (int64_t i = 0; i < n; ++i) acc += double(x[i]) * double(x[i]);
    return acc;
}

}  // namespace vdm::cpu
