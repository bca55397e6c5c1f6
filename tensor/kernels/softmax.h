// Softmax and log-softmax over the last axis, per-thread arithmetic shared by the CUDA
// kernels (tensor/cuda/softmax.cu) and the host tests that emulate them. The math is
// that of tensor/cpu/softmax.h (the row max subtracted, so no exp overflows):
//   softmax:     y = exp(x - m) / sum(exp(x - m))
//   log-softmax: y = x - (m + log(sum(exp(x - m))))
//   backward:    softmax dx = y (dy - sum(dy y)),  log-softmax dx = dy - exp(y) sum(dy)
// Block r owns row r of V values; its thread t visits v = t, t + T, ... (the step-1
// order of tensor/kernels/reduce.h), so a thread rereads only what it wrote.
#pragma once
#include <cstdint>

#include "tensor/kernels/reduce.h"

namespace vdm::kernels {

// --- forward: block reduces the max, then sum(exp(x - m)), then writes y.
template <typename T>
VDM_HOST_DEVICE inline double row_max_partial(const T* x, int64_t V, int t) {
    return thread_max([&](int64_t v) { return double(x[v]); }, V, t);
}

// Writes y = exp(x - m) at thread t's positions (each in (0, 1]) and returns their sum.
template <typename T>
VDM_HOST_DEVICE inline double exp_sum_partial(const T* x, T* y, int64_t V, T row_max, int t) {
    return thread_sum(
        [&](int64_t v) {
            y[v] = fast_exp(x[v] - row_max);
            return double(y[v]);
        },
        V, t);
}

// Turns thread t's y = exp(x - m) into the softmax, or x into the log-softmax.
template <typename T>
VDM_HOST_DEVICE inline void softmax_write(const T* x, T* y, int64_t V, bool log, T row_max,
                                          double exp_sum, int t) {
    if (log) {
        const T log_normalizer = row_max + T(kernels::log(exp_sum));  // log-sum-exp
        for (int64_t v = t; v < V; v += kReduceThreads) y[v] = x[v] - log_normalizer;
    } else {
        const T inverse = T(1.0 / exp_sum);
        for (int64_t v = t; v < V; v += kReduceThreads) y[v] *= inverse;
    }
}

// --- backward: block reduces s = sum(dy) (log) or sum(dy y), then writes dx.
template <typename T>
VDM_HOST_DEVICE inline double softmax_backward_partial(const T* y, const T* dy, int64_t V,
                                                       bool log, int t) {
    return thread_sum(
        [&](int64_t v) { return log ? double(dy[v]) : double(dy[v]) * double(y[v]); }, V, t);
}

template <typename T>
VDM_HOST_DEVICE inline void softmax_backward_write(const T* y, const T* dy, T* dx, int64_t V,
                                                   bool log, double sum, int t) {
    const T s = T(sum);
    for (int64_t v = t; v < V; v += kReduceThreads)
        dx[v] = log ? dy[v] - fast_exp(y[v]) * s : y[v] * (dy[v] - s);
}

}  // namespace vdm::kernels
