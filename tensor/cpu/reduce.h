// CPU reduction: sum_to_shape, the one helper that reduces broadcast gradients
// (STYLE.md point 4) and also implements sum/mean over chosen axes.
#pragma once
#include <omp.h>


#include "tensor/cpu/parallel.h"
#include "tensor/host_allocator.h"
#include "tensor/tensor.h"

namespace vdm::cpu {

// out[j] = sum over the elements of x that broadcast to j. Accumulates in double.
// A full reduction splits x into one contiguous chunk per thread and adds the
// partial sums in thread order, so the result depends only on the thread count.
template <typename T> void sum_to_shape(const Tensor& x, Tensor& out) {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const int64_t n = x.numel(), n_out = out.numel();
    if (n_out == 1) {
        HostBuffer<double> partial(size_t(omp_get_max_threads()), 0.0);
#pragma omp parallel if (n > kParallelGrain)
        {
            int threads = omp_get_num_threads(), t = omp_get_thread_num();
            int64_t begin = n * t / threads, end = n * (t + 1) / threads;
            double s = 0.0;
            for (int64_t i = begin; i < end; ++i) s += double(px[i]);
            partial[size_t(t)] = s;
        }
        double total = 0.0;
        for (size_t t = 0; t < partial.size(); ++t) total += partial[t];
        po[0] = T(total);
        return;
    }
    // Right-aligned dims of x and out, and the strides of x.
    auto dx = x.shape().padded(), dout = out.shape().padded();
    std::array<int64_t, 4> stride{};
    int64_t s = 1;
    for (int i = 3; i >= 0; --i) {
        stride[size_t(i)] = s;
        s *= dx[size_t(i)];
    }
    std::array<int64_t, 4> count{};  // how many x positions each out position sums along dim i
    for (int i = 0; i < 4; ++i) count[size_t(i)] = dout[size_t(i)] == 1 ? dx[size_t(i)] : 1;
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t j = 0; j < n_out; ++j) {
        int64_t o3 = j % dout[3], o2 = (j / dout[3]) % dout[2], o1 = (j / (dout[3] * dout[2])) % dout[1],
                o0 = j / (dout[3] * dout[2] * dout[1]);
        int64_t base = o0 * stride[0] + o1 * stride[1] + o2 * stride[2] + o3 * stride[3];
        double acc = 0.0;
        for (int64_t i0 = 0; i0 < count[0]; ++i0)
            for (int64_t i1 = 0; i1 < count[1]; ++i1)
                for (int64_t i2 = 0; i2 < count[2]; ++i2) {
                    const T* row = px + base + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                    for (int64_t i3 = 0; i3 < count[3]; ++i3) acc += double(row[i3]);
                }
        po[j] = T(acc);
    }
}

}  // namespace vdm::cpu
