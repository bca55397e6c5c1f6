// The fused attention op (autodiff/attention.cpp, tensor/cpu/attention.h) against the
// composed ops it replaces, softmax(q^T k) as an N x N matrix:
//   out = matmul(v, softmax(matmul(q, k, true, false)), false, true)
// forward and backward at odd sizes that straddle the W x W tiles (W = 32 floats, 16
// doubles); a float64 gradient check; bit-identical results for 1 and 2 threads and
// from run to run; and logits large enough that a softmax without its max would overflow.
//
// Error measure: max |fused - composed| over each output, divided by max |composed| or 1
// (the inputs are unit normals; a gradient that vanishes, as dq at N = 1, is measured
// absolutely). The two differ only in rounding (the softmax sum in tiles, rescaled per
// tile, instead of one pass), so float64 agrees to 1e-13 and float32 to 1e-5 (measured:
// 4e-15 and 2.1e-6). Logits of size s lose s eps to rounding before the exponential,
// which turns it into a relative error of P: those cases get bounds 10x wider (measured
// at logits of several hundred: 3e-14 and 1.6e-5).
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/gradcheck.h"
#include "autodiff/ops.h"
#include "tests/helpers.h"

using namespace vdm;

namespace {

using AttentionFn = Var (*)(const Var&, const Var&, const Var&);

Var composed(const Var& q, const Var& k, const Var& v) {
    return matmul(v, softmax(matmul(q, k, /*trans_a=*/true, false)), false, /*trans_b=*/true);
}

// out, dq, dk, dv of fn at (q, k, v), backpropagated from dout.
struct Results {
    Tensor out, dq, dk, dv;
};

Results run(AttentionFn fn, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout) {
    Var vq(q.clone(), true), vk(k.clone(), true), vv(v.clone(), true);
    Var out = fn(vq, vk, vv);
    out.backward(dout);
    return {out.value(), vq.grad(), vk.grad(), vv.grad()};
}

double max_abs(const Tensor& t) {
    double m = 0.0;
    for (double x : t.to_vector()) m = std::max(m, std::abs(x));
    return m;
}

// max |a - ref| / max(max |ref|, 1); infinite when a holds a NaN or inf.
double max_error(const Tensor& a, const Tensor& ref) {
    const std::vector<double> x = a.to_vector(), r = ref.to_vector();
    double worst = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
        if (!std::isfinite(x[i])) return INFINITY;
        worst = std::max(worst, std::abs(x[i] - r[i]));
    }
    return worst / std::max(max_abs(ref), 1.0);
}

void check_against_composed(const Shape& shape, DType dtype, uint64_t seed, double q_scale,
                            double widen = 1.0) {
    const Tensor q = test::randn(shape, seed, q_scale, dtype);
    const Tensor k = test::randn(shape, seed + 1, 1.0, dtype);
    const Tensor v = test::randn(shape, seed + 2, 1.0, dtype);
    const Tensor dout = test::randn(shape, seed + 3, 1.0, dtype);
    const Results fused = run(attention, q, k, v, dout), ref = run(composed, q, k, v, dout);
    const double tolerance = (dtype == DType::F32 ? 1e-5 : 1e-13) * widen;
    const std::pair<std::string, double> errors[] = {
        {"out", max_error(fused.out, ref.out)},
        {"dq", max_error(fused.dq, ref.dq)},
        {"dk", max_error(fused.dk, ref.dk)},
        {"dv", max_error(fused.dv, ref.dv)},
    };
    for (const auto& named : errors) {  // not a structured binding: clang can't capture one in INFO
        INFO(dtype_name(dtype), " ", shape.str(), " q scale ", q_scale, ": ", named.first, " error ",
             named.second);
        CHECK(named.second <= tolerance);
    }
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

bool same_bits(const Results& a, const Results& b) {
    return same_bits(a.out, b.out) && same_bits(a.dq, b.dq) && same_bits(a.dk, b.dk) &&
           same_bits(a.dv, b.dv);
}

}  // namespace

TEST_CASE("attention: fused forward and backward match the composed ops at odd sizes") {
    uint64_t seed = 100;
    for (DType dtype : {DType::F32, DType::F64})
        for (int64_t BH : {1, 3})
            for (int64_t d : {1, 3, 17})
                for (int64_t N : {1, 3, 17, 31, 785}) {
                    const double q_scale = 1.0 / std::sqrt(double(d));  // as nn/attention.cpp
                    check_against_composed(Shape{BH, d, N}, dtype, seed, q_scale);
                    seed += 4;
                }
    // The model's head size, and 64 heads: each head's dq summed in place (one chunk of
    // key tiles per head) rather than in partials.
    for (DType dtype : {DType::F32, DType::F64}) {
        check_against_composed(Shape{2, 32, 784}, dtype, 300, 1.0 / std::sqrt(32.0));
        check_against_composed(Shape{64, 3, 40}, dtype, 310, 1.0);
    }
}

TEST_CASE("attention: large logits stay finite and match the composed ops") {
    // Logits of several hundred: exp without the max subtracted would overflow.
    for (DType dtype : {DType::F32, DType::F64}) {
        check_against_composed(Shape{2, 17, 31}, dtype, 400, 30.0, 10.0);
        check_against_composed(Shape{1, 3, 785}, dtype, 410, 100.0, 10.0);
    }
}

TEST_CASE("attention: float64 gradient check") {
    const Shape shapes[] = {{1, 1, 1}, {2, 3, 5}, {1, 2, 17}, {3, 4, 20}};
    uint64_t seed = 500;
    for (const Shape& shape : shapes) {
        CAPTURE(shape.str());
        std::vector<Tensor> inputs;
        for (int i = 0; i < 3; ++i) inputs.push_back(test::randn(shape, seed++, 0.7));
        const GradCheckResult r = gradcheck(
            [](const std::vector<Var>& x) { return attention(x[0], x[1], x[2]); }, inputs);
        INFO("max relative error ", r.max_rel_error, " at ", r.worst);
        CHECK(r.passed);
    }
}

TEST_CASE("attention: the same bits with 1 and 2 threads and on every run") {
    const int saved = omp_get_max_threads();
    // One head (its key tiles split into chunks, dq summed over their partials), and 64
    // heads (one chunk each, dq summed in place).
    for (const Shape& shape : {Shape{1, 17, 785}, Shape{64, 8, 100}})
        for (DType dtype : {DType::F32, DType::F64}) {
            CAPTURE(shape.str());
            CAPTURE(dtype_name(dtype));
            const Tensor q = test::randn(shape, 600, 0.3, dtype);
            const Tensor k = test::randn(shape, 601, 1.0, dtype);
            const Tensor v = test::randn(shape, 602, 1.0, dtype);
            const Tensor dout = test::randn(shape, 603, 1.0, dtype);
            omp_set_num_threads(1);
            const Results one = run(attention, q, k, v, dout);
            omp_set_num_threads(2);
            const Results two = run(attention, q, k, v, dout);
            const Results again = run(attention, q, k, v, dout);
            CHECK(same_bits(one, two));
            CHECK(same_bits(two, again));
        }
    omp_set_num_threads(saved);
}

TEST_CASE("attention: shape errors name the op") {
    const Var q(Tensor::zeros(Shape{2, 3, 5}), true);
    test::check_error([&] { attention(q, Var(Tensor::zeros(Shape{2, 3, 4})), q); },
                      std::vector<std::string>{"attention", "(2, 3, 4)"});
    test::check_error([&] { attention(Var(Tensor::zeros(Shape{3, 5})), q, q); },
                      std::vector<std::string>{"attention", "(BH, d, N)"});
}
