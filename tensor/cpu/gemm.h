// CPU matrix multiply: C = beta * C + op(A) op(B), row-major, op = transpose or not.
// op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are row strides.
// gemm_naive is the obviously-correct reference (STYLE.md point 1); gemm is the
// register-blocked, AVX-512 (where the compiler targets it), OpenMP version that the
// kernels use and the tests compare against the reference. gemm's result does not
// depend on the thread count.
#pragma once
#include <cstdint>

namespace vdm::cpu {

template <typename T>
void gemm_naive(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace vdm::cpu
