// CPU softmax and log-softmax over the last axis (log-sum-exp with the row max
// subtracted, so no exp overflows).
//   softmax backward:     dx = y (dy - sum(dy y))
//   log-softmax backward: dx = dy - exp(y) sum(dy)
#pragma once
#include <algorithm>
#include <cmath>

#include "tensor/cpu/parallel.h"
#include "tensor/cpu/simd_exp.h"
#include "tensor/tensor.h"

namespace vdm::cpu {

// The reductions use `omp simd reduction`: vectorized sums in a fixed lane order, so
// results are the same on every run of the same build.
template <typename T> void softmax_forward(const Tensor& x, bool log, Tensor& y) {
    const int64_t V = x.dim(-1), rows = x.numel() / V;
    const T* px = x.data<T>();
    T* py = y.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
        const T* xr = px + r * V;
        T* yr = py + r * V;
        T m = xr[0];
        for (int64_t v = 0; v < V; ++v) m = xr[v] > m ? xr[v] : m;
        for (int64_t v = 0; v < V; ++v) yr[v] = simd_exp(xr[v] - m);  // each in (0, 1]
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int64_t v = 0; v < V; ++v) sum += double(yr[v]);
        if (log) {
            const T log_normalizer = m + T(std::log(sum));  // log-sum-exp
            for (int64_t v = 0; v < V; ++v) yr[v] = xr[v] - log_normalizer;
        } else {
            const T inv = T(1.0 / sum);
            for (int64_t v = 0; v < V; ++v) yr[v] *= inv;
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
        double s = 0.0;  // sum(dy) for log-softmax, sum(dy * y) for softmax
#pragma omp simd reduction(+ : s)
        for (int64_t v = 0; v < V; ++v) s += log ? double(dyr[v]) : double(dyr[v]) * double(yr[v]);
        const T st = T(s);
        if (log)
            for (int64_t v = 0; v < V; ++v) dxr[v] = dyr[v] - simd_exp(yr[v]) * st;
        else
            for (int64_t v = 0; v < V; ++v) dxr[v] = yr[v] * (dyr[v] - st);
    }
}

}  // namespace vdm::cpu
