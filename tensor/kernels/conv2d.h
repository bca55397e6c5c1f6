// Index math of the convolution's column matrix (stride 1, zero padding (k - 1) / 2,
// odd square kernel k), shared by the CUDA kernels (tensor/cuda/conv2d.cu) and the
// tests that check it against the CPU's im2col / col2im (tensor/cpu/conv2d.h).
//
// The column matrix of a batch of `images` images (C, H, W) is row-major
// (C k k, images H W): row (c, ky, kx), column b H W + h W + w holds
//   x[b, c, h + ky - pad, w + kx - pad],  or 0 where that falls in the padding.
// Image b's block of H W columns is the CPU's per-image im2col matrix. The batch runs
// along the columns so that one gemm with K = images H W sums the weight gradient
// over the whole batch. With k = 1 the matrix is x with its batch and channel axes
// swapped, (C, images, H W).
#pragma once
#include <cstdint>

#include "tensor/kernels/host_device.h"

namespace vdm::kernels {

// Images of `channels` channels, H x W pixels, seen through a k x k window.
struct ConvShape {
    int64_t channels, H, W, k;
    VDM_HOST_DEVICE int64_t pad() const { return (k - 1) / 2; }
    VDM_HOST_DEVICE int64_t HW() const { return H * W; }
    VDM_HOST_DEVICE int64_t rows() const { return channels * k * k; }  // of the column matrix
};

// Element i of the column matrix of `images` images: the flat index into
// x (images, channels, H, W) that it copies, or -1 where it is padding.
VDM_HOST_DEVICE inline int64_t im2col_source(const ConvShape& s, int64_t images, int64_t i) {
    const int64_t columns = images * s.HW();
    const int64_t row = i / columns, column = i % columns;
    const int64_t c = row / (s.k * s.k), ky = row / s.k % s.k, kx = row % s.k;
    const int64_t b = column / s.HW(), h = column / s.W % s.H, w = column % s.W;
    const int64_t ih = h + ky - s.pad(), iw = w + kx - s.pad();
    if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) return -1;
    return ((b * s.channels + c) * s.H + ih) * s.W + iw;
}

template <typename T>
VDM_HOST_DEVICE inline T im2col_element(const ConvShape& s, int64_t images, const T* x, int64_t i) {
    const int64_t source = im2col_source(s, images, i);
    return source < 0 ? T(0) : x[source];
}

// Element i of dx (images, channels, H, W) from dcol (the column matrix's gradient):
// col2im, the adjoint of im2col, as a gather. Pixel (ih, iw) of channel c was copied
// into row (c, ky, kx) at output pixel (ih - ky + pad, iw - kx + pad), wherever that
// pixel exists; its gradient is the sum of those entries. The sum starts at 0 and
// adds them in (ky, kx) order, the order in which cpu::col2im adds its shifted rows,
// so both give the same bits.
template <typename T>
VDM_HOST_DEVICE inline T col2im_element(const ConvShape& s, int64_t images, const T* dcol,
                                        int64_t i) {
    const int64_t columns = images * s.HW();
    const int64_t iw = i % s.W, ih = i / s.W % s.H;
    const int64_t c = i / s.HW() % s.channels, b = i / (s.HW() * s.channels);
    T sum = T(0);
    for (int64_t ky = 0; ky < s.k; ++ky) {
        const int64_t h = ih - ky + s.pad();
        if (h < 0 || h >= s.H) continue;
        for (int64_t kx = 0; kx < s.k; ++kx) {
            const int64_t w = iw - kx + s.pad();
            if (w < 0 || w >= s.W) continue;
            const int64_t row = (c * s.k + ky) * s.k + kx;
            sum += dcol[row * columns + b * s.HW() + h * s.W + w];
        }
    }
    return sum;
}

}  // namespace vdm::kernels
