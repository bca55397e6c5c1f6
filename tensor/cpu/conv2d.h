// CPU 2-D convolution, stride 1, "same" zero padding, odd square kernel.
// Fast path: im2col + gemm per image. conv2d_naive_* are the direct-loop references.
//   x (B, Cin, H, W), weight (Cout, Cin, k, k), bias (Cout), y (B, Cout, H, W)
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/parallel.h"
#include "tensor/host_allocator.h"
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

// For a shift dx = kx - pad, the output columns w whose input column w + dx lies in
// the image: [w_begin, w_end). Outside that range the padding contributes zeros.
// When the shift is wider than the image (k = 5 on W = 1) the range is empty.
struct ValidColumns {
    int64_t begin, end;
    ValidColumns(int64_t W, int64_t shift)
        : begin(std::min(W, shift < 0 ? -shift : 0)),
          end(std::max(begin, shift > 0 ? W - shift : W)) {}
};

// Row (c, ky, kx) of the im2col matrix: x[c] shifted by (ky - pad, kx - pad), H*W values.
// Each image row of it is a zero prefix, a copied span of the input row, a zero suffix.
template <typename T> void im2col_row(const ConvDims& d, const T* x, int64_t row, T* out) {
    const int64_t c = row / (d.k * d.k), ky = (row / d.k) % d.k, kx = row % d.k;
    const ValidColumns valid(d.W, kx - d.pad);
    for (int64_t h = 0; h < d.H; ++h) {
        T* out_row = out + h * d.W;
        const int64_t ih = h + ky - d.pad;
        if (ih < 0 || ih >= d.H) {
            std::fill(out_row, out_row + d.W, T(0));
            continue;
        }
        const T* in_row = x + (c * d.H + ih) * d.W + (kx - d.pad);
        std::fill(out_row, out_row + valid.begin, T(0));
        std::copy(in_row + valid.begin, in_row + valid.end, out_row + valid.begin);
        std::fill(out_row + valid.end, out_row + d.W, T(0));
    }
}

// col (Cin*k*k, H*W), one im2col_row after another.
template <typename T> void im2col(const ConvDims& d, const T* x, T* col) {
#pragma omp parallel for if (d.CKK() * d.HW() > kParallelGrain)
    for (int64_t row = 0; row < d.CKK(); ++row) im2col_row(d, x, row, col + row * d.HW());
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
                const ValidColumns valid(d.W, kx - d.pad);
                for (int64_t h = 0; h < d.H; ++h) {
                    int64_t ih = h + ky - d.pad;
                    if (ih < 0 || ih >= d.H) continue;
                    T* dx_row = dxc + ih * d.W + (kx - d.pad);
                    const T* in_row = in + h * d.W;
#pragma omp simd
                    for (int64_t w = valid.begin; w < valid.end; ++w) dx_row[w] += in_row[w];
                }
            }
    }
}

// The im2col matrix of one image: x itself for a 1x1 kernel, else written into col.
template <typename T> const T* columns(const ConvDims& d, const T* x, HostBuffer<T>& col) {
    if (d.k == 1) return x;
    im2col(d, x, col.data());
    return col.data();
}

// The three products of one image, by im2col and gemm in T. Scratch holds one
// thread's im2col matrix and its gradient.
template <typename T> class ImageProducts {
public:
    ImageProducts(const ConvDims& d, const T* weight) : d_(d), weight_(weight) {}
    struct Scratch {
        HostBuffer<T> col, dcol;
        explicit Scratch(const ConvDims& d)
            : col(d.k == 1 ? 0 : size_t(d.CKK() * d.HW())), dcol(col.size()) {}
    };
    // y_b (Cout, HW) = beta y_b + weight (Cout, CKK) x col (CKK, HW)
    void forward(Scratch& s, const T* xb, T beta, T* yb) const {
        gemm(false, false, d_.Cout, d_.HW(), d_.CKK(), weight_, d_.CKK(), columns(d_, xb, s.col), d_.HW(),
             beta, yb, d_.HW());
    }
    // dweight (Cout, CKK) += dy_b (Cout, HW) x col^T (HW, CKK)
    void weight_grad(Scratch& s, const T* xb, const T* dyb, T* dweight) const {
        gemm(false, true, d_.Cout, d_.CKK(), d_.HW(), dyb, d_.HW(), columns(d_, xb, s.col), d_.HW(), T(1),
             dweight, d_.CKK());
    }
    // dx_b = col2im(dcol), dcol (CKK, HW) = weight^T (CKK, Cout) x dy_b (Cout, HW)
    void input_grad(Scratch& s, const T* dyb, T* dxb) const {
        T* target = d_.k == 1 ? dxb : s.dcol.data();
        gemm(true, false, d_.CKK(), d_.HW(), d_.Cout, weight_, d_.CKK(), dyb, d_.HW(), T(0), target, d_.HW());
        if (d_.k != 1) col2im(d_, s.dcol.data(), dxb);
    }

private:
    const ConvDims& d_;
    const T* weight_;
};

// Images are split across threads when there are at least as many images as threads
// (each thread then runs its gemms single-threaded, without a barrier per image);
// otherwise the images run in turn and each gemm uses all threads.
inline bool split_images(int64_t batch) { return batch >= omp_get_max_threads(); }

template <typename T>
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
    ConvDims d(x, weight);
    const ImageProducts<T> products(d, weight.data<T>());
    const T* px = x.data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T* py = y.data<T>();
#pragma omp parallel if (split_images(d.B))
    {
        typename ImageProducts<T>::Scratch scratch(d);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < d.B; ++b) {
            T* yb = py + b * d.Cout * d.HW();
            if (pb)  // start from the bias, then add the product
                for (int64_t o = 0; o < d.Cout; ++o)
                    for (int64_t i = 0; i < d.HW(); ++i) yb[o * d.HW() + i] = pb[o];
            products.forward(scratch, px + b * d.Cin * d.HW(), pb ? T(1) : T(0), yb);
        }
    }
}

template <typename T>
void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dx,
                     Tensor& dweight, Tensor& dbias) {
    ConvDims d(x, weight);
    const ImageProducts<T> products(d, weight.data<T>());
    const T* px = x.data<T>();
    const T* pdy = dy.data<T>();
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
    // Each thread sums dweight over its own images; the partial sums are then added
    // in thread order, so the result depends only on the thread count.
    const int64_t weight_size = d.Cout * d.CKK();
    HostBuffer<T> partial(size_t(omp_get_max_threads() * weight_size), T(0));
    int64_t threads = 1;
#pragma omp parallel if (split_images(d.B))
    {
        const int t = omp_get_thread_num();
#pragma omp single nowait
        threads = omp_get_num_threads();
        typename ImageProducts<T>::Scratch scratch(d);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < d.B; ++b) {
            const T* dyb = pdy + b * d.Cout * d.HW();
            if (dweight.defined())
                products.weight_grad(scratch, px + b * d.Cin * d.HW(), dyb, partial.data() + t * weight_size);
            if (dx.defined()) products.input_grad(scratch, dyb, dx.data<T>() + b * d.Cin * d.HW());
        }
    }
    if (dweight.defined()) {
        T* pdw = dweight.data<T>();
        for (int64_t i = 0; i < weight_size; ++i) {
            T acc = partial[size_t(i)];
            for (int64_t t = 1; t < threads; ++t) acc += partial[size_t(t * weight_size + i)];
            pdw[i] = acc;
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
