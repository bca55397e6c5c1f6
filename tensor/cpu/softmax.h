// CPU softmax and log-softmax over the last axis (log-sum-exp with the row max
// subtracted, so no exp overflows).
//   softmax backward:     dx = y (dy - sum(dy y))
//   log-softmax backward: dx = dy - exp(y) sum(dy)
#pragma once
#include <algorithm>
#include <cmath>

#include "tensor/cpu/parallel.h"
#include "tensor/tensor.h"

namespace vdm::cpu {

template <typename T> void softmax_forward(const Tensor& x, bool log, Tensor& y) {
    const int64_t V = x.dim(-1), rows = x.numel() / V;
    const T* px = x.data<T>();
    T* py = y.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
        const T* xr = px + r * V;
        T* yr = py + r * V;
        T m = *std::max_element(xr, xr + V);
        double sum = 0.0;
        for (int64_t v = 0; v < V; ++v) sum += std::exp(double(xr[v] - m));
        if (log) {
            T log_sum = T(std::log(sum));
            for (int64_t v = 0; v < V; ++v) yr[v] = xr[v] - m - log_sum;
        } else {
            T inv = T(1.0 / sum);
            for (int64_t v = 0; v < V; ++v) yr[v] = std::exp(xr[v] - m) * inv;
        }
    }
}

template <typename T>
void softmax_backward(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) {
    const int64_t V = y.dim(-1), rows = y.numel() / V;
    const T* py = y.data<T>();
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
#pragma omp parallel for if (y.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
        const T* yr = py + r * V;
        const T* dyr = pdy + r * V;
        T* dxr = pdx + r * V;
        double s = 0.0;
        for (int64_t v = 0; v < V; ++v) s += log ? double(dyr[v]) : double(dyr[v]) * double(yr[v]);
        for (int64_t v = 0; v < V; ++v)
            dxr[v] = log ? dyr[v] - std::exp(yr[v]) * T(s) : yr[v] * (dyr[v] - T(s));
    }
}

}  // namespace vdm::cpu
