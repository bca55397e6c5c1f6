// Winograd F(2x2, 3x3) products for the 3x3 convolutions (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016), per image, for conv2d_forward
// and conv2d_backward (tensor/cpu/conv2d.h) under `--conv winograd`.
//
// The output is cut into 2x2 tiles; tile t reads a 4x4 patch d of each input channel
// (rows 2ty-1..2ty+2, columns 2tx-1..2tx+2, zero outside). With the 3x3 filter g,
//   y_tile = A^T [ (G g G^T) (.) (B^T d B) ] A,
// (.) the elementwise product of 4x4 matrices, so for each of the 16 positions xi the
// sum over input channels is one matrix product:
//   M_xi (Cout, tiles) = U_xi (Cout, Cin) V_xi (Cin, tiles),  U = G g G^T, V = B^T d B,
// 16 products of Cout Cin tiles multiply-adds against 9 Cout Cin (4 tiles) for im2col:
// 2.25x fewer. The three passes:
//   forward       V of x, M = U V, y = A^T M A;
//   input grad    the same with the filters rotated by 180 degrees and Cin, Cout
//                 swapped (a "same" convolution's input gradient is one);
//   weight grad   dM = A dy A^T (the adjoint of the output transform), dU_xi = dM_xi V_xi^T,
//                 dg = G^T dU G (the adjoint of the filter transform), summed over images.
// Each transform is L X L^T with one of the constant matrices below; their zero and
// unit entries vanish at compile time. Rounding: G holds halves, so U and dg are exact
// up to one rounding per sum; the products agree with im2col to float rounding
// (tests/test_winograd.cpp).
#pragma once
#include <algorithm>

#include "tensor/cpu/conv2d.h"
#include "tensor/host_allocator.h"

namespace vdm::cpu {

namespace winograd {

constexpr double kBt[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};  // B^T
constexpr double kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
constexpr double kGt[3][4] = {{1, 0.5, 0.5, 0}, {0, 0.5, -0.5, 0}, {0, 0.5, 0.5, 1}};  // G^T
constexpr double kAt[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};                         // A^T
constexpr double kA[4][2] = {{1, 0}, {1, 1}, {1, -1}, {0, -1}};                      // A

// out (R x R) = L x L^T for the constant L (R x K) and x (K x K).
template <int R, int K, typename T>
inline void sandwich(const double (&L)[R][K], const T (&x)[K][K], T (&out)[R][R]) {
    T left[R][K];  // L x
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < K; ++j) {
            T acc = T(0);
#pragma GCC unroll 4
            for (int k = 0; k < K; ++k)
                if (L[i][k] != 0) acc += L[i][k] == 1 ? x[k][j] : L[i][k] == -1 ? -x[k][j] : T(L[i][k]) * x[k][j];
            left[i][j] = acc;
        }
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < R; ++j) {
            T acc = T(0);
#pragma GCC unroll 4
            for (int k = 0; k < K; ++k)
                if (L[j][k] != 0)
                    acc += L[j][k] == 1 ? left[i][k] : L[j][k] == -1 ? -left[i][k] : T(L[j][k]) * left[i][k];
            out[i][j] = acc;
        }
}

// out[r][t] = sum_k L[r][k] in(k, t) for t < n: L applied along one axis of n tiles at
// once (vectorized over t); in(k, t) = src[t * stride + k * step].
template <int R, int K, typename T>
inline void along_tiles(const double (&L)[R][K], const T* src, int64_t stride, int64_t step, int64_t n,
                        T* const (&out)[R]) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
        T* o = out[r];
#pragma omp simd
        for (int64_t t = 0; t < n; ++t) {
            T acc = T(0);
#pragma GCC unroll 4
            for (int k = 0; k < K; ++k) {
                const T x = src[t * stride + k * step];
                if (L[r][k] != 0) acc += L[r][k] == 1 ? x : L[r][k] == -1 ? -x : T(L[r][k]) * x;
            }
            o[t] = acc;
        }
    }
}

}  // namespace winograd

template <typename T> class WinogradProducts {
public:
    WinogradProducts(const ConvDims& d, const T* weight)
        : d_(d), tiles_h_((d.H + 1) / 2), tiles_w_((d.W + 1) / 2), u_(size_t(16 * d.Cout * d.Cin)),
          u_flipped_(size_t(16 * d.Cin * d.Cout)) {
        VDM_CHECK(d.k == 3, "winograd: 3x3 filters only, got ", d.k, "x", d.k);
        filter_transform(weight, false, u_.data());
        filter_transform(weight, true, u_flipped_.data());
    }
    struct Scratch {
        HostBuffer<T> v, m, du;
        explicit Scratch(const ConvDims& d)
            : v(size_t(16 * std::max(d.Cin, d.Cout) * tiles(d))), m(v.size()), du(size_t(16 * d.Cout * d.Cin)) {}
    };
    void forward(Scratch& s, const T* xb, T beta, T* yb) const {
        input_transform(xb, d_.Cin, s.v.data());
        products(u_.data(), d_.Cout, d_.Cin, s.v.data(), s.m.data());
        output_transform(s.m.data(), d_.Cout, beta, yb);
    }
    void input_grad(Scratch& s, const T* dyb, T* dxb) const {
        input_transform(dyb, d_.Cout, s.v.data());
        products(u_flipped_.data(), d_.Cin, d_.Cout, s.v.data(), s.m.data());
        output_transform(s.m.data(), d_.Cin, T(0), dxb);
    }
    void weight_grad(Scratch& s, const T* xb, const T* dyb, T* dweight) const {
        input_transform(xb, d_.Cin, s.v.data());
        output_adjoint(dyb, s.m.data());
        const int64_t n = tiles(d_);
        for (int xi = 0; xi < 16; ++xi)  // dU_xi (Cout, Cin) = dM_xi (Cout, n) V_xi^T (n, Cin)
            gemm(false, true, d_.Cout, d_.Cin, n, s.m.data() + xi * d_.Cout * n, n, s.v.data() + xi * d_.Cin * n, n,
                 T(0), s.du.data() + xi * d_.Cout * d_.Cin, d_.Cin);
        filter_adjoint(s.du.data(), dweight);
    }

private:
    static int64_t tiles(const ConvDims& d) { return ((d.H + 1) / 2) * ((d.W + 1) / 2); }

    // U[xi][o][c] = (G g G^T)[xi] for g = weight[o][c]; flipped: Ut[xi][c][o] from
    // weight[o][c] rotated by 180 degrees.
    void filter_transform(const T* weight, bool flipped, T* u) const {
        for (int64_t o = 0; o < d_.Cout; ++o)
            for (int64_t c = 0; c < d_.Cin; ++c) {
                const T* w = weight + (o * d_.Cin + c) * 9;
                T g[3][3], gg[4][4];
                for (int i = 0; i < 3; ++i)
                    for (int j = 0; j < 3; ++j) g[i][j] = flipped ? w[(2 - i) * 3 + (2 - j)] : w[i * 3 + j];
                winograd::sandwich(winograd::kG, g, gg);
                const int64_t rows = flipped ? d_.Cin : d_.Cout, cols = flipped ? d_.Cout : d_.Cin;
                const int64_t at = flipped ? c * cols + o : o * cols + c;
                for (int xi = 0; xi < 16; ++xi) u[xi * rows * cols + at] = gg[xi / 4][xi % 4];
            }
    }

    // V[xi][c][t] = (B^T d B)[xi] for the 4x4 patch d of channel c under tile t: B along
    // each input row for a whole row of tiles at once, then B^T down the four rows.
    void input_transform(const T* x, int64_t channels, T* v) const {
        const int64_t n = tiles(d_), tw = tiles_w_;
        HostBuffer<T> padded(size_t(2 * tw + 2), T(0)), rows(size_t(16 * tw));  // rows[i][j][tx]
        for (int64_t c = 0; c < channels; ++c)
            for (int64_t ty = 0; ty < tiles_h_; ++ty) {
                for (int i = 0; i < 4; ++i) {
                    T* const row_i[4] = {&rows[size_t((4 * i + 0) * tw)], &rows[size_t((4 * i + 1) * tw)],
                                         &rows[size_t((4 * i + 2) * tw)], &rows[size_t((4 * i + 3) * tw)]};
                    const int64_t h = 2 * ty - 1 + i;
                    if (h < 0 || h >= d_.H) {
                        std::fill(row_i[0], row_i[0] + 4 * tw, T(0));
                        continue;
                    }
                    // padded[1 + w] = x[c][h][w]: tile tx's patch columns are padded[2 tx + j]
                    std::copy(x + c * d_.HW() + h * d_.W, x + c * d_.HW() + (h + 1) * d_.W, &padded[1]);
                    winograd::along_tiles(winograd::kBt, padded.data(), 2, 1, tw, row_i);
                }
                for (int j = 0; j < 4; ++j) {
                    T* const out[4] = {v + ((0 * 4 + j) * channels + c) * n + ty * tw,
                                       v + ((1 * 4 + j) * channels + c) * n + ty * tw,
                                       v + ((2 * 4 + j) * channels + c) * n + ty * tw,
                                       v + ((3 * 4 + j) * channels + c) * n + ty * tw};
                    winograd::along_tiles(winograd::kBt, &rows[size_t(j * tw)], 1, 4 * tw, tw, out);
                }
            }
    }

    // M_xi (rows, tiles) = U_xi (rows, depth) V_xi (depth, tiles), for the 16 xi.
    void products(const T* u, int64_t rows, int64_t depth, const T* v, T* m) const {
        const int64_t n = tiles(d_);
        for (int xi = 0; xi < 16; ++xi)
            gemm(false, false, rows, n, depth, u + xi * rows * depth, depth, v + xi * depth * n, n, T(0),
                 m + xi * rows * n, n);
    }

    // y[o] = beta y[o] + (A^T M A) of each tile, cut at the image's edge: A^T down the
    // four rows of M for a row of tiles, then A along each of the two output rows.
    void output_transform(const T* m, int64_t channels, T beta, T* y) const {
        const int64_t n = tiles(d_), tw = tiles_w_;
        HostBuffer<T> rows(size_t(8 * tw)), cols(size_t(2 * tw));  // rows[a][j][tx], cols[b][tx]
        for (int64_t o = 0; o < channels; ++o)
            for (int64_t ty = 0; ty < tiles_h_; ++ty) {
                for (int j = 0; j < 4; ++j) {
                    T* const out[2] = {&rows[size_t(j * tw)], &rows[size_t((4 + j) * tw)]};
                    winograd::along_tiles(winograd::kAt, m + (j * channels + o) * n + ty * tw, 1,
                                          4 * channels * n, tw, out);
                }
                for (int a = 0; a < 2 && 2 * ty + a < d_.H; ++a) {
                    T* const out[2] = {&cols[0], &cols[size_t(tw)]};
                    winograd::along_tiles(winograd::kAt, &rows[size_t(4 * a * tw)], 1, tw, tw, out);
                    T* yrow = y + o * d_.HW() + (2 * ty + a) * d_.W;
                    for (int64_t w = 0; w < d_.W; ++w) {
                        const T value = cols[size_t((w % 2) * tw + w / 2)];
                        yrow[w] = beta == T(0) ? value : beta * yrow[w] + value;  // beta = 0 ignores y
                    }
                }
            }
    }

    // dM[xi][o][t] = (A dy A^T)[xi], dy the tile's 2x2 of dy[o] (zero past the edge): A
    // along each of the two dy rows for a row of tiles, then A down to four rows.
    void output_adjoint(const T* dy, T* dm) const {
        const int64_t n = tiles(d_), tw = tiles_w_;
        HostBuffer<T> padded(size_t(2 * tw), T(0)), rows(size_t(8 * tw));  // rows[a][j][tx]
        for (int64_t o = 0; o < d_.Cout; ++o)
            for (int64_t ty = 0; ty < tiles_h_; ++ty) {
                for (int a = 0; a < 2; ++a) {
                    T* const out[4] = {&rows[size_t((4 * a + 0) * tw)], &rows[size_t((4 * a + 1) * tw)],
                                       &rows[size_t((4 * a + 2) * tw)], &rows[size_t((4 * a + 3) * tw)]};
                    const int64_t h = 2 * ty + a;
                    if (h >= d_.H) {
                        std::fill(out[0], out[0] + 4 * tw, T(0));
                        continue;
                    }
                    std::copy(dy + o * d_.HW() + h * d_.W, dy + o * d_.HW() + (h + 1) * d_.W, padded.data());
                    winograd::along_tiles(winograd::kA, padded.data(), 2, 1, tw, out);
                }
                for (int j = 0; j < 4; ++j) {
                    T* const out[4] = {dm + ((0 * 4 + j) * d_.Cout + o) * n + ty * tw,
                                       dm + ((1 * 4 + j) * d_.Cout + o) * n + ty * tw,
                                       dm + ((2 * 4 + j) * d_.Cout + o) * n + ty * tw,
                                       dm + ((3 * 4 + j) * d_.Cout + o) * n + ty * tw};
                    winograd::along_tiles(winograd::kA, &rows[size_t(j * tw)], 1, 4 * tw, tw, out);
                }
            }
    }

    // dweight[o][c] += G^T dU[.][o][c] G.
    void filter_adjoint(const T* du, T* dweight) const {
        for (int64_t o = 0; o < d_.Cout; ++o)
            for (int64_t c = 0; c < d_.Cin; ++c) {
                T tile[4][4], out[3][3];
                for (int xi = 0; xi < 16; ++xi) tile[xi / 4][xi % 4] = du[(xi * d_.Cout + o) * d_.Cin + c];
                winograd::sandwich(winograd::kGt, tile, out);
                T* w = dweight + (o * d_.Cin + c) * 9;
                for (int i = 0; i < 3; ++i)
                    for (int j = 0; j < 3; ++j) w[i * 3 + j] += out[i][j];
            }
    }

    const ConvDims& d_;
    const int64_t tiles_h_, tiles_w_;
    HostBuffer<T> u_, u_flipped_;
};

}  // namespace vdm::cpu
