// CPU group normalization, forward and backward (Wu & He 2018). Sums run in double,
// vectorized with `omp simd reduction` (a fixed lane order: the same result every run).
//   x (B, C, H, W) split into G groups of C/G channels; per (sample, group):
//   xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps);  y = xhat * weight[c] + bias[c]
#pragma once
#include <cmath>

#include "tensor/cpu/parallel.h"
#include "tensor/tensor.h"

namespace vdm::cpu {

struct GroupDims {
    int64_t B, C, G, HW, group_channels, group_size;
    GroupDims(const Tensor& x, int groups)
        : B(x.dim(0)), C(x.dim(1)), G(groups), HW(x.numel() / (x.dim(0) * x.dim(1))),
          group_channels(x.dim(1) / groups), group_size(x.dim(1) / groups * HW) {}
};

template <typename T>
void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups,
                        double eps, Tensor& y, Tensor& mean, Tensor& rstd) {
    GroupDims d(x, groups);
    const T* px = x.data<T>();
    const T* pw = weight.data<T>();
    const T* pb = bias.data<T>();
    T* py = y.data<T>();
    T* pmean = mean.data<T>();
    T* prstd = rstd.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t bg = 0; bg < d.B * d.G; ++bg) {
        const T* xs = px + bg * d.group_size;  // a group's channels are contiguous in NCHW
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < d.group_size; ++i) sum += double(xs[i]);
        double mu = sum / double(d.group_size), sq = 0.0;
#pragma omp simd reduction(+ : sq)
        for (int64_t i = 0; i < d.group_size; ++i) sq += (double(xs[i]) - mu) * (double(xs[i]) - mu);
        double r = 1.0 / std::sqrt(sq / double(d.group_size) + eps);  // two-pass variance
        pmean[bg] = T(mu);
        prstd[bg] = T(r);
        int64_t c0 = (bg % d.G) * d.group_channels;
        T* ys = py + bg * d.group_size;
        for (int64_t c = 0; c < d.group_channels; ++c) {
            T scale = T(r) * pw[c0 + c], shift = pb[c0 + c] - T(mu) * scale;
            for (int64_t i = c * d.HW; i < (c + 1) * d.HW; ++i) ys[i] = xs[i] * scale + shift;
        }
    }
}

// dweight[c] = sum dy xhat, dbias[c] = sum dy (over samples and pixels);
// dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy * weight[c], means over the group.
template <typename T>
void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dy, int groups, Tensor& dx,
                         Tensor& dweight, Tensor& dbias) {
    GroupDims d(x, groups);
    const T* px = x.data<T>();
    const T* pw = weight.data<T>();
    const T* pmean = mean.data<T>();
    const T* prstd = rstd.data<T>();
    const T* pdy = dy.data<T>();
    if (dweight.defined() || dbias.defined()) {
#pragma omp parallel for if (x.numel() > kParallelGrain)
        for (int64_t c = 0; c < d.C; ++c) {
            double dw = 0.0, db = 0.0;
            for (int64_t b = 0; b < d.B; ++b) {
                int64_t bg = b * d.G + c / d.group_channels;
                double mu = double(pmean[bg]), r = double(prstd[bg]);
                const T* xs = px + (b * d.C + c) * d.HW;
                const T* g = pdy + (b * d.C + c) * d.HW;
#pragma omp simd reduction(+ : dw, db)
                for (int64_t i = 0; i < d.HW; ++i) {
                    dw += double(g[i]) * (double(xs[i]) - mu) * r;
                    db += double(g[i]);
                }
            }
            if (dweight.defined()) dweight.data<T>()[c] = T(dw);
            if (dbias.defined()) dbias.data<T>()[c] = T(db);
        }
    }
    if (!dx.defined()) return;
    T* pdx = dx.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t bg = 0; bg < d.B * d.G; ++bg) {
        const T* xs = px + bg * d.group_size;
        const T* dys = pdy + bg * d.group_size;
        T* dxs = pdx + bg * d.group_size;
        const double mu = double(pmean[bg]), r = double(prstd[bg]);
        const int64_t c0 = (bg % d.G) * d.group_channels;
        double sum_g = 0.0, sum_g_xhat = 0.0;
        for (int64_t c = 0; c < d.group_channels; ++c)
#pragma omp simd reduction(+ : sum_g, sum_g_xhat)
            for (int64_t i = c * d.HW; i < (c + 1) * d.HW; ++i) {
                double g = double(dys[i]) * double(pw[c0 + c]);
                sum_g += g;
                sum_g_xhat += g * (double(xs[i]) - mu) * r;
            }
        const double mean_g = sum_g / double(d.group_size), mean_g_xhat = sum_g_xhat / double(d.group_size);
        for (int64_t c = 0; c < d.group_channels; ++c)
            for (int64_t i = c * d.HW; i < (c + 1) * d.HW; ++i) {
                double g = double(dys[i]) * double(pw[c0 + c]);
                double xhat = (double(xs[i]) - mu) * r;
                dxs[i] = T(r * (g - mean_g - xhat * mean_g_xhat));
            }
    }
}

}  // namespace vdm::cpu
