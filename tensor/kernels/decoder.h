// The categorical decoder's log-probability (docs/vdm.md#decoder), fused: per-value and
// per-element arithmetic shared by the CPU kernel (tensor/cpu/decoder.h), the CUDA
// kernel (tensor/cuda/decoder.cu) and the host tests that emulate the latter.
//
// Element i has the value u, the centres c_v (v < V), the scale s and the true value
// x = index[i]; its logits are logit_v = s (u - c_v)^2. With r the first value of the
// largest logit (the log-sum-exp's shift), the kernels exponentiate
//   a_v = logit_v - logit_r = -s (c_v - c_r) (2u - c_r - c_v)  <= 0,
// a product of differences: exactly 0 at v = r, accurate to a few roundings of itself
// (never the difference of two large logits), and with no product a compiler could
// fuse into a multiply-add that would round the shift apart from the logits. Then
//   out = logit_x - logsumexp_v logit_v = a_x - log S,   S = sum_v exp(a_v)
// and, with p = softmax(logit) = exp(a_v) / S,
//   d out / d u = 2 s (E_p[c] - c_x)              = 2 s S_d / S
//   d out / d s = (u - c_x)^2 - E_p[(u - c)^2]    = S_dw / S
// where S_d = sum e_v (c_v - c_x) and S_dw = sum e_v (c_v - c_x)(2u - c_x - c_v) hold
// the factors of (u - c_x)^2 - (u - c_v)^2 as a product, so where p peaks at x they are
// not differences of nearly equal numbers.
//
// The CUDA kernel gives each element one warp: lane l visits v = l, l + 32, ... in
// that order, sums in double, and the lanes' partials meet in a fixed butterfly
// (offsets 16, 8, 4, 2, 1), so every run gives the same bits.
#pragma once
#include <cstdint>

#include "tensor/kernels/host_device.h"

namespace vdm::kernels {

constexpr int kDecoderLanes = 32;  // lanes (threads) per element on the GPU: one warp

// One element: its value u, the centre c_x of its true value, and the logits' scale s.
template <typename T> struct CategoricalElement {
    T scale, u, true_centre;

    // logit_v for the value whose centre is c (the max search only).
    VDM_HOST_DEVICE T logit(T c) const { return scale * ((u - c) * (u - c)); }
    // a_v = logit_v - logit_r for the values whose centres are c and r.
    VDM_HOST_DEVICE T logit_above(T c, T r) const {
        return -scale * ((c - r) * (T(2) * u - r - c));
    }
    VDM_HOST_DEVICE T delta(T c) const { return c - true_centre; }            // c_v - c_x
    VDM_HOST_DEVICE T width(T c) const { return T(2) * u - true_centre - c; }  // 2u - c_x - c_v
};

// The centre c_r of the shift, from r = the first v whose logit equals the maximum m
// (V when none does: a NaN u or scale, whose NaN then flows into every result).
template <typename T>
VDM_HOST_DEVICE inline T centre_of_peak(const CategoricalElement<T>& e, const T* centres,
                                        int64_t V, int64_t r) {
    return r < V ? centres[r] : e.true_centre;
}

// Sums over v of e_v = exp(a_v), e_v (c_v - c_x) and e_v (c_v - c_x)(2u - c_x - c_v).
struct CategoricalSums {
    double mass = 0.0, delta = 0.0, delta_width = 0.0;

    VDM_HOST_DEVICE void add(const CategoricalSums& o) {
        mass += o.mass;
        delta += o.delta;
        delta_width += o.delta_width;
    }
};

// The three terms of the value whose centre is c, for the shift's centre r.
template <typename T>
VDM_HOST_DEVICE inline CategoricalSums terms_at(const CategoricalElement<T>& e, T c, T r) {
    const double weight = double(fast_exp(e.logit_above(c, r)));
    const double delta = double(e.delta(c));
    return {weight, weight * delta, weight * delta * double(e.width(c))};
}

// out = a_x - log S.
template <typename T>
VDM_HOST_DEVICE inline T log_prob(const CategoricalElement<T>& e, T r, double mass) {
    return e.logit_above(e.true_centre, r) - T(kernels::log(mass));
}

// dout times d out / d u and d out / d s.
template <typename T>
VDM_HOST_DEVICE inline T du_element(const CategoricalElement<T>& e, const CategoricalSums& sums,
                                    T dout) {
    return dout * T(2.0 * double(e.scale) * sums.delta / sums.mass);
}
template <typename T>
VDM_HOST_DEVICE inline T dscale_element(const CategoricalSums& sums, T dout) {
    return dout * T(sums.delta_width / sums.mass);
}

// --- one lane of the GPU's warp per element: lane l's share of each pass.
// The max starts at logit_x, one of the logits, so a lane without values changes nothing.
template <typename T>
VDM_HOST_DEVICE inline T lane_max(const CategoricalElement<T>& e, const T* centres, int64_t V,
                                  int lane) {
    T m = e.logit(e.true_centre);
    for (int64_t v = lane; v < V; v += kDecoderLanes) m = kernels::max(m, e.logit(centres[v]));
    return m;
}

// The first of lane l's values whose logit is m, or V.
template <typename T>
VDM_HOST_DEVICE inline int64_t lane_first_peak(const CategoricalElement<T>& e, const T* centres,
                                               int64_t V, T m, int lane) {
    for (int64_t v = lane; v < V; v += kDecoderLanes)
        if (e.logit(centres[v]) == m) return v;
    return V;
}

template <typename T>
VDM_HOST_DEVICE inline double lane_mass(const CategoricalElement<T>& e, const T* centres,
                                        int64_t V, T r, int lane) {
    double mass = 0.0;
    for (int64_t v = lane; v < V; v += kDecoderLanes)
        mass += double(fast_exp(e.logit_above(centres[v], r)));
    return mass;
}

template <typename T>
VDM_HOST_DEVICE inline CategoricalSums lane_sums(const CategoricalElement<T>& e, const T* centres,
                                                 int64_t V, T r, int lane) {
    CategoricalSums sums;
    for (int64_t v = lane; v < V; v += kDecoderLanes) sums.add(terms_at(e, centres[v], r));
    return sums;
}

// The butterfly on the host, in the warp's order: partial[l] is lane l's value, and
// combine(a, b) the reduction (max, min or a sum; each commutes, so every lane ends
// with the same value). Returns lane 0's.
template <typename V, typename Combine>
V emulate_warp_reduce(const V* partial, Combine combine) {
    V lanes[kDecoderLanes];
    for (int l = 0; l < kDecoderLanes; ++l) lanes[l] = partial[l];
    for (int offset = kDecoderLanes / 2; offset > 0; offset /= 2) {
        V next[kDecoderLanes];
        for (int l = 0; l < kDecoderLanes; ++l) next[l] = combine(lanes[l], lanes[l ^ offset]);
        for (int l = 0; l < kDecoderLanes; ++l) lanes[l] = next[l];
    }
    return lanes[0];
}

}  // namespace vdm::kernels
