#include "tensor/cpu/bf16.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <utility>
#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

namespace vdm::cpu {

namespace {

inline uint32_t pair_word(float lo, float hi) {
    return uint32_t(to_bf16(lo)) | uint32_t(to_bf16(hi)) << 16;
}

// Register tile: MR rows of C (words of A broadcast) times NR columns (two vectors of
// 16 words of B); 16 accumulators, as the float kernel (tensor/cpu/gemm.cpp).
constexpr int MR = 8, NR = 32;
constexpr int64_t PC = 256;  // pairs per depth slice: MR x PC words of A stay in L1

// A's word (i, p), B's word (p, j), C's element (i, j), as gemm_bf16 describes them.
struct Operands {
    const uint32_t* a;
    int64_t a_row, a_pair;
    const uint32_t* b;
    int64_t ldb;
    float* c;
    int64_t c_row, c_col;
};

// C[0:rows, 0:ncols] = beta C + the sum over pc pairs, portable: the same order of
// operations as the vector kernel (per element: p ascending, high product first).
void portable_panel(int64_t pc, const Operands& o, int rows, int64_t ncols, float beta) {
    for (int r = 0; r < rows; ++r)
        for (int64_t j = 0; j < ncols; ++j) {
            float acc = 0.0f;
            for (int64_t p = 0; p < pc; ++p) {
                const uint32_t wa = o.a[r * o.a_row + p * o.a_pair], wb = o.b[p * o.ldb + j];
                acc += from_bf16(uint16_t(wa >> 16)) * from_bf16(uint16_t(wb >> 16));
                acc += from_bf16(uint16_t(wa)) * from_bf16(uint16_t(wb));
            }
            float& dst = o.c[r * o.c_row + j * o.c_col];
            dst = beta == 0.0f ? acc : beta * dst + acc;  // beta = 0 ignores C
        }
}

#if defined(__AVX512BF16__)
// The vector kernel for exactly ROWS rows (1 <= ROWS <= MR).
template <int ROWS> void vector_panel(int64_t pc, const Operands& o, int64_t ncols, float beta) {
    constexpr int NV = NR / 16;
    const __m512 vbeta = _mm512_set1_ps(beta);
    for (int64_t j = 0; j < ncols; j += NR) {
        const int cols = int(std::min<int64_t>(NR, ncols - j));
        __mmask16 lanes[NV];  // columns past the edge are neither loaded nor stored
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) lanes[v] = __mmask16((1u << std::clamp(cols - 16 * v, 0, 16)) - 1);
        __m512 acc[ROWS][NV];
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
        const uint32_t* ap = o.a;
        const uint32_t* bp = o.b + j;
        for (int64_t p = 0; p < pc; ++p, ap += o.a_pair, bp += o.ldb) {
            __m512bh bv[NV];
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_maskz_loadu_epi32(lanes[v], bp + 16 * v);
#pragma GCC unroll 8
            for (int r = 0; r < ROWS; ++r) {
                const __m512bh ar = (__m512bh)_mm512_set1_epi32(int(ap[r * o.a_row]));
#pragma GCC unroll 2
                for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], ar, bv[v]);
            }
        }
        if (o.c_col != 1) {  // C transposed: element by element
            alignas(64) float tile[ROWS][NR];
#pragma GCC unroll 8
            for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 2
                for (int v = 0; v < NV; ++v) _mm512_store_ps(&tile[r][16 * v], acc[r][v]);
            for (int r = 0; r < ROWS; ++r)
                for (int jj = 0; jj < cols; ++jj) {
                    float& dst = o.c[r * o.c_row + (j + jj) * o.c_col];
                    dst = beta == 0.0f ? tile[r][jj] : beta * dst + tile[r][jj];
                }
            continue;
        }
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) {
                float* dst = o.c + r * o.c_row + j + 16 * v;
                __m512 sum = acc[r][v];
                if (beta != 0.0f) sum = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(lanes[v], dst), sum);
                _mm512_mask_storeu_ps(dst, lanes[v], sum);
            }
    }
}

using Panel = void (*)(int64_t, const Operands&, int64_t, float);
template <int... R>
constexpr std::array<Panel, sizeof...(R)> panels_by_rows(std::integer_sequence<int, R...>) {
    return {&vector_panel<R + 1>...};
}
#endif

// C[m0:m1, n0:n1], on this thread: depth slices, then row panels of MR rows.
void compute_block(int64_t P, const Operands& o, float beta, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                   bool vector_kernel) {
    const int64_t slices = (P + PC - 1) / PC, pc_max = (P + slices - 1) / slices;
    for (int64_t p0 = 0; p0 < P; p0 += pc_max) {
        const int64_t pc = std::min(pc_max, P - p0);
        const float slice_beta = p0 == 0 ? beta : 1.0f;  // later slices add onto the first
        for (int64_t i = m0; i < m1; i += MR) {
            const int rows = int(std::min<int64_t>(MR, m1 - i));
            const Operands panel{o.a + i * o.a_row + p0 * o.a_pair, o.a_row, o.a_pair, o.b + p0 * o.ldb + n0,
                                 o.ldb, o.c + i * o.c_row + n0 * o.c_col, o.c_row, o.c_col};
#if defined(__AVX512BF16__)
            static constexpr auto by_rows = panels_by_rows(std::make_integer_sequence<int, MR>{});
            if (vector_kernel) {
                by_rows[size_t(rows - 1)](pc, panel, n1 - n0, slice_beta);
                continue;
            }
#endif
            portable_panel(pc, panel, rows, n1 - n0, slice_beta);
        }
    }
}

}  // namespace

bool bf16_vector_kernel() {
#if defined(__AVX512BF16__)
    static const bool supported = __builtin_cpu_supports("avx512bf16");
    return supported;
#else
    return false;
#endif
}

void pack_bf16_pairs(const float* X, int64_t rs, int64_t cs, int64_t K, int64_t N, uint32_t* out) {
    for (int64_t p = 0; p < (K + 1) / 2; ++p) {
        const float* lo = X + 2 * p * rs;
        uint32_t* row = out + p * N;
        if (2 * p + 1 == K) {  // odd K: the last high half is zero
            for (int64_t j = 0; j < N; ++j) row[j] = pair_word(lo[j * cs], 0.0f);
            continue;
        }
        const float* hi = lo + rs;
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) row[j] = pair_word(lo[j * cs], hi[j * cs]);
    }
}

void pack_bf16_row_pairs(const float* X, int64_t M, int64_t K, int64_t ldx, uint32_t* out) {
    const int64_t P = (K + 1) / 2, full = K / 2;
    for (int64_t i = 0; i < M; ++i) {
        const float* x = X + i * ldx;
        uint32_t* row = out + i * P;
#pragma omp simd
        for (int64_t p = 0; p < full; ++p) row[p] = pair_word(x[2 * p], x[2 * p + 1]);
        if (full < P) row[full] = pair_word(x[K - 1], 0.0f);  // odd K
    }
}

void gemm_bf16(int64_t M, int64_t N, int64_t P, const uint32_t* A, int64_t a_row, int64_t a_pair,
               const uint32_t* B, float beta, float* C, int64_t c_row, int64_t c_col, bool vector_kernel) {
    if (M == 0 || N == 0) return;
    if (P == 0) {  // an empty sum: only the beta scaling remains
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
                float& dst = C[i * c_row + j * c_col];
                dst = beta == 0.0f ? 0.0f : beta * dst;
            }
        return;
    }
    const Operands operands{A, a_row, a_pair, B, N, C, c_row, c_col};
    // Threads split C along whichever side has more tiles, in whole tiles; inside
    // another parallel region there is one thread.
    const int64_t tiles_m = (M + MR - 1) / MR, tiles_n = (N + NR - 1) / NR;
    const bool split_m = tiles_m > tiles_n;
    auto compute_share = [&](int64_t t, int64_t threads) {
        const int64_t tiles = split_m ? tiles_m : tiles_n, first = tiles * t / threads,
                      last = tiles * (t + 1) / threads;
        if (split_m)
            compute_block(P, operands, beta, first * MR, std::min(M, last * MR), 0, N, vector_kernel);
        else
            compute_block(P, operands, beta, 0, M, first * NR, std::min(N, last * NR), vector_kernel);
    };
    if (4.0 * double(M) * double(N) * double(P) <= 3e5 || omp_in_parallel()) return compute_share(0, 1);
#pragma omp parallel
    compute_share(omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace vdm::cpu
