// bfloat16 products for the CPU (`--precision bf16`): float operands rounded to bf16
// (the top 16 bits of a float, round to nearest even), multiplied exactly and summed in
// float. On CPUs with AVX-512 BF16 one vdpbf16ps does 32 such multiply-adds, twice the
// float FMA rate; elsewhere the same arithmetic runs in a portable loop.
//
// Operands are packed in pairs along the summed dimension k: word (p, j) of a K x N
// operand X holds bf16 X(2p, j) in its low half and X(2p + 1, j) in its high half (zero
// past K), P = ceil(K / 2). B is stored as P rows of N words ("k-major"); A, of M rows,
// either k-major (P rows of M words) or row by row (M rows of P words), given by its
// two strides. Then
//   C(i, j) = beta C(i, j) + sum_p (A_hi B_hi + A_lo B_lo)(i, p, j).
// Each word's two products are added high first, then low, in p order, exactly as
// vdpbf16ps does, so both kernels give the same bits (denormals aside: vdpbf16ps
// flushes them).
#pragma once
#include <cstdint>
#include <cstring>

namespace vdm::cpu {

// Round to nearest even; a NaN stays a (quiet) NaN.
inline uint16_t to_bf16(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float from_bf16(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// Whether this CPU (and this build) has the vdpbf16ps kernel; otherwise gemm_bf16 runs
// the portable loop, same results, several times slower.
bool bf16_vector_kernel();

// Packs (on this thread) the K x N operand whose element (k, j) is X[k * rs + j * cs]
// k-major: word (p, j) at out[p * N + j].
void pack_bf16_pairs(const float* X, int64_t rs, int64_t cs, int64_t K, int64_t N, uint32_t* out);
// Packs the M x K matrix X (rows ldx apart) row by row: word (i, p) at out[i * P + p].
void pack_bf16_row_pairs(const float* X, int64_t M, int64_t K, int64_t ldx, uint32_t* out);

// C = beta C + A B, A (M x K) and B (K x N) packed as above: A's word (i, p) at A[i * a_row + p * a_pair],
// B's word (p, j) at B[p * N + j], C(i, j) at C[i * c_row + j * c_col] (c_col = 1: C
// row-major; c_row = 1: C stored transposed). Multi-threaded over column tiles unless
// called inside a parallel region; the result does not depend on the thread count.
// vector_kernel = false forces the portable loop (tests compare the two).
void gemm_bf16(int64_t M, int64_t N, int64_t P, const uint32_t* A, int64_t a_row, int64_t a_pair,
               const uint32_t* B, float beta, float* C, int64_t c_row, int64_t c_col,
               bool vector_kernel = bf16_vector_kernel());

}  // namespace vdm::cpu
