// Winograd F(2x2, 3x3) convolution products (tensor/cpu/winograd.h) against the
// im2col + gemm ones, forward and both gradients, at odd image sizes (partial tiles
// at the right and bottom edges, a 1x1 image) and odd channel counts. In float64 the
// two differ only by rounding (measured below 1e-13 relative); in float32 the
// transforms' extra additions cost a few ulps more than im2col (bound 1e-4).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tensor/cpu/winograd.h"
#include "tests/helpers.h"

using namespace vdm;

namespace {

// max |a - b| / max(max |b|, 1)
double relative_error(const Tensor& a, const Tensor& b) {
    const std::vector<double> x = a.to_vector(), y = b.to_vector();
    double worst = 0.0, scale = 1.0;
    for (size_t i = 0; i < x.size(); ++i) {
        worst = std::max(worst, std::abs(x[i] - y[i]));
        scale = std::max(scale, std::abs(y[i]));
    }
    return worst / scale;
}

// y, dx and dweight of one convolution through the given products.
template <typename T, typename Products>
std::vector<Tensor> conv_passes(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy) {
    Tensor y = Tensor::empty(dy.shape(), x.dtype()), dx = Tensor::empty(x.shape(), x.dtype());
    Tensor dw = Tensor::empty(w.shape(), x.dtype()), db = Tensor::empty(b.shape(), x.dtype());
    cpu::conv2d_forward<T, Products>(x, w, b, y);
    cpu::conv2d_backward<T, Products>(x, w, dy, dx, dw, db);
    return {y, dx, dw};
}

template <typename T> void check_shapes(DType dtype, double bound) {
    const Shape shapes[][2] = {{Shape{2, 3, 28, 28}, Shape{8, 3, 3, 3}}, {Shape{3, 5, 7, 5}, Shape{6, 5, 3, 3}},
                               {Shape{1, 4, 1, 1}, Shape{3, 4, 3, 3}},   {Shape{2, 17, 3, 31}, Shape{31, 17, 3, 3}},
                               {Shape{4, 32, 28, 28}, Shape{32, 32, 3, 3}}};
    uint64_t seed = 500;
    for (const auto& s : shapes) {
        CAPTURE(s[0].str());
        CAPTURE(s[1].str());
        const Tensor x = test::randn(s[0], seed++, 1.0, dtype), w = test::randn(s[1], seed++, 0.3, dtype);
        const Tensor b = test::randn(Shape{s[1][0]}, seed++, 1.0, dtype);
        const Tensor dy = test::randn(Shape{s[0][0], s[1][0], s[0][2], s[0][3]}, seed++, 1.0, dtype);
        const std::vector<Tensor> ref = conv_passes<T, cpu::GemmProducts<T>>(x, w, b, dy);
        const std::vector<Tensor> got = conv_passes<T, cpu::WinogradProducts<T>>(x, w, b, dy);
        CHECK(relative_error(got[0], ref[0]) < bound);  // y
        CHECK(relative_error(got[1], ref[1]) < bound);  // dx
        CHECK(relative_error(got[2], ref[2]) < bound);  // dweight
    }
}

}  // namespace

TEST_CASE("winograd conv2d equals im2col conv2d, forward and both gradients, odd sizes") {
    check_shapes<double>(DType::F64, 1e-13);
    check_shapes<float>(DType::F32, 1e-4);
}
