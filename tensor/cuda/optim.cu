// CUDA optimizer kernels: AdamW and the EMA of the weights (one thread per element,
// the per-element math of tensor/kernels/optim.h), and the sum of squares behind
// gradient clipping's norm (one block of kReduceThreads threads over the whole tensor:
// the deterministic block reduction of tensor/kernels/reduce.h, whose thread 0 writes
// the F64 slot on the device, so no host round trip per parameter).
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/launch.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/optim.h"
#include "tensor/kernels/reduce.h"

namespace vdm::cuda {

namespace {

template <typename T>
void launch_adamw(T* w, T* m, T* v, const T* g, int64_t n, const kernels::AdamWScalars<T>& s) {
    for_each_index(n, [=] __device__(int64_t i) {
        kernels::adamw_element(s, w[i], m[i], v[i], g[i]);
    });
}

template <typename T> void launch_ema(T* shadow, const T* w, int64_t n, double decay) {
    const T d = T(decay), rest = T(1.0 - decay);
    for_each_index(n, [=] __device__(int64_t i) {
        shadow[i] = kernels::ema_element(shadow[i], w[i], d, rest);
    });
}

// *out = sum of x^2 over n elements; launched as one block.
template <typename T> __global__ void sum_squares_kernel(const T* x, int64_t n, double* out) {
    __shared__ double shared[kernels::kReduceThreads];
    const int t = int(threadIdx.x);
    const double sum = kernels::block_reduce(kernels::squares_thread_sum(x, n, t), shared);
    if (t == 0) *out = sum;
}

}  // namespace

void CudaBackend::adamw_update(Tensor& w, Tensor& m, Tensor& v, const Tensor& g,
                               const AdamWStep& step) {
    check_same_shape("AdamW", w, g);
    VDM_DISPATCH_FLOAT(w.dtype(), "AdamW",
                       launch_adamw(w.data<T>(), m.data<T>(), v.data<T>(), g.data<T>(), w.numel(),
                                    kernels::AdamWScalars<T>(step)));
}

void CudaBackend::ema_update(Tensor& shadow, const Tensor& w, double decay) {
    check_same_shape("EMA", shadow, w);
    VDM_DISPATCH_FLOAT(w.dtype(), "EMA",
                       launch_ema(shadow.data<T>(), w.data<T>(), w.numel(), decay));
}

void CudaBackend::sum_squares(const Tensor& x, Tensor& out, int64_t slot) {
    VDM_CHECK(out.dtype() == DType::F64 && out.device() == Device::CUDA && slot >= 0 &&
                  slot < out.numel(),
              "sum_squares: slot ", slot, " of ", out.desc(), " (needs an f64 cuda tensor)");
    VDM_DISPATCH_FLOAT(x.dtype(), "sum_squares", {
        sum_squares_kernel<<<1, kernels::kReduceThreads>>>(x.data<T>(), x.numel(),
                                                           out.data<double>() + slot);
        VDM_CUDA_CHECK_LAUNCH();
    });
}

}  // namespace vdm::cuda
