// Row-major batched matrix products on cuBLAS, for matmul.cu and conv2d.cu.
// cuBLAS is column-major, and a row-major matrix is, to it, its own transpose with
// the same leading dimension. So the row-major C = op(A) op(B) is computed as the
// column-major C^T = op(B)^T op(A)^T: the same call with A and B swapped.
#pragma once
#include <climits>
#include <cstdint>

#include "tensor/cuda/check.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/error.h"

namespace vdm::cuda {

// A batch of row-major matrices: matrix i starts at data + i * stride (stride 0: the
// same matrix for every i), and its rows are ld elements apart.
template <typename T> struct Matrices {
    T* data;
    int64_t ld, stride;
    Matrices<T> only(int64_t i) const { return {data + i * stride, ld, 0}; }  // matrix i alone
};

// cuBLAS's strided-batched gemm for each element type. The f32 one runs in the
// handle's math mode: full f32 unless cuda_set_tf32(true) asked for TF32.
inline cublasStatus_t cublas_gemm(cublasHandle_t handle, cublasOperation_t op_a,
                                  cublasOperation_t op_b, int m, int n, int k, const float* alpha,
                                  const float* a, int lda, long long stride_a, const float* b,
                                  int ldb, long long stride_b, const float* beta, float* c, int ldc,
                                  long long stride_c, int batch) {
    return cublasSgemmStridedBatched(handle, op_a, op_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                                     stride_b, beta, c, ldc, stride_c, batch);
}
inline cublasStatus_t cublas_gemm(cublasHandle_t handle, cublasOperation_t op_a,
                                  cublasOperation_t op_b, int m, int n, int k, const double* alpha,
                                  const double* a, int lda, long long stride_a, const double* b,
                                  int ldb, long long stride_b, const double* beta, double* c,
                                  int ldc, long long stride_c, int batch) {
    return cublasDgemmStridedBatched(handle, op_a, op_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                                     stride_b, beta, c, ldc, stride_c, batch);
}

// A size as cuBLAS's int, or an error naming it.
inline int cublas_int(int64_t value, const char* what) {
    VDM_CHECK(value >= 0 && value <= INT_MAX, "gemm: ", what, " = ", value,
              " does not fit cuBLAS's int");
    return int(value);
}

// C_i = beta C_i + op(A_i) op(B_i) for i in [0, batch), row-major: op(A_i) is M x K,
// op(B_i) K x N, C_i M x N. Nothing to do when M, N or batch is 0. K must be at least
// 1: a product over nothing (C = beta C) is the caller's case, since cuBLAS rejects
// the leading dimensions of empty operands. beta = 0 ignores C's old contents, NaN
// included (cuBLAS does not read C then).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, Matrices<const T> a,
          Matrices<const T> b, T beta, Matrices<T> c, int64_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    VDM_CHECK(K > 0, "gemm: K = 0 (the caller scales C itself)");
    const T one = T(1);
    // cuBLAS sees each row-major X as X^T, so op(X)^T takes the same flag as op(X).
    const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    VDM_CUBLAS_CHECK(cublas_gemm(the_backend().cublas(), op_b, op_a, cublas_int(N, "N"),
                                 cublas_int(M, "M"), cublas_int(K, "K"), &one, b.data,
                                 cublas_int(b.ld, "ldb"), b.stride, a.data, cublas_int(a.ld, "lda"),
                                 a.stride, &beta, c.data, cublas_int(c.ld, "ldc"), c.stride,
                                 cublas_int(batch, "batch")));
}

}  // namespace vdm::cuda
