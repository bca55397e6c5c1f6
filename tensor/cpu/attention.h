// CPU fused attention, flash-attention style: the N x N matrix softmax(q^T k) never
// exists; tiles of W queries x W keys pass through small per-thread buffers.
//
// Per head, q, k, v, out are (d, N), row c holding N contiguous values (tensor/backend.h).
// With S = q^T k (q already scaled), L_i = log sum_j exp(S_ij), P_ij = exp(S_ij - L_i):
//   out[c][i] = sum_j v[c][j] P_ij
// Forward: online softmax over the key tiles, with a running max m_i and sum l_i per query:
//   m'_i = max(m_i, max_j S_ij),   alpha_i = exp(m_i - m'_i)      (m_i = -inf: alpha_i = 0)
//   l'_i = alpha_i l_i + sum_j exp(S_ij - m'_i)
//   o'_i = alpha_i o_i + sum_j exp(S_ij - m'_i) v_j
// and after the last tile out_i = o_i / l_i, L_i = m_i + log l_i.
// Backward: P recomputed tile by tile from q, k and L; with D_i = sum_c dout[c][i] out[c][i]
// (= sum_j P_ij dP_ij):
//   dP_ij = sum_c dout[c][i] v[c][j],   dS_ij = P_ij (dP_ij - D_i)
//   dv[c][j] = sum_i dout[c][i] P_ij,   dk[c][j] = sum_i q[c][i] dS_ij,
//   dq[c][i] = sum_j k[c][j] dS_ij
//
// Threads: the forward splits into (head, query tile) items; the backward into (head,
// chunk of key tiles) items, each owning dk and dv of its keys and adding its share of
// dq into a partial of its own, summed over chunks afterwards in chunk order. No item
// writes what another reads, every sum runs in a fixed order, and the split depends on
// the shapes only: results are the same bits on every run and for any thread count.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/cpu/parallel.h"
#include "tensor/cpu/simd_exp.h"
#include "tensor/host_allocator.h"
#include "tensor/tensor.h"

namespace vdm::cpu {

namespace attention_detail {

// Tile width W: two AVX-512 vectors (32 floats, 16 doubles). Tiles are W x W.
template <typename T> constexpr int kTile = 128 / int(sizeof(T));
constexpr int kRows = 8;  // rows of a tile product accumulated in registers at once
// Backward items to aim for: a head's keys split into chunks until there are this many.
constexpr int64_t kBackwardItems = 64;

// Whether a call is worth a parallel region (d N^2 multiply-adds per head).
inline bool worth_threads(int64_t BH, int64_t d, int64_t N) {
    return double(BH) * double(d) * double(N) * double(N) > double(kParallelGrain);
}

// A matrix read in place: element (r, t) is data[r * row + t * col].
template <typename T> struct Strided {
    const T* data;
    int64_t row, col;
};

// C[r][0:cols] = (C[r][0:cols] if accumulate) + sum_{t < depth} A(r, t) B[t][0:cols], for
// r < rows; B is packed depth x W (rows W apart), C's rows are ldc apart.
template <typename T>
void tile_product(int64_t rows, int64_t depth, Strided<T> A, const T* B, T* C, int64_t ldc,
                  int cols, bool accumulate) {
    constexpr int W = kTile<T>;
    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
        const int n = int(std::min<int64_t>(kRows, rows - r0));
        const T* a[kRows];  // a short block repeats its last row, and drops it when storing
        for (int r = 0; r < kRows; ++r) a[r] = A.data + (r0 + std::min(r, n - 1)) * A.row;
        T acc[kRows][W] = {};
        for (int64_t t = 0; t < depth; ++t) {
            const T* bt = B + t * W;
            for (int r = 0; r < kRows; ++r) {
                const T ar = a[r][t * A.col];
#pragma omp simd
                for (int w = 0; w < W; ++w) acc[r][w] += ar * bt[w];
            }
        }
        for (int r = 0; r < n; ++r) {
            T* c = C + (r0 + r) * ldc;
            for (int w = 0; w < cols; ++w) c[w] = accumulate ? c[w] + acc[r][w] : acc[r][w];
        }
    }
}

// dst[c][0:W] = src[c * ld + 0:n], zero past n, for the d rows c: a tile packed for tile_product.
template <typename T> void pack_tile(const T* src, int64_t ld, int64_t d, int n, T* dst) {
    constexpr int W = kTile<T>;
    for (int64_t c = 0; c < d; ++c)
        for (int w = 0; w < W; ++w) dst[c * W + w] = w < n ? src[c * ld + w] : T(0);
}

}  // namespace attention_detail

template <typename T>
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                       Tensor& logsumexp) {
    using namespace attention_detail;
    constexpr int W = kTile<T>;
    const int64_t BH = q.dim(0), d = q.dim(1), N = q.dim(2), tiles = (N + W - 1) / W;
    const T *pq = q.data<T>(), *pk = k.data<T>(), *pv = v.data<T>();
    T *pout = out.data<T>(), *plse = logsumexp.data<T>();
#pragma omp parallel if (worth_threads(BH, d, N))
    {
        // Per thread: the query tile (d x W); S, then exp(S - m), as keys x queries
        // (vectors along the queries); the output accumulator o (d x W).
        HostBuffer<T> scratch(size_t(2 * d * W + W * W));
        T *q_tile = scratch.data(), *o = q_tile + d * W, *p = o + d * W;
#pragma omp for schedule(static)
        for (int64_t item = 0; item < BH * tiles; ++item) {
            const int64_t b = item / tiles, head = b * d * N, i0 = item % tiles * W;
            const int nq = int(std::min<int64_t>(W, N - i0));
            pack_tile(pq + head + i0, N, d, nq, q_tile);  // padded queries: S = 0, never stored
            std::fill(o, o + d * W, T(0));
            T m[W], l[W];
            std::fill(m, m + W, -std::numeric_limits<T>::infinity());
            std::fill(l, l + W, T(0));
            for (int64_t j0 = 0; j0 < N; j0 += W) {
                const int nk = int(std::min<int64_t>(W, N - j0));
                // p[j][i] = S_ij = sum_c k[c][j] q[c][i]
                tile_product<T>(nk, d, {pk + head + j0, 1, N}, q_tile, p, W, W, false);
                T m_new[W], alpha[W], tile_sum[W] = {};
                std::copy(m, m + W, m_new);
                for (int j = 0; j < nk; ++j)
#pragma omp simd
                    for (int i = 0; i < W; ++i) m_new[i] = std::max(m_new[i], p[j * W + i]);
                for (int j = 0; j < nk; ++j)
#pragma omp simd
                    for (int i = 0; i < W; ++i) {
                        p[j * W + i] = simd_exp(p[j * W + i] - m_new[i]);
                        tile_sum[i] += p[j * W + i];
                    }
#pragma omp simd
                for (int i = 0; i < W; ++i) {
                    alpha[i] = simd_exp(m[i] - m_new[i]);
                    l[i] = alpha[i] * l[i] + tile_sum[i];
                    m[i] = m_new[i];
                }
                for (int64_t c = 0; c < d; ++c)
#pragma omp simd
                    for (int i = 0; i < W; ++i) o[c * W + i] *= alpha[i];
                // o[c][i] += sum_j v[c][j] p[j][i]
                tile_product<T>(d, nk, {pv + head + j0, N, 1}, p, o, W, W, true);
            }
            for (int64_t c = 0; c < d; ++c)
                for (int i = 0; i < nq; ++i) pout[head + c * N + i0 + i] = o[c * W + i] / l[i];
            for (int i = 0; i < nq; ++i) plse[b * N + i0 + i] = m[i] + T(std::log(l[i]));
        }
    }
}

template <typename T>
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& logsumexp, const Tensor& dout, Tensor& dq, Tensor& dk,
                        Tensor& dv) {
    using namespace attention_detail;
    constexpr int W = kTile<T>;
    const int64_t BH = q.dim(0), d = q.dim(1), N = q.dim(2), tiles = (N + W - 1) / W;
    const T *pq = q.data<T>(), *pk = k.data<T>(), *pv = v.data<T>(), *pout = out.data<T>();
    const T *plse = logsumexp.data<T>(), *pdout = dout.data<T>();
    T *pdq = dq.data<T>(), *pdk = dk.data<T>(), *pdv = dv.data<T>();
    if (q.numel() == 0) return;  // no gradient to write (the op rejects empty tensors)
    const bool parallel = worth_threads(BH, d, N);

    // D (BH, N): D_i = sum_c dout[c][i] out[c][i], summed in double.
    HostBuffer<T> D(size_t(BH * N));
#pragma omp parallel for if (parallel)
    for (int64_t b = 0; b < BH; ++b) {
        HostBuffer<double> sum(size_t(N), 0.0);
        for (int64_t c = 0; c < d; ++c) {
            const T *g = pdout + (b * d + c) * N, *o = pout + (b * d + c) * N;
#pragma omp simd
            for (int64_t i = 0; i < N; ++i) sum[size_t(i)] += double(g[i]) * double(o[i]);
        }
        for (int64_t i = 0; i < N; ++i) D[size_t(b * N + i)] = T(sum[size_t(i)]);
    }

    // Each head's key tiles in `chunks` chunks of `per_chunk` tiles (the last may be
    // shorter); with one chunk a head's dq is summed in place, else in its chunks'
    // partials (BH, chunks, d, N), added up at the end.
    const int64_t want = std::min(tiles, (kBackwardItems + BH - 1) / BH);
    const int64_t per_chunk = (tiles + want - 1) / want;
    const int64_t chunks = (tiles + per_chunk - 1) / per_chunk;
    HostBuffer<T> partials(size_t(chunks > 1 ? BH * chunks * d * N : 0));
    T* dq_sum = chunks > 1 ? partials.data() : pdq;
    std::fill(dq_sum, dq_sum + BH * chunks * d * N, T(0));

#pragma omp parallel if (parallel)
    {
        // Per thread: the key tile's k and v (d x W); P, and dP turned into dS (queries x
        // keys, vectors along the keys); dS^T (keys x queries); dk and dv (d x W).
        HostBuffer<T> scratch(size_t(4 * d * W + 3 * W * W));
        T *k_tile = scratch.data(), *v_tile = k_tile + d * W, *dk_tile = v_tile + d * W;
        T *dv_tile = dk_tile + d * W, *p = dv_tile + d * W, *ds = p + W * W, *ds_t = ds + W * W;
#pragma omp for schedule(static)
        for (int64_t item = 0; item < BH * chunks; ++item) {
            const int64_t b = item / chunks, head = b * d * N;
            const T *hq = pq + head, *hk = pk + head, *hdout = pdout + head;
            const T *L = plse + b * N, *Db = D.data() + b * N;
            T* dq_part = dq_sum + item * d * N;
            const int64_t first = item % chunks * per_chunk;
            for (int64_t j0 = first * W; j0 < std::min(tiles, first + per_chunk) * W; j0 += W) {
                const int nk = int(std::min<int64_t>(W, N - j0));
                pack_tile(hk + j0, N, d, nk, k_tile);
                pack_tile(pv + head + j0, N, d, nk, v_tile);
                std::fill(dk_tile, dk_tile + 2 * d * W, T(0));  // dk_tile and dv_tile
                for (int64_t i0 = 0; i0 < N; i0 += W) {
                    const int nq = int(std::min<int64_t>(W, N - i0));
                    // p[i][j] = S_ij, ds[i][j] = dP_ij: sums over the d channels
                    tile_product<T>(nq, d, {hq + i0, 1, N}, k_tile, p, W, W, false);
                    tile_product<T>(nq, d, {hdout + i0, 1, N}, v_tile, ds, W, W, false);
                    for (int i = 0; i < nq; ++i) {
                        T *pi = p + i * W, *dsi = ds + i * W;
                        const T Li = L[i0 + i], Di = Db[i0 + i];
#pragma omp simd
                        for (int j = 0; j < W; ++j) {  // padded keys (j >= nk) get P = 0
                            pi[j] = j < nk ? simd_exp(pi[j] - Li) : T(0);
                            dsi[j] = pi[j] * (dsi[j] - Di);
                        }
                    }
                    // dv[c][j] += sum_i dout[c][i] P_ij,  dk[c][j] += sum_i q[c][i] dS_ij
                    tile_product<T>(d, nq, {hdout + i0, N, 1}, p, dv_tile, W, W, true);
                    tile_product<T>(d, nq, {hq + i0, N, 1}, ds, dk_tile, W, W, true);
                    // dq[c][i] += sum_j k[c][j] dS_ij, over dS^T: queries along the vectors
                    for (int j = 0; j < nk; ++j)
                        for (int i = 0; i < W; ++i) ds_t[j * W + i] = i < nq ? ds[i * W + j] : T(0);
                    tile_product<T>(d, nk, {hk + j0, N, 1}, ds_t, dq_part + i0, N, nq, true);
                }
                for (int64_t c = 0; c < d; ++c)
                    for (int j = 0; j < nk; ++j) {
                        pdk[head + c * N + j0 + j] = dk_tile[c * W + j];
                        pdv[head + c * N + j0 + j] = dv_tile[c * W + j];
                    }
            }
        }
    }

    if (chunks == 1) return;
    // dq = the sum of each head's chunk partials, in chunk order
#pragma omp parallel for if (parallel)
    for (int64_t b = 0; b < BH; ++b)
        for (int64_t x = 0; x < d * N; ++x) {
            T sum = T(0);
            for (int64_t chunk = 0; chunk < chunks; ++chunk)
                sum += partials[size_t((b * chunks + chunk) * d * N + x)];
            pdq[b * d * N + x] = sum;
        }
}

}  // namespace vdm::cpu
