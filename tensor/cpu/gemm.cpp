#include "tensor/cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <utility>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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

// How gemm works. Nothing is packed: A and B are read where they lie, through strides.
// With AVX-512, float products run on one of two kernels:
//  - broadcast, when op(B)'s rows are consecutive (B not transposed): for each k it
//    loads NR consecutive elements of a row of op(B) into vectors, broadcasts MR
//    elements of a column of op(A) (any layout), and accumulates MR x NR in registers;
//  - dot, for A B^T (op(A)'s rows and op(B)'s columns both consecutive in k): vectors
//    run along k, 4 x 4 dot products at a time, each summed across its vector at the end.
// A^T B^T is computed as its transpose B A (broadcast), written into C transposed.
// Without AVX-512, and for double, row_panel's portable loop does it all.
// Threads split C into blocks, one each: no barriers, no shared buffers. Every element's
// k-sum runs in the same slices and order whatever the thread count, so the result
// does not depend on it.

// Register tile of the broadcast kernel: MR rows of A times NR columns of B.
template <typename T> struct Tile {
    static constexpr int MR = 6;
    static constexpr int NR = 128 / int(sizeof(T));  // 32 floats, 16 doubles
};
#if defined(__AVX512F__)
// 8 x 32: 16 accumulators (Zen 4: one 512-bit FMA per cycle, latency 4); 12 x 32, 8 x 48
// and 6 x 64 measured no faster.
template <> struct Tile<float> {
    static constexpr int MR = 8;
    static constexpr int NR = 32;
};
#endif
constexpr int64_t KC = 256;       // depth slice of the broadcast kernel: MR x KC of A stays in L1
constexpr int64_t KC_DOT = 1024;  // of the dot kernel (each slice ends in reductions): 4 x KC_DOT of A in L1
constexpr int64_t NC = 512;       // column block: KC x NC of B stays in L2

// Element (i, j) of a strided matrix is p[i * rs + j * cs].
template <typename T> struct View {
    T* p;
    int64_t rs, cs;
    T* at(int64_t i, int64_t j) const { return p + i * rs + j * cs; }
};

// C[0:rows, 0:cols] = beta * C + tile, the tile row-major with rows `stride` apart.
template <typename T>
void store_tile(const T* tile, int stride, int rows, int cols, T beta, View<T> c) {
    for (int r = 0; r < rows; ++r)
        for (int j = 0; j < cols; ++j) {
            T& dst = *c.at(r, j);
            dst = beta == T(0) ? tile[r * stride + j] : beta * dst + tile[r * stride + j];  // beta = 0 ignores C
        }
}

// C[0:rows, 0:ncols] = beta * C + a b over depth kc, one NR-wide tile at a time; a is
// rows x kc (rows <= MR), b is kc x ncols, both with any strides. The portable kernel.
template <typename T>
void row_panel(int64_t kc, View<const T> a, int rows, View<const T> b, int64_t ncols, T beta, View<T> c) {
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    for (int64_t j = 0; j < ncols; j += NR) {
        const int cols = int(std::min<int64_t>(NR, ncols - j));
        T acc[MR * NR] = {};
        for (int64_t k = 0; k < kc; ++k)
            for (int r = 0; r < rows; ++r) {
                const T ar = *a.at(r, k);
                const T* bk = b.at(k, j);
#pragma omp simd
                for (int jj = 0; jj < cols; ++jj) acc[r * NR + jj] += ar * bk[jj * b.cs];
            }
        store_tile(acc, NR, rows, cols, beta, View<T>{c.at(0, j), c.rs, c.cs});
    }
}

#if defined(__AVX512F__)
// The loops over rows, columns and vectors below are unrolled (the pragmas) so that
// the accumulators stay in registers.

// Broadcast kernel for exactly ROWS rows (1 <= ROWS <= MR); b.cs == 1.
template <int ROWS>
void broadcast_row_panel(int64_t kc, View<const float> a, View<const float> b, int64_t ncols, float beta,
                         View<float> c) {
    constexpr int NR = Tile<float>::NR, NV = NR / 16;
    const float* a_row[ROWS];
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) a_row[r] = a.at(r, 0);
    const __m512 vbeta = _mm512_set1_ps(beta);
    for (int64_t j = 0; j < ncols; j += NR) {
        const int cols = int(std::min<int64_t>(NR, ncols - j));
        __mmask16 lanes[NV];  // columns past the edge are neither loaded nor stored
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) lanes[v] = __mmask16((1u << std::clamp(cols - 16 * v, 0, 16)) - 1);

        __m512 acc[ROWS][NV];
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
        const float* bk = b.at(0, j);
        for (int64_t k = 0, ak = 0; k < kc; ++k, ak += a.cs, bk += b.rs) {
            __m512 bv[NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) bv[v] = _mm512_maskz_loadu_ps(lanes[v], bk + 16 * v);
#pragma GCC unroll 16
            for (int r = 0; r < ROWS; ++r) {
                const __m512 ar = _mm512_set1_ps(a_row[r][ak]);
#pragma GCC unroll 8
                for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
            }
        }

        if (c.cs != 1) {  // C is transposed: element by element
            alignas(64) float tile[ROWS * NR];
#pragma GCC unroll 16
            for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
                for (int v = 0; v < NV; ++v) _mm512_store_ps(tile + r * NR + 16 * v, acc[r][v]);
            store_tile(tile, NR, ROWS, cols, beta, View<float>{c.at(0, j), c.rs, c.cs});
            continue;
        }
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) {
                float* dst = c.at(r, j + 16 * v);
                __m512 sum = acc[r][v];
                if (beta != 0.0f)  // beta = 0 ignores C
                    sum = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(lanes[v], dst), sum);
                _mm512_mask_storeu_ps(dst, lanes[v], sum);
            }
    }
}

// permutex2var indices for sum16's rounds (index 16 + l picks lane l of the second).
struct RoundIndices {
    alignas(64) int32_t low[4][16];
    alignas(64) int32_t high[4][16];
};
constexpr RoundIndices round_indices() {
    RoundIndices t{};
    for (int round = 0, bit = 8; round < 4; ++round, bit /= 2)
        for (int l = 0; l < 16; ++l) {
            t.low[round][l] = l & bit ? 16 + l - bit : l;
            t.high[round][l] = l & bit ? 16 + l : l + bit;
        }
    return t;
}
constexpr RoundIndices kRoundIndices = round_indices();

// Lane i of the result is the sum of v[i]'s 16 lanes. Round `bit` pairs v[i] with
// v[i + bit] and adds lanes `bit` apart: x's sums land where lane bit `bit` is 0, y's
// where it is 1, so after four rounds lane i's bits spell i. 15 adds, 30 permutes.
inline __m512 sum16(__m512 v[16]) {
#pragma GCC unroll 4
    for (int round = 0, bit = 8; round < 4; ++round, bit /= 2) {
        const __m512i low = _mm512_load_si512(kRoundIndices.low[round]);
        const __m512i high = _mm512_load_si512(kRoundIndices.high[round]);
#pragma GCC unroll 8
        for (int i = 0; i < bit; ++i)
            v[i] = _mm512_add_ps(_mm512_permutex2var_ps(v[i], low, v[i + bit]),
                                 _mm512_permutex2var_ps(v[i], high, v[i + bit]));
    }
    return v[0];
}

// Dot kernel for exactly ROWS rows (1 <= ROWS <= 4), tiles of 4 columns; a.cs == 1 and
// b.rs == 1. Columns past the edge repeat the last one; their sums are dropped.
template <int ROWS>
void dot_rows(int64_t kc, View<const float> a, View<const float> b, int64_t ncols, float beta, View<float> c) {
    constexpr int COLS = 4;
    const float* a_row[ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) a_row[r] = a.at(r, 0);
    const __mmask16 tail = __mmask16((1u << (kc % 16)) - 1);  // depths past kc are not loaded
    for (int64_t j = 0; j < ncols; j += COLS) {
        const int cols = int(std::min<int64_t>(COLS, ncols - j));
        const float* b_col[COLS];
#pragma GCC unroll 4
        for (int q = 0; q < COLS; ++q) b_col[q] = b.at(0, j + std::min(q, cols - 1));

        __m512 acc[16];  // acc[r * COLS + q]; the rest stay zero
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
        for (int64_t k = 0; k < kc; k += 16) {
            const __mmask16 depths = kc - k >= 16 ? __mmask16(0xFFFF) : tail;
            __m512 bv[COLS];
#pragma GCC unroll 4
            for (int q = 0; q < COLS; ++q) bv[q] = _mm512_maskz_loadu_ps(depths, b_col[q] + k);
#pragma GCC unroll 4
            for (int r = 0; r < ROWS; ++r) {
                const __m512 av = _mm512_maskz_loadu_ps(depths, a_row[r] + k);
#pragma GCC unroll 4
                for (int q = 0; q < COLS; ++q) acc[r * COLS + q] = _mm512_fmadd_ps(av, bv[q], acc[r * COLS + q]);
            }
        }
        alignas(64) float sums[16];
        _mm512_store_ps(sums, sum16(acc));
        store_tile(sums, COLS, ROWS, cols, beta, View<float>{c.at(0, j), c.rs, c.cs});
    }
}

// The dot kernel over up to MR rows, four at a time.
template <int ROWS>
void dot_row_panel(int64_t kc, View<const float> a, View<const float> b, int64_t ncols, float beta,
                   View<float> c) {
    if constexpr (ROWS > 4) {
        dot_rows<4>(kc, a, b, ncols, beta, c);
        dot_row_panel<ROWS - 4>(kc, {a.at(4, 0), a.rs, a.cs}, b, ncols, beta, {c.at(4, 0), c.rs, c.cs});
    } else {
        dot_rows<ROWS>(kc, a, b, ncols, beta, c);
    }
}

// The kernels for 1 to MR rows: by_rows[0] broadcast, by_rows[1] dot.
using RowPanel = void (*)(int64_t, View<const float>, View<const float>, int64_t, float, View<float>);
template <int... R>
constexpr std::array<std::array<RowPanel, sizeof...(R)>, 2> kernels_by_rows(std::integer_sequence<int, R...>) {
    return {{{&broadcast_row_panel<R + 1>...}, {&dot_row_panel<R + 1>...}}};
}

template <>
void row_panel<float>(int64_t kc, View<const float> a, int rows, View<const float> b, int64_t ncols,
                      float beta, View<float> c) {
    static constexpr auto by_rows = kernels_by_rows(std::make_integer_sequence<int, Tile<float>::MR>{});
    by_rows[b.cs == 1 ? 0 : 1][size_t(rows - 1)](kc, a, b, ncols, beta, c);  // gemm: b.cs != 1 only for A B^T
}
#endif

// C[m0:m1, n0:n1] of C = beta * C + a b (a is M x K, b is K x N), on this thread.
template <typename T>
void compute_block(int64_t K, View<const T> a, View<const T> b, T beta, View<T> c, int64_t m0, int64_t m1,
                   int64_t n0, int64_t n1) {
    constexpr int MR = Tile<T>::MR;
    const int64_t kc_longest = b.cs == 1 ? KC : KC_DOT;
    const int64_t slices = (K + kc_longest - 1) / kc_longest, kc_max = (K + slices - 1) / slices;  // even
    for (int64_t k0 = 0; k0 < K; k0 += kc_max) {
        const int64_t kc = std::min(kc_max, K - k0);
        const T slice_beta = k0 == 0 ? beta : T(1);  // later slices add onto the first
        for (int64_t j0 = n0; j0 < n1; j0 += NC)
            for (int64_t i = m0; i < m1; i += MR)
                row_panel<T>(kc, {a.at(i, k0), a.rs, a.cs}, int(std::min<int64_t>(MR, m1 - i)),
                             {b.at(k0, j0), b.rs, b.cs}, std::min(NC, n1 - j0), slice_beta,
                             {c.at(i, j0), c.rs, c.cs});
    }
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    if (M == 0 || N == 0) return;
    if (K == 0) {  // op(A) op(B) is zero: only the beta scaling remains
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
        return;
    }
    // op(A) (i, k), op(B) (k, j) and C (i, j) as strided views; both transposed, the
    // product is computed as C^T = op(B)^T op(A)^T.
    View<const T> a = trans_a ? View<const T>{A, 1, lda} : View<const T>{A, lda, 1};
    View<const T> b = trans_b ? View<const T>{B, 1, ldb} : View<const T>{B, ldb, 1};
    View<T> c = {C, ldc, 1};
    if (trans_a && trans_b) {
        std::swap(M, N);
        a = {B, ldb, 1}, b = {A, lda, 1}, c = {C, 1, ldc};
    }

    // Threads split C along whichever side has more tiles, in whole tiles. Inside another
    // parallel region (conv2d's loop over images) there is one thread: no region at all.
    const int64_t tiles_m = (M + MR - 1) / MR, tiles_n = (N + NR - 1) / NR;
    const bool split_m = tiles_m > tiles_n;
    auto compute_share = [&](int64_t t, int64_t threads) {
        const int64_t tiles = split_m ? tiles_m : tiles_n, first = tiles * t / threads,
                      last = tiles * (t + 1) / threads;
        if (split_m)
            compute_block(K, a, b, beta, c, first * MR, std::min(M, last * MR), 0, N);
        else
            compute_block(K, a, b, beta, c, 0, M, first * NR, std::min(N, last * NR));
    };
    if (2.0 * double(M) * double(N) * double(K) <= 3e5 || omp_in_parallel()) return compute_share(0, 1);
#pragma omp parallel
    compute_share(omp_get_thread_num(), omp_get_num_threads());
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
