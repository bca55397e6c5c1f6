// CUDA batched matrix products on cuBLAS, with the CPU backend's semantics
// (tensor/backend.h): c[i] = beta c[i] + op(a[i]) op(b[i]) over row-major 3-D
// operands, where a batch of 1 broadcasts (stride 0), and a c of batch 1 under a
// larger batch receives the sum of the products (the gradient of a shared matrix).
#include <algorithm>
#include <climits>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/gemm.h"
#include "tensor/dispatch.h"

namespace vdm::cuda {

namespace {

// The matrices of a 3-D tensor; a batch of 1 is the same matrix for every i.
template <typename T> Matrices<const T> matrices_of(const Tensor& t) {
    return {t.data<T>(), t.dim(2), t.dim(0) == 1 ? 0 : t.dim(1) * t.dim(2)};
}

template <typename T>
void matmul_typed(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, T beta) {
    const int64_t batch = std::max(a.dim(0), b.dim(0));
    const int64_t M = c.dim(1), N = c.dim(2), K = trans_a ? a.dim(1) : a.dim(2);
    if (batch == 0 || M == 0 || N == 0) return;
    if (K == 0) {  // every product is zero: c = beta c, and beta = 0 ignores c (even NaN)
        if (beta == T(0))
            the_backend().fill(c, 0.0);
        else
            the_backend().affine(c, double(beta), 0.0, c);
        return;
    }
    const Matrices<const T> A = matrices_of<T>(a), B = matrices_of<T>(b);
    const Matrices<T> C{c.data<T>(), N, M * N};
    if (c.dim(0) == batch) {  // one product per matrix of c
        gemm(trans_a, trans_b, M, N, K, A, B, beta, C, batch);
        return;
    }
    // c is shared by the batch: c = beta c + sum_i op(a[i]) op(b[i]).
    const bool foldable = trans_a && !trans_b && A.stride != 0 && B.stride != 0;
    if (foldable && batch * K <= INT_MAX) {
        // a is (batch, K, M) and b (batch, K, N): stacked, they are one (batch K, M) and
        // one (batch K, N) matrix, and the sum over i and k is a single product
        // a^T b with inner dimension batch K.
        gemm(true, false, M, N, batch * K, A.only(0), B.only(0), beta, C.only(0), 1);
        return;
    }
    for (int64_t i = 0; i < batch; ++i)  // in order, each product added onto the last
        gemm(trans_a, trans_b, M, N, K, A.only(i), B.only(i), i == 0 ? beta : T(1), C.only(0), 1);
}

}  // namespace

void CudaBackend::matmul(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                         double beta) {
    VDM_DISPATCH_FLOAT(a.dtype(), "matmul", matmul_typed<T>(a, trans_a, b, trans_b, c, T(beta)));
}

}  // namespace vdm::cuda
