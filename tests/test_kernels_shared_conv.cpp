// The CUDA convolution's index math (tensor/kernels/conv2d.h), run on the host:
// its column matrix against cpu::im2col, its col2im gather against cpu::col2im, and
// the whole plan of tensor/cuda/conv2d.cu (im2col, products, gather, the weight
// gradient as one product over the batch, chunks of images) against the CPU
// backend's conv2d_forward / conv2d_backward. What only a GPU can check (launches,
// cuBLAS itself) is left to the CUDA parity tests.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cpu/conv2d.h"
#include "tensor/cpu/gemm.h"
#include "tensor/kernels/conv2d.h"
#include "tests/helpers.h"

using namespace vdm;
using kernels::ConvShape;
using vdm::test::randn;

namespace {

// The column matrix (s.rows(), images HW) of x (images, s.channels, H, W), element by
// element as the CUDA kernel writes it (one thread per element).
template <typename T>
std::vector<T> shared_columns(const ConvShape& s, int64_t images, const T* x) {
    std::vector<T> col(size_t(s.rows() * images * s.HW()));
    for (int64_t i = 0; i < int64_t(col.size()); ++i)
        col[size_t(i)] = kernels::im2col_element(s, images, x, i);
    return col;
}

// dx (images, s.channels, H, W) from dcol (s.rows(), images HW), one element at a time.
template <typename T> void shared_col2im(const ConvShape& s, int64_t images, const T* dcol, T* dx) {
    for (int64_t i = 0; i < images * s.channels * s.HW(); ++i)
        dx[i] = kernels::col2im_element(s, images, dcol, i);
}

// cpu::ConvDims for images of shape s (the weight tensor only lends its shape).
cpu::ConvDims cpu_dims(const ConvShape& s, int64_t images) {
    return cpu::ConvDims(Tensor::empty(Shape{images, s.channels, s.H, s.W}),
                         Tensor::empty(Shape{1, s.channels, s.k, s.k}));
}

// How many entries of a batch column matrix (rows, images HW) differ from a reference
// laid out per image (images, rows, HW), as cpu::im2col writes them one after another.
int64_t count_mismatches(const ConvShape& s, int64_t images, const std::vector<float>& batch_col,
                         const std::vector<float>& per_image_col) {
    int64_t mismatches = 0;
    for (int64_t row = 0; row < s.rows(); ++row)
        for (int64_t b = 0; b < images; ++b)
            for (int64_t p = 0; p < s.HW(); ++p) {
                float shared = batch_col[size_t((row * images + b) * s.HW() + p)];
                float cpu = per_image_col[size_t((b * s.rows() + row) * s.HW() + p)];
                mismatches += shared != cpu;
            }
    return mismatches;
}

// The element a thread off by one would write: each i reads its neighbour's value.
template <typename T> std::vector<T> off_by_one(const std::vector<T>& v) {
    std::vector<T> shifted(v);
    for (size_t i = 0; i + 1 < v.size(); ++i) shifted[i] = v[i + 1];
    return shifted;
}

const int64_t kChannels[] = {1, 3}, kKernels[] = {1, 3, 5}, kSides[] = {1, 3, 17, 28};

// Calls check(shape) for every shape of the odd-size sweep, the shape captured for messages.
template <typename Check> void for_each_odd_shape(Check check) {
    for (int64_t C : kChannels)
        for (int64_t k : kKernels)
            for (int64_t H : kSides)
                for (int64_t W : kSides) {
                    CAPTURE(C);
                    CAPTURE(k);
                    CAPTURE(H);
                    CAPTURE(W);
                    check(ConvShape{C, H, W, k});
                }
}

}  // namespace

TEST_CASE("shared conv im2col equals cpu::im2col element by element, odd shapes") {
    const int64_t images = 2;
    uint64_t seed = 700;
    for_each_odd_shape([&](const ConvShape& s) {
        const int64_t C = s.channels, k = s.k, H = s.H, W = s.W;
        Tensor x = randn(Shape{images, C, H, W}, seed++, 1.0, DType::F32);
        const std::vector<float> col = shared_columns(s, images, x.data<float>());
        // Row r of the column matrix is x convolved with the one-hot kernel e_r:
        // the direct-loop reference with weight (rows, C, k, k) = identity.
        Tensor one_hot = Tensor::zeros(Shape{s.rows(), C, k, k});
        for (int64_t r = 0; r < s.rows(); ++r)
            one_hot.data<float>()[r * s.rows() + r] = 1.0f;
        Tensor naive = Tensor::empty(Shape{images, s.rows(), H, W});
        cpu::conv2d_naive_forward<float>(x, one_hot, Tensor(), naive);
        const float* pn = naive.data<float>();
        CHECK(count_mismatches(s, images, col,
                               std::vector<float>(pn, pn + naive.numel())) == 0);
        std::vector<float> cpu_col(size_t(images * s.rows() * s.HW()));
        for (int64_t b = 0; b < images; ++b)
            cpu::im2col(cpu_dims(s, images), x.data<float>() + b * C * s.HW(),
                        cpu_col.data() + b * s.rows() * s.HW());
        CHECK(count_mismatches(s, images, col, cpu_col) == 0);
        // The comparison catches a thread that writes its neighbour's element.
        CHECK(count_mismatches(s, images, off_by_one(col), cpu_col) > 0);
    });
}

TEST_CASE("shared conv col2im gather equals cpu::col2im bit for bit, odd shapes") {
    // Both sum the same entries in the same (ky, kx) order from 0, so the float sums
    // agree exactly; any difference in indexing shows as a wrong value.
    const int64_t images = 2;
    uint64_t seed = 800;
    for_each_odd_shape([&](const ConvShape& s) {
        const int64_t C = s.channels;
        const int64_t n = images * C * s.HW();
        Tensor dcol = randn(Shape{s.rows(), images * s.HW()}, seed++, 1.0, DType::F32);
        std::vector<float> dx(size_t(n), std::numeric_limits<float>::quiet_NaN());
        shared_col2im(s, images, dcol.data<float>(), dx.data());
        std::vector<float> cpu_dx(size_t(n), std::numeric_limits<float>::quiet_NaN());
        std::vector<float> dcol_b(size_t(s.rows() * s.HW()));
        for (int64_t b = 0; b < images; ++b) {
            for (int64_t row = 0; row < s.rows(); ++row)  // image b's block of dcol
                for (int64_t p = 0; p < s.HW(); ++p)
                    dcol_b[size_t(row * s.HW() + p)] =
                        dcol.data<float>()[(row * images + b) * s.HW() + p];
            cpu::col2im(cpu_dims(s, images), dcol_b.data(),
                        cpu_dx.data() + b * C * s.HW());
        }
        int64_t mismatches = 0, planted = 0;
        const std::vector<float> shifted = off_by_one(dx);
        for (size_t i = 0; i < size_t(n); ++i) {
            mismatches += dx[i] != cpu_dx[i];
            planted += shifted[i] != cpu_dx[i];
        }
        CHECK(mismatches == 0);
        CHECK(planted > 0);  // an off-by-one thread is caught
    });
}

namespace {

// One naive product per matrix of a strided batch: the cuBLAS call of tensor/cuda/gemm.h.
template <typename T>
void batched_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                  int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta,
                  T* C, int64_t ldc, int64_t stride_c, int64_t batch) {
    for (int64_t i = 0; i < batch; ++i)
        cpu::gemm_naive(trans_a, trans_b, M, N, K, A + i * stride_a, lda, B + i * stride_b, ldb,
                        beta, C + i * stride_c, ldc);
}

// The plan of tensor/cuda/conv2d.cu on the host, `chunk` images at a time: the same
// column layout, products (operands, leading dimensions, strides, beta) and gather.
template <typename T>
void conv_forward_as_gpu(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                         int64_t chunk) {
    const ConvShape in{x.dim(1), x.dim(2), x.dim(3), weight.dim(2)};
    const int64_t B = x.dim(0), Cout = weight.dim(0), HW = in.HW(), CKK = in.rows();
    T* py = y.data<T>();
    for (int64_t i = 0; i < y.numel(); ++i) py[i] = bias.data<T>()[i / HW % Cout];
    for (int64_t b0 = 0; b0 < B; b0 += chunk) {
        const int64_t images = std::min(chunk, B - b0);
        const T* x_chunk = x.data<T>() + b0 * in.channels * HW;
        std::vector<T> col;
        const T* columns = x_chunk;
        int64_t ld = HW, stride = in.channels * HW;
        if (in.k != 1) {
            col = shared_columns(in, images, x_chunk);
            columns = col.data(), ld = images * HW, stride = HW;
        }
        batched_gemm<T>(false, false, Cout, HW, CKK, weight.data<T>(), CKK, 0, columns, ld, stride,
                        T(1), py + b0 * Cout * HW, HW, Cout * HW, images);
    }
}

template <typename T>
void conv_backward_as_gpu(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dx,
                          Tensor& dweight, Tensor& dbias, int64_t chunk) {
    const ConvShape in{x.dim(1), x.dim(2), x.dim(3), weight.dim(2)};
    const ConvShape out{weight.dim(0), x.dim(2), x.dim(3), 1};
    const int64_t B = x.dim(0), Cout = out.channels, HW = in.HW(), CKK = in.rows();
    for (int64_t o = 0; o < Cout; ++o) {
        double sum = 0.0;
        for (int64_t b = 0; b < B; ++b)
            for (int64_t p = 0; p < HW; ++p) sum += double(dy.data<T>()[(b * Cout + o) * HW + p]);
        dbias.data<T>()[o] = T(sum);
    }
    for (int64_t b0 = 0; b0 < B; b0 += chunk) {
        const int64_t images = std::min(chunk, B - b0);
        const T* x_chunk = x.data<T>() + b0 * in.channels * HW;
        const T* dy_chunk = dy.data<T>() + b0 * Cout * HW;
        T* dx_chunk = dx.data<T>() + b0 * in.channels * HW;
        std::vector<T> col = shared_columns(in, images, x_chunk);
        const std::vector<T> dyt = shared_columns(out, images, dy_chunk);  // (Cout, images HW)
        cpu::gemm_naive<T>(false, true, Cout, CKK, images * HW, dyt.data(), images * HW, col.data(),
                           images * HW, b0 == 0 ? T(0) : T(1), dweight.data<T>(), CKK);
        if (in.k == 1) {
            batched_gemm<T>(true, false, CKK, HW, Cout, weight.data<T>(), CKK, 0, dy_chunk, HW,
                            Cout * HW, T(0), dx_chunk, HW, in.channels * HW, images);
        } else {
            batched_gemm<T>(true, false, CKK, HW, Cout, weight.data<T>(), CKK, 0, dy_chunk, HW,
                            Cout * HW, T(0), col.data(), images * HW, HW, images);
            shared_col2im(in, images, col.data(), dx_chunk);
        }
    }
}

// ||got - ref|| / ||ref||; NaN (an element left unwritten) when got holds one.
double relative_error(const Tensor& got, const Tensor& ref) {
    double diff = 0.0, norm = 0.0;
    for (int64_t i = 0; i < ref.numel(); ++i) {
        diff += (got.at(i) - ref.at(i)) * (got.at(i) - ref.at(i));
        norm += ref.at(i) * ref.at(i);
    }
    return std::sqrt(diff / norm);
}

Tensor poisoned(const Shape& shape) {
    return Tensor::full(shape, std::numeric_limits<double>::quiet_NaN(), DType::F64);
}

}  // namespace

TEST_CASE("shared conv plan (im2col, gemm, gather, batch-folded dweight) matches the CPU conv2d") {
    struct Case {
        int64_t B, Cin, Cout, H, W;
    };
    const Case cases[] = {
        {3, 3, 4, 5, 7}, {2, 1, 3, 28, 28}, {3, 3, 2, 17, 3}, {2, 2, 3, 4, 2}, {1, 1, 1, 1, 1}};
    Backend& cpu = backend_for(Device::CPU);
    uint64_t seed = 900;
    for (const Case& c : cases)
        for (int64_t k : kKernels)
            for (int64_t chunk : {int64_t(1), int64_t(2), c.B}) {
                CAPTURE(c.B);
                CAPTURE(c.Cin);
                CAPTURE(c.Cout);
                CAPTURE(c.H);
                CAPTURE(c.W);
                CAPTURE(k);
                CAPTURE(chunk);
                Tensor x = randn(Shape{c.B, c.Cin, c.H, c.W}, seed++);
                Tensor weight = randn(Shape{c.Cout, c.Cin, k, k}, seed++, 0.3);
                Tensor bias = randn(Shape{c.Cout}, seed++);
                Tensor dy = randn(Shape{c.B, c.Cout, c.H, c.W}, seed++);

                Tensor y = poisoned(dy.shape()), y_ref = poisoned(dy.shape());
                conv_forward_as_gpu<double>(x, weight, bias, y, chunk);
                cpu.conv2d_forward(x, weight, bias, y_ref);
                CHECK(relative_error(y, y_ref) < 1e-13);

                Tensor dx = poisoned(x.shape()), dx_ref = poisoned(x.shape());
                Tensor dw = poisoned(weight.shape()), dw_ref = poisoned(weight.shape());
                Tensor db = poisoned(bias.shape()), db_ref = poisoned(bias.shape());
                conv_backward_as_gpu<double>(x, weight, dy, dx, dw, db, chunk);
                cpu.conv2d_backward(x, weight, dy, dx_ref, dw_ref, db_ref);
                CHECK(relative_error(dx, dx_ref) < 1e-13);
                CHECK(relative_error(dw, dw_ref) < 1e-13);
                CHECK(relative_error(db, db_ref) < 1e-13);
            }
}
