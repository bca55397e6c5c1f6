// CUDA attention, forward and backward, composed: cuBLAS products with the (BH, N, N)
// matrices S, P, dP in the backend's workspace, and one kernel per elementwise step.
// Not tiled (it holds N x N per head, as the composed ops would), but one call each
// way. The math is that of tensor/cpu/attention.h, per head with S = q^T k:
//   forward:  P = softmax over the rows of S, L_i = m_i + log sum_j exp(S_ij - m_i),
//             out = v P^T
//   backward: P_ij = exp(S_ij - L_i), dP = dout^T v, D_i = sum_c dout[c][i] out[c][i],
//             dS = P (dP - D), dv = dout P, dq = k dS^T, dk = q dS
// The row reductions use the block reduction of tensor/kernels/reduce.h and the
// softmax arithmetic of tensor/kernels/softmax.h: deterministic, no atomics.
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/gemm.h"
#include "tensor/cuda/launch.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/softmax.h"

namespace vdm::cuda {

namespace {

using kernels::kReduceThreads;

// The heads of a (BH, rows, cols) tensor as a batch of row-major matrices.
template <typename T> Matrices<T> heads(T* data, int64_t rows, int64_t cols) {
    return {data, cols, rows * cols};
}
template <typename T> Matrices<const T> heads(const Tensor& t) {
    return heads(t.data<T>(), t.dim(1), t.dim(2));
}

// Each of the `rows` rows of s (N values) becomes its softmax, in place; lse[r] = L_r.
template <typename T>
__global__ void softmax_rows_kernel(T* s, int64_t rows, int64_t N, T* lse) {
    __shared__ double shared[kReduceThreads];
    const int t = int(threadIdx.x);
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        T* row = s + r * N;
        const T row_max =
            T(kernels::block_reduce(kernels::row_max_partial(row, N, t), shared, kernels::Max{}));
        const double exp_sum =
            kernels::block_reduce(kernels::exp_sum_partial(row, row, N, row_max, t), shared);
        kernels::softmax_write(row, row, N, /*log=*/false, row_max, exp_sum, t);
        if (t == 0) lse[r] = row_max + T(kernels::log(exp_sum));
    }
}

template <typename T>
void forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, Tensor& lse) {
    const int64_t BH = q.dim(0), d = q.dim(1), N = q.dim(2);
    T* s = static_cast<T*>(the_backend().workspace(size_t(BH * N * N) * sizeof(T)));
    gemm(true, false, N, N, d, heads<T>(q), heads<T>(k), T(0), heads(s, N, N), BH);  // S = q^T k
    softmax_rows_kernel<<<kernels::reduce_blocks(BH * N), kReduceThreads>>>(s, BH * N, N,
                                                                             lse.data<T>());
    VDM_CUDA_CHECK_LAUNCH();
    gemm(false, true, d, N, N, heads<T>(v), heads<const T>(s, N, N), T(0),
         heads(out.data<T>(), d, N), BH);  // out = v P^T
}

template <typename T>
void backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
              const Tensor& lse, const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv) {
    const int64_t BH = q.dim(0), d = q.dim(1), N = q.dim(2), square = BH * N * N;
    T* p = static_cast<T*>(the_backend().workspace(size_t(2 * square + BH * N) * sizeof(T)));
    T* ds = p + square;
    T* D = ds + square;
    gemm(true, false, N, N, d, heads<T>(q), heads<T>(k), T(0), heads(p, N, N), BH);  // S
    const T* L = lse.data<T>();
    for_each_index(square, [=] __device__(int64_t x) { p[x] = kernels::exp(p[x] - L[x / N]); });
    gemm(true, false, N, N, d, heads<T>(dout), heads<T>(v), T(0), heads(ds, N, N), BH);  // dP
    const T *g = dout.data<T>(), *o = out.data<T>();
    for_each_index(BH * N, [=] __device__(int64_t r) {  // r = b N + i
        const int64_t at = r / N * d * N + r % N;
        double sum = 0.0;
        for (int64_t c = 0; c < d; ++c) sum += double(g[at + c * N]) * double(o[at + c * N]);
        D[r] = T(sum);
    });
    for_each_index(square, [=] __device__(int64_t x) { ds[x] = p[x] * (ds[x] - D[x / N]); });
    gemm(false, false, d, N, N, heads<T>(dout), heads<const T>(p, N, N), T(0),
         heads(dv.data<T>(), d, N), BH);  // dv = dout P
    gemm(false, true, d, N, N, heads<T>(k), heads<const T>(ds, N, N), T(0),
         heads(dq.data<T>(), d, N), BH);  // dq = k dS^T
    gemm(false, false, d, N, N, heads<T>(q), heads<const T>(ds, N, N), T(0),
         heads(dk.data<T>(), d, N), BH);  // dk = q dS
}

}  // namespace

void CudaBackend::attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                                    Tensor& logsumexp) {
    if (q.numel() == 0) return;
    VDM_DISPATCH_FLOAT(q.dtype(), "attention", forward<T>(q, k, v, out, logsumexp));
}

void CudaBackend::attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                     const Tensor& out, const Tensor& logsumexp,
                                     const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv) {
    if (q.numel() == 0) return;
    VDM_DISPATCH_FLOAT(q.dtype(), "attention_backward",
                       backward<T>(q, k, v, out, logsumexp, dout, dq, dk, dv));
}

}  // namespace vdm::cuda
