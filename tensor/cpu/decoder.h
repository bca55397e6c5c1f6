// CPU kernels of the categorical decoder's log-probability, forward and backward, one
// element per iteration (parallel over elements) and its V values in vectorized inner
// loops: the largest logit, the first value that has it, then the sums. The math and
// the per-value arithmetic are in tensor/kernels/decoder.h; the backward recomputes
// the softmax rather than reading a saved (elements, V) one. Sums run in double in a
// fixed lane order (`omp simd reduction`), so the results do not depend on the run or
// on the thread count.
#pragma once
#include "tensor/cpu/layout.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/simd_exp.h"
#include "tensor/kernels/decoder.h"
#include "tensor/tensor.h"

namespace vdm::cpu {

// c_r, the centre of the first value with the largest logit (the shift).
template <typename T>
T peak_centre(const kernels::CategoricalElement<T>& e, const T* centres, int64_t V) {
    T m = e.logit(e.true_centre);  // one of the logits
#pragma omp simd reduction(max : m)
    for (int64_t v = 0; v < V; ++v) {
        const T logit = e.logit(centres[v]);
        m = logit > m ? logit : m;
    }
    int64_t r = V;
#pragma omp simd reduction(min : r)
    for (int64_t v = 0; v < V; ++v) r = e.logit(centres[v]) == m && v < r ? v : r;
    return kernels::centre_of_peak(e, centres, V, r);
}

template <typename T>
void categorical_log_prob_forward(const Tensor& u, const Tensor& centres, const Tensor& scale,
                                  const Tensor& index, Tensor& out) {
    const int64_t n = u.numel(), V = centres.numel();
    check_indices(index, V, "categorical_log_prob");
    const T* pu = u.data<T>();
    const T* c = centres.data<T>();
    const int32_t* pi = index.data<int32_t>();
    const T s = scale.data<T>()[0];
    T* po = out.data<T>();
#pragma omp parallel for if (n * V > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        const kernels::CategoricalElement<T> e{s, pu[i], c[pi[i]]};
        const T r = peak_centre(e, c, V);
        double mass = 0.0;
#pragma omp simd reduction(+ : mass)
        for (int64_t v = 0; v < V; ++v) mass += double(simd_exp(e.logit_above(c[v], r)));
        po[i] = kernels::log_prob(e, r, mass);
    }
}

// du and dscale (u's shape, dscale per element) are written where defined.
template <typename T>
void categorical_log_prob_backward(const Tensor& u, const Tensor& centres, const Tensor& scale,
                                   const Tensor& index, const Tensor& dout, Tensor& du,
                                   Tensor& dscale) {
    const int64_t n = u.numel(), V = centres.numel();
    check_indices(index, V, "categorical_log_prob");
    const T* pu = u.data<T>();
    const T* c = centres.data<T>();
    const int32_t* pi = index.data<int32_t>();
    const T* pdout = dout.data<T>();
    const T s = scale.data<T>()[0];
    T* pdu = du.defined() ? du.data<T>() : nullptr;
    T* pds = dscale.defined() ? dscale.data<T>() : nullptr;
#pragma omp parallel for if (n * V > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        const kernels::CategoricalElement<T> e{s, pu[i], c[pi[i]]};
        const T r = peak_centre(e, c, V);
        double mass = 0.0, delta = 0.0, delta_width = 0.0;
#pragma omp simd reduction(+ : mass, delta, delta_width)
        for (int64_t v = 0; v < V; ++v) {
            const kernels::CategoricalSums t = kernels::terms_at(e, c[v], r);
            mass += t.mass;
            delta += t.delta;
            delta_width += t.delta_width;
        }
        const kernels::CategoricalSums sums{mass, delta, delta_width};
        if (pdu) pdu[i] = kernels::du_element(e, sums, pdout[i]);
        if (pds) pds[i] = kernels::dscale_element(sums, pdout[i]);
    }
}

}  // namespace vdm::cpu
