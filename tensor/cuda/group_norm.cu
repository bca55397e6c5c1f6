// CUDA group normalization, forward and backward; the per-thread arithmetic and the
// math are in tensor/kernels/group_norm.h, the block reduction in tensor/kernels/reduce.h
// (deterministic: fixed per-thread order, fixed tree, no atomics).
//   forward:          block per (sample, group): mean, then rstd, then y
//   backward dx:      block per (sample, group): mean(g), mean(g xhat), then dx
//   dweight, dbias:   block per (sample, channel) sums over the pixels into the
//                     workspace (B, C); then a thread per channel adds its B sums in
//                     sample order
// Every kernel launches kReduceThreads threads with kReduceThreads doubles of shared memory.
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/launch.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/group_norm.h"

namespace vdm::cuda {

namespace {

using kernels::GroupNormShape;
using kernels::kReduceThreads;

// x, y (B, C, H, W); weight, bias (C); mean, rstd (B, G).
template <typename T>
__global__ void group_norm_forward_kernel(const T* x, const T* weight, const T* bias,
                                          GroupNormShape s, double eps, T* y, T* mean, T* rstd) {
    __shared__ double shared[kReduceThreads];
    const int t = int(threadIdx.x);
    const double n = double(s.group_size);
    for (int64_t bg = blockIdx.x; bg < s.B * s.G; bg += gridDim.x) {
        const double mu = kernels::block_reduce(kernels::sum_partial(x, s, bg, t), shared) / n;
        const double centered_squares =
            kernels::block_reduce(kernels::centered_square_partial(x, s, bg, mu, t), shared);
        const double r = kernels::group_rstd(centered_squares, s.group_size, eps);
        if (t == 0) {
            mean[bg] = T(mu);
            rstd[bg] = T(r);
        }
        kernels::group_norm_write(x, weight, bias, y, s, bg, T(mu), T(r), t);
    }
}

template <typename T>
__global__ void group_norm_dx_kernel(const T* x, const T* weight, const T* mean, const T* rstd,
                                     const T* dy, GroupNormShape s, T* dx) {
    __shared__ double shared[kReduceThreads];
    const int t = int(threadIdx.x);
    const double n = double(s.group_size);
    for (int64_t bg = blockIdx.x; bg < s.B * s.G; bg += gridDim.x) {
        const double mu = double(mean[bg]), r = double(rstd[bg]);
        const double mean_g =
            kernels::block_reduce(kernels::g_partial(dy, weight, s, bg, t), shared) / n;
        const double mean_g_xhat =
            kernels::block_reduce(kernels::g_xhat_partial(x, dy, weight, s, bg, mu, r, t), shared) /
            n;
        kernels::group_norm_dx_write(x, dy, weight, dx, s, bg, mu, r, mean_g, mean_g_xhat, t);
    }
}

// First pass of dweight and dbias: sample b's sums over the pixels of channel c, at
// bc = b C + c of dweight_partial and dbias_partial (B, C).
template <typename T>
__global__ void group_norm_channel_sums_kernel(const T* x, const T* mean, const T* rstd,
                                               const T* dy, GroupNormShape s,
                                               double* dweight_partial, double* dbias_partial) {
    __shared__ double shared[kReduceThreads];
    const int t = int(threadIdx.x);
    for (int64_t bc = blockIdx.x; bc < s.B * s.C; bc += gridDim.x) {
        const double dw =
            kernels::block_reduce(kernels::dy_xhat_partial(x, dy, mean, rstd, s, bc, t), shared);
        const double db = kernels::block_reduce(kernels::dy_partial(dy, s, bc, t), shared);
        if (t == 0) {
            dweight_partial[bc] = dw;
            dbias_partial[bc] = db;
        }
    }
}

template <typename T>
void launch_group_norm_backward(const T* x, const T* weight, const T* mean, const T* rstd,
                                const T* dy, const GroupNormShape& s, T* dx, T* dweight,
                                T* dbias) {
    if (dweight || dbias) {
        double* dweight_partial =
            static_cast<double*>(the_backend().workspace(2 * size_t(s.B * s.C) * sizeof(double)));
        double* dbias_partial = dweight_partial + s.B * s.C;
        group_norm_channel_sums_kernel<<<kernels::reduce_blocks(s.B * s.C), kReduceThreads>>>(
            x, mean, rstd, dy, s, dweight_partial, dbias_partial);
        VDM_CUDA_CHECK_LAUNCH();
        for_each_index(s.C, [=] __device__(int64_t c) {
            if (dweight) dweight[c] = T(kernels::channel_sum_over_samples(dweight_partial, s, c));
            if (dbias) dbias[c] = T(kernels::channel_sum_over_samples(dbias_partial, s, c));
        });
    }
    if (dx) {
        group_norm_dx_kernel<<<kernels::reduce_blocks(s.B * s.G), kReduceThreads>>>(
            x, weight, mean, rstd, dy, s, dx);
        VDM_CUDA_CHECK_LAUNCH();
    }
}

void check_groups(const char* op, const Tensor& x, int groups) {
    VDM_CHECK(x.ndim() >= 2 && groups > 0 && x.dim(1) % groups == 0, op, ": ", groups,
              " groups do not divide the channels of ", x.shape().str());
}

}  // namespace

void CudaBackend::group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     int groups, double eps, Tensor& y, Tensor& mean,
                                     Tensor& rstd) {
    check_groups("group_norm", x, groups);
    if (x.numel() == 0) return;
    const GroupNormShape s = kernels::group_norm_shape(x.shape(), groups);
    VDM_DISPATCH_FLOAT(x.dtype(), "group_norm", {
        group_norm_forward_kernel<<<kernels::reduce_blocks(s.B * s.G), kReduceThreads>>>(
            x.data<T>(), weight.data<T>(), bias.data<T>(), s, eps, y.data<T>(), mean.data<T>(),
            rstd.data<T>());
        VDM_CUDA_CHECK_LAUNCH();
    });
}

void CudaBackend::group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean,
                                      const Tensor& rstd, const Tensor& dy, int groups,
                                      Tensor& dx, Tensor& dweight, Tensor& dbias) {
    check_groups("group_norm_backward", x, groups);
    if (x.numel() == 0) return;
    const GroupNormShape s = kernels::group_norm_shape(x.shape(), groups);
    VDM_DISPATCH_FLOAT(x.dtype(), "group_norm_backward",
                       launch_group_norm_backward(
                           x.data<T>(), weight.data<T>(), mean.data<T>(), rstd.data<T>(),
                           dy.data<T>(), s, dx.defined() ? dx.data<T>() : nullptr,
                           dweight.defined() ? dweight.data<T>() : nullptr,
                           dbias.defined() ? dbias.data<T>() : nullptr));
}

}  // namespace vdm::cuda
