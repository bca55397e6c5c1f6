// Group normalization's per-thread arithmetic, shared by the CUDA kernels
// (tensor/cuda/group_norm.cu) and the host tests that emulate them. The math is that
// of tensor/cpu/group_norm.h (Wu & He 2018); sums run in double:
//   per sample b and group g of C/G channels:
//     mean = sum(x) / n, var = sum((x - mean)^2) / n (two passes), rstd = 1 / sqrt(var + eps)
//     xhat = (x - mean) rstd,  y = xhat weight[c] + bias[c]
//   backward, with g = dy weight[c] and means over the group:
//     dx = rstd (g - mean(g) - xhat mean(g xhat))
//     dweight[c] = sum over b and pixels of dy xhat,  dbias[c] = sum of dy
// Block (b, g) owns one group, contiguous in NCHW; its thread t visits pixels
// t, t + T, ... of each of the group's channels, channel by channel (the step-1
// order of tensor/kernels/reduce.h).
#pragma once
#include <cstdint>

#include "tensor/kernels/reduce.h"

namespace vdm::kernels {

struct GroupNormShape {
    int64_t B, C, G, HW, group_channels, group_size;
};

// x (B, C, H, W) or (B, C) in `groups` groups.
inline GroupNormShape group_norm_shape(const Shape& x, int groups) {
    const int64_t B = x[0], C = x[1], HW = x.numel() / (B * C), channels = C / groups;
    return GroupNormShape{B, C, groups, HW, channels, channels * HW};
}

// Thread t's step-1 sum of value(c, i) over group bg = b G + g, where c is the channel
// and i the element's index in x.
template <typename Value>
VDM_HOST_DEVICE inline double group_thread_sum(const GroupNormShape& s, int64_t bg, int t,
                                               const Value& value) {
    const int64_t b = bg / s.G, c0 = (bg % s.G) * s.group_channels;
    double acc = 0.0;
    for (int64_t c = c0; c < c0 + s.group_channels; ++c) {
        const int64_t row = (b * s.C + c) * s.HW;
        for (int64_t p = t; p < s.HW; p += kReduceThreads) acc += value(c, row + p);
    }
    return acc;
}

template <typename T> VDM_HOST_DEVICE inline double normalized(T x, double mean, double rstd) {
    return (double(x) - mean) * rstd;  // xhat
}

// --- forward: block bg reduces sum(x), then sum((x - mean)^2), then writes y.
template <typename T>
VDM_HOST_DEVICE inline double sum_partial(const T* x, const GroupNormShape& s, int64_t bg, int t) {
    return group_thread_sum(s, bg, t, [&](int64_t, int64_t i) { return double(x[i]); });
}

template <typename T>
VDM_HOST_DEVICE inline double centered_square_partial(const T* x, const GroupNormShape& s,
                                                      int64_t bg, double mean, int t) {
    return group_thread_sum(s, bg, t, [&](int64_t, int64_t i) {
        const double centered = double(x[i]) - mean;
        return centered * centered;
    });
}

VDM_HOST_DEVICE inline double group_rstd(double centered_square_sum, int64_t count, double eps) {
    return 1.0 / kernels::sqrt(centered_square_sum / double(count) + eps);
}

// y at thread t's elements of group bg, from the stored (rounded) mean and rstd:
// y = x scale + shift with scale = rstd weight[c], shift = bias[c] - mean scale.
template <typename T>
VDM_HOST_DEVICE inline void group_norm_write(const T* x, const T* weight, const T* bias, T* y,
                                             const GroupNormShape& s, int64_t bg, T mean, T rstd,
                                             int t) {
    const int64_t b = bg / s.G, c0 = (bg % s.G) * s.group_channels;
    for (int64_t c = c0; c < c0 + s.group_channels; ++c) {
        const T scale = rstd * weight[c], shift = bias[c] - mean * scale;
        const int64_t row = (b * s.C + c) * s.HW;
        for (int64_t p = t; p < s.HW; p += kReduceThreads)
            y[row + p] = x[row + p] * scale + shift;
    }
}

// --- backward dx: block bg reduces sum(g) and sum(g xhat), then writes dx.
template <typename T>
VDM_HOST_DEVICE inline double g_partial(const T* dy, const T* weight, const GroupNormShape& s,
                                        int64_t bg, int t) {
    return group_thread_sum(s, bg, t, [&](int64_t c, int64_t i) {
        return double(dy[i]) * double(weight[c]);  // g
    });
}

template <typename T>
VDM_HOST_DEVICE inline double g_xhat_partial(const T* x, const T* dy, const T* weight,
                                             const GroupNormShape& s, int64_t bg, double mean,
                                             double rstd, int t) {
    return group_thread_sum(s, bg, t, [&](int64_t c, int64_t i) {
        return double(dy[i]) * double(weight[c]) * normalized(x[i], mean, rstd);
    });
}

template <typename T>
VDM_HOST_DEVICE inline void group_norm_dx_write(const T* x, const T* dy, const T* weight, T* dx,
                                                const GroupNormShape& s, int64_t bg, double mean,
                                                double rstd, double mean_g, double mean_g_xhat,
                                                int t) {
    const int64_t b = bg / s.G, c0 = (bg % s.G) * s.group_channels;
    for (int64_t c = c0; c < c0 + s.group_channels; ++c) {
        const int64_t row = (b * s.C + c) * s.HW;
        for (int64_t p = t; p < s.HW; p += kReduceThreads) {
            const int64_t i = row + p;
            const double g = double(dy[i]) * double(weight[c]);
            dx[i] = T(rstd * (g - mean_g - normalized(x[i], mean, rstd) * mean_g_xhat));
        }
    }
}

// --- backward dweight, dbias in two passes: block bc = b C + c reduces sample b's
// pixels of channel c into partial[bc]; then channel c adds its B partials in sample
// order (channel_sum_over_samples).
template <typename T>
VDM_HOST_DEVICE inline double dy_xhat_partial(const T* x, const T* dy, const T* mean,
                                              const T* rstd, const GroupNormShape& s, int64_t bc,
                                              int t) {
    const int64_t bg = (bc / s.C) * s.G + (bc % s.C) / s.group_channels;
    const double mu = double(mean[bg]), r = double(rstd[bg]);
    const T* xs = x + bc * s.HW;
    const T* dys = dy + bc * s.HW;
    return thread_sum([&](int64_t p) { return double(dys[p]) * normalized(xs[p], mu, r); }, s.HW,
                      t);
}

template <typename T>
VDM_HOST_DEVICE inline double dy_partial(const T* dy, const GroupNormShape& s, int64_t bc, int t) {
    return thread_sum([&](int64_t p) { return double(dy[bc * s.HW + p]); }, s.HW, t);
}

VDM_HOST_DEVICE inline double channel_sum_over_samples(const double* partial,
                                                       const GroupNormShape& s, int64_t c) {
    double acc = 0.0;
    for (int64_t b = 0; b < s.B; ++b) acc += partial[b * s.C + c];
    return acc;
}

}  // namespace vdm::kernels
