#include "tensor/cpu/gemm.h"

#include <algorithm>
#include <vector>

namespace vdm::cpu {

template <typename T>
void gemm_naive(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; ++k) {
                T a = trans_a ? A[k * lda + i] : A[i * lda + k];
                T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                acc += double(a) * double(b);
            }
            T prior = beta == T(0) ? T(0) : beta * C[i * ldc + j];  // beta = 0 ignores C (may be NaN)
            C[i * ldc + j] = prior + T(acc);
        }
}

namespace {

// Register tile: MR rows of A times NR columns of B (two AVX-512 vectors wide).
template <typename T> struct Tile {
    static constexpr int MR = 6;
    static constexpr int NR = 128 / int(sizeof(T));  // 32 floats, 16 doubles
};
constexpr int64_t KC = 256;  // depth of one packed slice (fits L1/L2 with the tiles)

// Packs `extent` lines of a matrix, depth [k0, k0 + kc), into panels of W lines,
// k-major: panel p holds out[(p * kc + k) * W + r] = line p * W + r at depth k0 + k,
// zero-padded past `extent`. Line i at depth k is X[i * ld + k], or X[k * ld + i] when
// the matrix is stored depth-major. Rows of op(A) and columns of op(B) are both lines.
template <typename T, int W>
void pack_panels(bool depth_major, const T* X, int64_t ld, int64_t extent, int64_t k0, int64_t kc,
                 T* out) {
    const int64_t panels = (extent + W - 1) / W;
#pragma omp for
    for (int64_t p = 0; p < panels; ++p) {
        T* dst = out + p * kc * W;
        const int lines = int(std::min<int64_t>(W, extent - p * W));  // the rest is padding
        if (depth_major) {  // each depth k is a contiguous run of lines
            for (int64_t k = 0; k < kc; ++k) {
                const T* src = X + (k0 + k) * ld + p * W;
                std::copy(src, src + lines, dst + k * W);
                std::fill(dst + k * W + lines, dst + (k + 1) * W, T(0));
            }
        } else {  // each line is a contiguous run of depths
            for (int r = 0; r < lines; ++r) {
                const T* src = X + (p * W + r) * ld + k0;
                for (int64_t k = 0; k < kc; ++k) dst[k * W + r] = src[k];
            }
            for (int64_t k = 0; k < kc; ++k) std::fill(dst + k * W + lines, dst + (k + 1) * W, T(0));
        }
    }
}

// C[0:rows, 0:cols] = beta * C + a_panel x b_panel, accumulating in registers.
template <typename T>
void micro_kernel(int64_t kc, const T* a, const T* b, T beta, T* C, int64_t ldc, int rows,
                  int cols) {
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    T acc[MR][NR] = {};
    for (int64_t k = 0; k < kc; ++k) {
        const T* bk = b + k * NR;
        for (int r = 0; r < MR; ++r) {
            const T ar = a[k * MR + r];
#pragma omp simd
            for (int c = 0; c < NR; ++c) acc[r][c] += ar * bk[c];
        }
    }
    for (int r = 0; r < rows; ++r) {
        T* crow = C + r * ldc;
        if (beta == T(0))
            for (int c = 0; c < cols; ++c) crow[c] = acc[r][c];
        else
            for (int c = 0; c < cols; ++c) crow[c] = beta * crow[c] + acc[r][c];
    }
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    if (M == 0 || N == 0) return;
    const int64_t panels_m = (M + MR - 1) / MR, panels_n = (N + NR - 1) / NR;
    if (K == 0) {  // op(A) op(B) is zero: only the beta scaling remains
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
        return;
    }
    std::vector<T> packed_a(size_t(panels_m * MR * KC)), packed_b(size_t(panels_n * NR * KC));
    const bool parallel = 2.0 * double(M) * double(N) * double(K) > 4e6;
#pragma omp parallel if (parallel)
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = std::min(KC, K - k0);
        const T slice_beta = k0 == 0 ? beta : T(1);  // later slices add onto the first
        // Row i of op(A) is depth-major when A is transposed; column j of op(B) when it is not.
        pack_panels<T, MR>(trans_a, A, lda, M, k0, kc, packed_a.data());
        pack_panels<T, NR>(!trans_b, B, ldb, N, k0, kc, packed_b.data());  // each ends in a barrier
#pragma omp for collapse(2) schedule(static)
        for (int64_t pn = 0; pn < panels_n; ++pn)
            for (int64_t pm = 0; pm < panels_m; ++pm) {
                int rows = int(std::min<int64_t>(MR, M - pm * MR));
                int cols = int(std::min<int64_t>(NR, N - pn * NR));
                micro_kernel(kc, packed_a.data() + pm * kc * MR, packed_b.data() + pn * kc * NR,
                             slice_beta, C + pm * MR * ldc + pn * NR, ldc, rows, cols);
            }
    }
}

template void gemm_naive<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                                const float*, int64_t, float, float*, int64_t);
template void gemm_naive<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                 const double*, int64_t, double, double*, int64_t);
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace vdm::cpu
