// CUDA 2-D convolution, stride 1, zero padding (k - 1) / 2, odd square kernel k:
// im2col into the backend's reused workspace, then cuBLAS.
//   x (B, Cin, H, W), weight (Cout, Cin, k, k) = (Cout, CKK), bias (Cout), y (B, Cout, H, W)
//
// Why im2col + cuBLAS rather than an implicit-GEMM kernel: it is the simplest correct
// path, and every product runs on cuBLAS's tuned GEMMs. The price is the column
// matrix, k^2 times the input, written and read once per pass. An implicit-GEMM
// tensor-core kernel, which forms the columns on the fly, is the later speed issue's
// job, and is to be measured against this one.
//
// The column matrix col (CKK, B HW) keeps the batch along its columns
// (tensor/kernels/conv2d.h); col_b is image b's (CKK, HW) block, rows B HW apart.
//   forward  y_b = W col_b                  strided-batched gemm, W's stride 0
//   dweight  dW = dy' col^T                 one gemm whose inner dimension is B HW,
//                                           dy' (Cout, B HW) = dy with B and Cout swapped
//   dx       dcol_b = W^T dy_b, then dx = col2im(dcol), a gather per dx element
//   dbias    the sum of dy over (B, H, W) (sum_to_shape)
// A 1x1 kernel's column matrix is x itself (image by image), so y and dx skip im2col.
// Batches whose scratch would pass kWorkspaceBudget run in chunks of images, in order.
// No atomics: each gemm is deterministic and chunks add onto dW one after another.
#include <algorithm>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/gemm.h"
#include "tensor/cuda/launch.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/conv2d.h"

namespace vdm::cuda {

namespace {

using kernels::ConvShape;

constexpr size_t kWorkspaceBudget = size_t(1) << 30;  // scratch bytes per chunk of images

// How many images to process at once so that their scratch (bytes_per_image each)
// stays within the budget; at least one, at most the batch.
int64_t images_per_chunk(int64_t batch, size_t bytes_per_image) {
    const int64_t all = std::max<int64_t>(batch, 1);
    if (bytes_per_image == 0) return all;
    return std::clamp<int64_t>(int64_t(kWorkspaceBudget / bytes_per_image), 1, all);
}

// col (s.rows(), images HW) = the column matrix of x (images, s.channels, H, W).
// One thread per element of col.
template <typename T> void im2col(const ConvShape& s, int64_t images, const T* x, T* col) {
    for_each_index(s.rows() * images * s.HW(), [=] __device__(int64_t i) {
        col[i] = kernels::im2col_element(s, images, x, i);
    });
}

// dx (images, s.channels, H, W) = col2im(dcol). One thread per element of dx, each
// summing its k^2 entries of dcol in a fixed order: no atomics.
template <typename T> void col2im(const ConvShape& s, int64_t images, const T* dcol, T* dx) {
    for_each_index(images * s.channels * s.HW(), [=] __device__(int64_t i) {
        dx[i] = kernels::col2im_element(s, images, dcol, i);
    });
}

template <typename T>
void conv2d_forward_typed(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
    CudaBackend& be = the_backend();
    const ConvShape in{x.dim(1), x.dim(2), x.dim(3), weight.dim(2)};
    const int64_t B = x.dim(0), Cout = weight.dim(0), HW = in.HW(), CKK = in.rows();
    // y starts as the bias broadcast over (B, H, W), or as zero; the products add onto it.
    if (bias.defined())
        be.broadcast_to(bias.reshape(Shape{1, Cout, 1, 1}), y);
    else
        be.fill(y, 0.0);
    if (y.numel() == 0 || CKK == 0) return;

    const T* px = x.data<T>();
    const Matrices<const T> W{weight.data<T>(), CKK, 0};
    const bool direct = in.k == 1;  // columns = x
    const int64_t chunk = direct ? B : images_per_chunk(B, size_t(CKK * HW) * sizeof(T));
    T* col = direct ? nullptr : static_cast<T*>(be.workspace(size_t(chunk * CKK * HW) * sizeof(T)));
    for (int64_t b0 = 0; b0 < B; b0 += chunk) {
        const int64_t images = std::min(chunk, B - b0);
        const T* x_chunk = px + b0 * in.channels * HW;
        Matrices<const T> columns{x_chunk, HW, in.channels * HW};  // x_b (Cin, HW)
        if (!direct) {
            im2col(in, images, x_chunk, col);
            columns = {col, images * HW, HW};  // col_b (CKK, HW)
        }
        // y_b (Cout, HW) += W (Cout, CKK) col_b (CKK, HW)
        const Matrices<T> y_chunk{y.data<T>() + b0 * Cout * HW, HW, Cout * HW};
        gemm(false, false, Cout, HW, CKK, W, columns, T(1), y_chunk, images);
    }
}

template <typename T>
void conv2d_backward_typed(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dx,
                           Tensor& dweight, Tensor& dbias) {
    CudaBackend& be = the_backend();
    const ConvShape in{x.dim(1), x.dim(2), x.dim(3), weight.dim(2)};
    const ConvShape out{weight.dim(0), x.dim(2), x.dim(3), 1};  // dy, whose k = 1 columns are dy'
    const int64_t B = x.dim(0), Cout = out.channels, HW = in.HW(), CKK = in.rows();
    if (dbias.defined()) {  // dbias[o] = sum over b, h, w of dy[b, o, h, w]
        Tensor dbias_4d = dbias.reshape(Shape{1, Cout, 1, 1});
        be.sum_to_shape(dy, dbias_4d);
    }
    if (!dx.defined() && !dweight.defined()) return;
    if (B * HW == 0 || Cout == 0) {  // the gradients are sums over nothing
        if (dx.defined()) be.fill(dx, 0.0);
        if (dweight.defined()) be.fill(dweight, 0.0);
        return;
    }

    const bool direct = in.k == 1;  // dx_b = W^T dy_b directly, no col2im
    // Scratch per image: the columns (then their gradient dcol, in the same place) and dy'.
    const bool need_col = dweight.defined() || (dx.defined() && !direct);
    const int64_t col_per_image = need_col ? CKK * HW : 0;
    const int64_t dyt_per_image = dweight.defined() ? Cout * HW : 0;
    const int64_t chunk = images_per_chunk(B, size_t(col_per_image + dyt_per_image) * sizeof(T));
    T* scratch =
        static_cast<T*>(be.workspace(size_t(chunk * (col_per_image + dyt_per_image)) * sizeof(T)));
    T* col = scratch;                          // (CKK, chunk HW)
    T* dyt = scratch + chunk * col_per_image;  // (Cout, chunk HW)

    const Matrices<const T> W{weight.data<T>(), CKK, 0};
    for (int64_t b0 = 0; b0 < B; b0 += chunk) {
        const int64_t images = std::min(chunk, B - b0);
        const T* x_chunk = x.data<T>() + b0 * in.channels * HW;
        const T* dy_chunk = dy.data<T>() + b0 * Cout * HW;
        if (dweight.defined()) {
            im2col(in, images, x_chunk, col);
            im2col(out, images, dy_chunk, dyt);
            // dW (Cout, CKK) (+)= dy' (Cout, images HW) col^T (images HW, CKK):
            // the first chunk writes, the later ones add on in order.
            gemm(false, true, Cout, CKK, images * HW, Matrices<const T>{dyt, images * HW, 0},
                 Matrices<const T>{col, images * HW, 0}, b0 == 0 ? T(0) : T(1),
                 Matrices<T>{dweight.data<T>(), CKK, 0}, 1);
        }
        if (dx.defined()) {
            const Matrices<const T> dy_images{dy_chunk, HW, Cout * HW};  // dy_b (Cout, HW)
            T* dx_chunk = dx.data<T>() + b0 * in.channels * HW;
            // dcol_b (CKK, HW) = W^T (CKK, Cout) dy_b (Cout, HW); for k = 1 that is dx_b.
            const Matrices<T> dcol = direct ? Matrices<T>{dx_chunk, HW, in.channels * HW}
                                            : Matrices<T>{col, images * HW, HW};
            gemm(true, false, CKK, HW, Cout, W, dy_images, T(0), dcol, images);
            if (!direct) col2im(in, images, col, dx_chunk);
        }
    }
}

}  // namespace

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 Tensor& y) {
    VDM_DISPATCH_FLOAT(x.dtype(), "conv2d", conv2d_forward_typed<T>(x, weight, bias, y));
}

void CudaBackend::conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy,
                                  Tensor& dx, Tensor& dweight, Tensor& dbias) {
    VDM_DISPATCH_FLOAT(x.dtype(), "conv2d_backward",
                       conv2d_backward_typed<T>(x, weight, dy, dx, dweight, dbias));
}

}  // namespace vdm::cuda
