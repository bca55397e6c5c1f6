// The convolution's three products in bf16 (tensor/cpu/bf16.h), for conv2d_forward and
// conv2d_backward (tensor/cpu/conv2d.h) under `--precision bf16`: the same im2col
// matrices as GemmProducts, each operand packed in bf16 pairs along the summed
// dimension, products summed in float. Per image:
//   forward       y_b    (Cout, HW)  = W (Cout, CKK)   col (CKK, HW)      pairs along CKK
//   weight grad   dW^T   (CKK, Cout) += col (CKK, HW) dy_b^T (HW, Cout)   pairs along HW
//   input grad    dcol   (CKK, HW)   = W^T (CKK, Cout) dy_b (Cout, HW)    pairs along Cout
// The weight is packed once per call, both ways; the image operands per image. The
// im2col matrix is never stored in float: its rows are made one or two at a time in a
// small buffer and packed from there, k-major for the forward, row by row for the
// weight gradient (written into dW transposed, so no operand is ever transposed but
// dy_b, the smallest).
#pragma once
#include <algorithm>

#include "tensor/cpu/bf16.h"
#include "tensor/cpu/conv2d.h"

namespace vdm::cpu {

class Bf16Products {
public:
    Bf16Products(const ConvDims& d, const float* weight)
        : d_(d), weight_rows_(size_t(pairs(d.CKK()) * d.Cout)), weight_cols_(size_t(pairs(d.Cout) * d.CKK())) {
        // (k = ckk, j = o) is weight[o][ckk]; (k = o, j = ckk) is weight[o][ckk]
        pack_bf16_pairs(weight, 1, d.CKK(), d.CKK(), d.Cout, weight_rows_.data());
        pack_bf16_pairs(weight, d.CKK(), 1, d.Cout, d.CKK(), weight_cols_.data());
    }
    struct Scratch {
        HostBuffer<float> rows, dcol;
        HostBuffer<uint32_t> col_pairs, dy_pairs;
        explicit Scratch(const ConvDims& d)
            : rows(size_t(2 * d.HW())), dcol(d.k == 1 ? 0 : size_t(d.CKK() * d.HW())),
              col_pairs(size_t(std::max(pairs(d.CKK()) * d.HW(), pairs(d.HW()) * d.CKK()))),
              dy_pairs(size_t(std::max(pairs(d.HW()) * d.Cout, pairs(d.Cout) * d.HW()))) {}
    };
    void forward(Scratch& s, const float* xb, float beta, float* yb) const {
        // col k-major (k = ckk, j = hw): rows 2p and 2p + 1 of col make pair row p
        for (int64_t p = 0; p < pairs(d_.CKK()); ++p) {
            const int64_t rows = std::min<int64_t>(2, d_.CKK() - 2 * p);
            for (int64_t r = 0; r < rows; ++r) im2col_row(d_, xb, 2 * p + r, s.rows.data() + r * d_.HW());
            pack_bf16_pairs(s.rows.data(), d_.HW(), 1, rows, d_.HW(), s.col_pairs.data() + p * d_.HW());
        }
        gemm_bf16(d_.Cout, d_.HW(), pairs(d_.CKK()), weight_rows_.data(), 1, d_.Cout, s.col_pairs.data(), beta, yb,
                  d_.HW(), 1);
    }
    void weight_grad(Scratch& s, const float* xb, const float* dyb, float* dweight) const {
        // col row by row (i = ckk, k = hw), dy_b^T k-major (k = hw, j = o)
        const int64_t P = pairs(d_.HW());
        for (int64_t row = 0; row < d_.CKK(); ++row) {
            im2col_row(d_, xb, row, s.rows.data());
            pack_bf16_row_pairs(s.rows.data(), 1, d_.HW(), d_.HW(), s.col_pairs.data() + row * P);
        }
        pack_bf16_pairs(dyb, 1, d_.HW(), d_.HW(), d_.Cout, s.dy_pairs.data());
        // dW^T (ckk, o) lies at dweight[o * CKK + ckk]
        gemm_bf16(d_.CKK(), d_.Cout, P, s.col_pairs.data(), P, 1, s.dy_pairs.data(), 1.0f, dweight, 1, d_.CKK());
    }
    void input_grad(Scratch& s, const float* dyb, float* dxb) const {
        pack_bf16_pairs(dyb, d_.HW(), 1, d_.Cout, d_.HW(), s.dy_pairs.data());  // (k = o, j = hw)
        float* target = d_.k == 1 ? dxb : s.dcol.data();
        gemm_bf16(d_.CKK(), d_.HW(), pairs(d_.Cout), weight_cols_.data(), 1, d_.CKK(), s.dy_pairs.data(), 0.0f,
                  target, d_.HW(), 1);
        if (d_.k != 1) col2im(d_, s.dcol.data(), dxb);
    }

private:
    static int64_t pairs(int64_t K) { return (K + 1) / 2; }
    const ConvDims& d_;
    HostBuffer<uint32_t> weight_rows_, weight_cols_;
};

}  // namespace vdm::cpu
