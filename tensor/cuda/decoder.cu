// CUDA kernels of the categorical decoder's log-probability, forward and backward; the
// math and the per-lane arithmetic are in tensor/kernels/decoder.h.
//   one warp per element (grid-stride over elements): lane l visits the values
//   v = l, l + 32, ...; the lanes' largest logit, first value with it, and double sums
//   meet in fixed butterflies of shuffles (deterministic: no atomics, no shared
//   memory); lane 0 writes the results.
// The backward recomputes the softmax: nothing of size (elements, V) is stored.
// Bad indices are reported as the CPU reports them (tensor/cuda/bad_index.h).
#include "tensor/cuda/bad_index.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/launch.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/decoder.h"

namespace vdm::cuda {

namespace {

using kernels::kDecoderLanes;
constexpr unsigned kFullWarp = 0xffffffffu;

// The butterfly of tensor/kernels/decoder.h: every lane ends with the warp's result.
template <typename T, typename Combine> __device__ T warp_reduce(T x, Combine combine) {
    for (int offset = kDecoderLanes / 2; offset > 0; offset /= 2)
        x = combine(x, __shfl_xor_sync(kFullWarp, x, offset));
    return x;
}
__device__ double warp_sum(double x) {
    return warp_reduce(x, [](double a, double b) { return a + b; });
}

// The shift's centre c_r (tensor/kernels/decoder.h): the warp's largest logit, then
// the first value that has it.
template <typename T>
__device__ T warp_peak_centre(const kernels::CategoricalElement<T>& e, const T* centres,
                              int64_t V, int l) {
    const T m = warp_reduce(kernels::lane_max(e, centres, V, l),
                            [](T a, T b) { return kernels::max(a, b); });
    const long long r = warp_reduce((long long)kernels::lane_first_peak(e, centres, V, m, l),
                                    [](long long a, long long b) { return a < b ? a : b; });
    return kernels::centre_of_peak(e, centres, V, int64_t(r));
}

// The element of warp w of the grid, and the stride to its next one. All lanes of a
// warp share the element, so loops and shuffles stay warp-uniform.
__device__ int64_t first_element() {
    return (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kDecoderLanes;
}
__device__ int64_t element_stride() { return int64_t(gridDim.x) * blockDim.x / kDecoderLanes; }
__device__ int lane() { return int(threadIdx.x) % kDecoderLanes; }

// Calls visit(i, e, r, lane) for each element i of this warp whose index is in range,
// with its CategoricalElement e and shift centre r; a bad index is recorded in
// first_bad (the lowest such row) instead.
template <typename T, typename Visit>
__device__ void for_each_element(const T* u, const T* centres, const T* scale,
                                 const int32_t* index, int64_t n, int64_t V, Row* first_bad,
                                 Visit visit) {
    const int l = lane();
    for (int64_t i = first_element(); i < n; i += element_stride()) {
        if (!kernels::index_in_range(index[i], V)) {
            if (l == 0) atomicMin(first_bad, Row(i));
            continue;
        }
        const kernels::CategoricalElement<T> e{scale[0], u[i], centres[index[i]]};
        visit(i, e, warp_peak_centre(e, centres, V, l), l);
    }
}

// u, index, out (n); centres (V); scale (1).
template <typename T>
__global__ void categorical_log_prob_forward_kernel(const T* u, const T* centres, const T* scale,
                                                    const int32_t* index, int64_t n, int64_t V,
                                                    T* out, Row* first_bad) {
    for_each_element(u, centres, scale, index, n, V, first_bad,
                     [&](int64_t i, const kernels::CategoricalElement<T>& e, T r, int l) {
                         const double mass = warp_sum(kernels::lane_mass(e, centres, V, r, l));
                         if (l == 0) out[i] = kernels::log_prob(e, r, mass);
                     });
}

// dout, du, dscale (n); du or dscale may be null (not wanted).
template <typename T>
__global__ void categorical_log_prob_backward_kernel(const T* u, const T* centres, const T* scale,
                                                     const int32_t* index, const T* dout,
                                                     int64_t n, int64_t V, T* du, T* dscale,
                                                     Row* first_bad) {
    for_each_element(u, centres, scale, index, n, V, first_bad,
                     [&](int64_t i, const kernels::CategoricalElement<T>& e, T r, int l) {
                         const kernels::CategoricalSums part = kernels::lane_sums(e, centres, V, r, l);
                         const kernels::CategoricalSums sums{warp_sum(part.mass), warp_sum(part.delta),
                                                             warp_sum(part.delta_width)};
                         if (l == 0 && du) du[i] = kernels::du_element(e, sums, dout[i]);
                         if (l == 0 && dscale) dscale[i] = kernels::dscale_element(sums, dout[i]);
                     });
}

template <typename T> T* data_or_null(Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

}  // namespace

void CudaBackend::categorical_log_prob_forward(const Tensor& u, const Tensor& centres,
                                               const Tensor& scale, const Tensor& index,
                                               Tensor& out) {
    const int64_t n = u.numel(), V = centres.numel();
    if (n == 0) return;
    Row* first_bad = reset_first_bad_row();
    VDM_DISPATCH_FLOAT(u.dtype(), "categorical_log_prob", {
        categorical_log_prob_forward_kernel<<<blocks_for(n * kDecoderLanes), kThreads>>>(
            u.data<T>(), centres.data<T>(), scale.data<T>(), index.data<int32_t>(), n, V,
            out.data<T>(), first_bad);
        VDM_CUDA_CHECK_LAUNCH();
    });
    check_first_bad_row(first_bad, index, V, "categorical_log_prob");
}

void CudaBackend::categorical_log_prob_backward(const Tensor& u, const Tensor& centres,
                                                const Tensor& scale, const Tensor& index,
                                                const Tensor& dout, Tensor& du, Tensor& dscale) {
    const int64_t n = u.numel(), V = centres.numel();
    if (n == 0) return;
    Row* first_bad = reset_first_bad_row();
    VDM_DISPATCH_FLOAT(u.dtype(), "categorical_log_prob_backward", {
        categorical_log_prob_backward_kernel<<<blocks_for(n * kDecoderLanes), kThreads>>>(
            u.data<T>(), centres.data<T>(), scale.data<T>(), index.data<int32_t>(),
            dout.data<T>(), n, V, data_or_null<T>(du), data_or_null<T>(dscale), first_bad);
        VDM_CUDA_CHECK_LAUNCH();
    });
    check_first_bad_row(first_bad, index, V, "categorical_log_prob");
}

}  // namespace vdm::cuda
