// CPU 2-D convolution, stride 1, "same" zero padding, odd square kernel.
// Fast path: im2col + gemm per image. conv2d_naive_* are the direct-loop references.
//   x (B, Cin, H, W), weight (Cout, Cin, k, k), bias (Cout), y (B, Cout, H, W)
#pragma once
#include <cstring>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/parallel.h"
#include "tensor/tensor.h"

namespace vdm::cpu {

struct ConvDims {
    int64_t B, Cin, Cout, H, W, k, pad;
    explicit ConvDims(const Tensor& x, const Tensor& weight)
        : B(x.dim(0)), Cin(x.dim(1)), Cout(weight.dim(0)), H(x.dim(2)), W(x.dim(3)),
          k(weight.dim(2)), pad((weight.dim(2) - 1) / 2) {}
    int64_t HW() const { return H * W; }
    int64_t CKK() const { return Cin * k * k; }  // rows of the im2col matrix
};

// col (Cin*k*k, H*W): row (c, ky, kx) holds x[c] shifted by (ky - pad, kx - pad).
template <typename T> void im2col(const ConvDims& d, const T* x, T* col) {
#pragma omp parallel for if (d.CKK() * d.HW() > kParallelGrain)
    for (int64_t row = 0; row < d.CKK(); ++row) {
        int64_t c = row / (d.k * d.k), ky = (row / d.k) % d.k, kx = row % d.k;
        T* out = col + row * d.HW();
        for (int64_t h = 0; h < d.H; ++h) {
            int64_t ih = h + ky - d.pad;
            for (int64_t w = 0; w < d.W; ++w) {
                int64_t iw = w + kx - d.pad;
                bool inside = ih >= 0 && ih < d.H && iw >= 0 && iw < d.W;
                out[h * d.W + w] = inside ? x[(c * d.H + ih) * d.W + iw] : T(0);
            }
        }
    }
}

// The adjoint of im2col: dx[c] += every shifted row of dcol. Parallel over channels,
// since the rows of one channel write to the same dx[c].
template <typename T> void col2im(const ConvDims& d, const T* dcol, T* dx) {
#pragma omp parallel for if (d.CKK() * d.HW() > kParallelGrain)
    for (int64_t c = 0; c < d.Cin; ++c) {
        T* dxc = dx + c * d.HW();
        std::memset(static_cast<void*>(dxc), 0, size_t(d.HW()) * sizeof(T));
        for (int64_t ky = 0; ky < d.k; ++ky)
            for (int64_t kx = 0; kx < d.k; ++kx) {
                const T* in = dcol + ((c * d.k + ky) * d.k + kx) * d.HW();
                for (int64_t h = 0; h < d.H; ++h) {
                    int64_t ih = h + ky - d.pad;
                    if (ih < 0 || ih >= d.H) continue;
                    for (int64_t w = 0; w < d.W; ++w) {
                        int64_t iw = w + kx - d.pad;
                        if (iw >= 0 && iw < d.W) dxc[ih * d.W + iw] += in[h * d.W + w];
                    }
                }
            }
    }
}

// The im2col matrix of one image: x itself for a 1x1 kernel, else written into col.
template <typename T> const T* columns(const ConvDims& d, const T* x, std::vector<T>& col) {
    if (d.k == 1) return x;
    im2col(d, x, col.data());
    return col.data();
}

template <typename T>
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
    ConvDims d(x, weight);
    const T* px = x.data<T>();
    const T* pw = weight.data<T>();
    T* py = y.data<T>();
    std::vector<T> col(d.k == 1 ? 0 : size_t(d.CKK() * d.HW()));
    for (int64_t b = 0; b < d.B; ++b) {
        const T* xb = px + b * d.Cin * d.HW();
        T* yb = py + b * d.Cout * d.HW();
        T beta = T(0);
        if (bias.defined()) {  // start from the bias, then add the product
            const T* pb = bias.data<T>();
            for (int64_t o = 0; o < d.Cout; ++o)
                for (int64_t i = 0; i < d.HW(); ++i) yb[o * d.HW() + i] = pb[o];
            beta = T(1);
        }
        const T* cols = columns(d, xb, col);
        // y_b (Cout, HW) = weight (Cout, CKK) x col (CKK, HW)
        gemm(false, false, d.Cout, d.HW(), d.CKK(), pw, d.CKK(), cols, d.HW(), beta, yb, d.HW());
    }
}

template <typename T>
void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dx,
                     Tensor& dweight, Tensor& dbias) {
    ConvDims d(x, weight);
    const T* px = x.data<T>();
    const T* pw = weight.data<T>();
    const T* pdy = dy.data<T>();
    std::vector<T> col(d.k == 1 ? 0 : size_t(d.CKK() * d.HW()));
    std::vector<T> dcol(size_t(d.CKK() * d.HW()));
    if (dbias.defined()) {
        T* pdb = dbias.data<T>();
        for (int64_t o = 0; o < d.Cout; ++o) {
            double acc = 0.0;
            for (int64_t b = 0; b < d.B; ++b) {
                const T* row = pdy + (b * d.Cout + o) * d.HW();
                for (int64_t i = 0; i < d.HW(); ++i) acc += double(row[i]);
            }
            pdb[o] = T(acc);
        }
    }
    for (int64_t b = 0; b < d.B; ++b) {
        const T* xb = px + b * d.Cin * d.HW();
        const T* dyb = pdy + b * d.Cout * d.HW();
        if (dweight.defined()) {
            const T* cols = columns(d, xb, col);
            // dweight (Cout, CKK) += dy_b (Cout, HW) x col^T (HW, CKK)
            gemm(false, true, d.Cout, d.CKK(), d.HW(), dyb, d.HW(), cols, d.HW(),
                 b == 0 ? T(0) : T(1), dweight.data<T>(), d.CKK());
        }
        if (dx.defined()) {
            T* dxb = dx.data<T>() + b * d.Cin * d.HW();
            T* target = d.k == 1 ? dxb : dcol.data();
            // dcol (CKK, HW) = weight^T (CKK, Cout) x dy_b (Cout, HW)
            gemm(true, false, d.CKK(), d.HW(), d.Cout, pw, d.CKK(), dyb, d.HW(), T(0), target, d.HW());
            if (d.k != 1) col2im(d, dcol.data(), dxb);
        }
    }
}

// Direct definition: y[b,o,h,w] = bias[o] + sum_{c,ky,kx} weight[o,c,ky,kx] x[b,c,h+ky-p,w+kx-p].
template <typename T>
void conv2d_naive_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
    ConvDims d(x, weight);
    const T* px = x.data<T>();
    const T* pw = weight.data<T>();
    T* py = y.data<T>();
    for (int64_t b = 0; b < d.B; ++b)
        for (int64_t o = 0; o < d.Cout; ++o)
            for (int64_t h = 0; h < d.H; ++h)
                for (int64_t w = 0; w < d.W; ++w) {
                    double acc = bias.defined() ? double(bias.data<T>()[o]) : 0.0;
                    for (int64_t c = 0; c < d.Cin; ++c)
                        for (int64_t ky = 0; ky < d.k; ++ky)
                            for (int64_t kx = 0; kx < d.k; ++kx) {
                                int64_t ih = h + ky - d.pad, iw = w + kx - d.pad;
                                if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
                                acc += double(pw[((o * d.Cin + c) * d.k + ky) * d.k + kx]) *
                                       double(px[((b * d.Cin + c) * d.H + ih) * d.W + iw]);
                            }
                    py[((b * d.Cout + o) * d.H + h) * d.W + w] = T(acc);
                }
}

}  // namespace vdm::cpu
