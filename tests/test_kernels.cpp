// Fast CPU kernels against their naive references (float32, atol + rtol * |ref|),
// and the numerics of the elementwise functions at extreme inputs.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <limits>

#include "autodiff/ops.h"
#include "tensor/cpu/conv2d.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/simd_exp.h"
#include "tests/helpers.h"

using namespace vdm;
using vdm::test::randn;

namespace {

void expect_close(const Tensor& got, const Tensor& ref, double atol, double rtol) {
    REQUIRE(got.shape() == ref.shape());
    double worst = 0.0;
    int64_t worst_i = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
        double excess = std::abs(got.at(i) - ref.at(i)) - (atol + rtol * std::abs(ref.at(i)));
        if (excess > worst) worst = excess, worst_i = i;
    }
    INFO("element ", worst_i, ": got ", got.at(worst_i), " reference ", ref.at(worst_i));
    CHECK(worst == 0.0);
}

}  // namespace

TEST_CASE("blocked gemm matches the naive reference, all transposes, odd sizes, beta") {
    struct Case {
        int64_t M, N, K;
    };
    // Sizes straddle the 8 x 32 register tile and the 256-deep slice (tests/test_gemm.cpp has more).
    const Case cases[] = {{1, 1, 1}, {5, 7, 3}, {13, 33, 17}, {64, 784, 576}, {37, 70, 300}};
    uint64_t seed = 1;
    for (const Case& c : cases)
        for (int t = 0; t < 4; ++t) {
            const bool ta = t & 1, tb = t & 2;
            CAPTURE(c.M);
            CAPTURE(c.N);
            CAPTURE(c.K);
            CAPTURE(t);
            Tensor A = randn(ta ? Shape{c.K, c.M} : Shape{c.M, c.K}, seed++, 1.0, DType::F32);
            Tensor B = randn(tb ? Shape{c.N, c.K} : Shape{c.K, c.N}, seed++, 1.0, DType::F32);
            Tensor C0 = randn(Shape{c.M, c.N}, seed++, 1.0, DType::F32);
            Tensor fast = C0.clone(), ref = C0.clone();
            const float beta = t == 3 ? 0.5f : 0.0f;
            cpu::gemm<float>(ta, tb, c.M, c.N, c.K, A.data<float>(), A.dim(1), B.data<float>(),
                             B.dim(1), beta, fast.data<float>(), c.N);
            cpu::gemm_naive<float>(ta, tb, c.M, c.N, c.K, A.data<float>(), A.dim(1),
                                   B.data<float>(), B.dim(1), beta, ref.data<float>(), c.N);
            expect_close(fast, ref, 1e-4 * std::sqrt(double(c.K)), 1e-4);
        }
}

TEST_CASE("im2col conv2d matches the direct-loop reference") {
    struct Case {
        Shape x, w;
    };
    const Case cases[] = {{Shape{2, 3, 28, 28}, Shape{8, 3, 3, 3}},
                          {Shape{1, 16, 7, 9}, Shape{4, 16, 1, 1}},
                          {Shape{3, 5, 6, 4}, Shape{6, 5, 5, 5}}};
    uint64_t seed = 100;
    for (const Case& c : cases) {
        CAPTURE(c.x.str());
        Tensor x = randn(c.x, seed++, 1.0, DType::F32);
        Tensor w = randn(c.w, seed++, 0.3, DType::F32);
        Tensor b = randn(Shape{c.w[0]}, seed++, 1.0, DType::F32);
        Tensor ref = Tensor::empty(Shape{c.x[0], c.w[0], c.x[2], c.x[3]});
        cpu::conv2d_naive_forward<float>(x, w, b, ref);
        Var y = conv2d(Var(x), Var(w), Var(b));
        expect_close(y.value(), ref, 1e-4, 1e-4);
    }
}

TEST_CASE("float32 ops agree with their float64 versions") {
    Tensor x64 = randn(Shape{2, 4, 5, 5}, 7);
    Tensor w64 = randn(Shape{4}, 8);
    Tensor b64 = randn(Shape{4}, 9);
    auto run = [](DType t, const Tensor& x, const Tensor& w, const Tensor& b) {
        Var h = group_norm(Var(x.to(t)), 2, Var(w.to(t)), Var(b.to(t)));
        return log_softmax(silu(h)).value().to(DType::F64);
    };
    expect_close(run(DType::F32, x64, w64, b64), run(DType::F64, x64, w64, b64), 1e-5, 1e-5);
}

TEST_CASE("elementwise functions are stable at extreme inputs") {
    const double big = 1000.0, tiny = 1e-10;
    Tensor x = Tensor::from_vector(Shape{4}, {-big, -tiny, tiny, big});
    std::vector<double> sig = sigmoid(Var(x)).value().to_vector();
    CHECK(sig[0] == 0.0);
    CHECK(sig[3] == 1.0);
    std::vector<double> sp = softplus(Var(x)).value().to_vector();
    CHECK(sp[0] == 0.0);               // log(1 + e^-1000) underflows to 0, not NaN
    CHECK(sp[3] == doctest::Approx(big));  // not inf
    std::vector<double> em1 = expm1(Var(x.to(DType::F64))).value().to_vector();
    CHECK(em1[2] == doctest::Approx(tiny).epsilon(1e-12));  // exp(x) - 1 would give 0 or 1.1e-10
    std::vector<double> l1p = log1p(Var(x.to(DType::F64))).value().to_vector();
    CHECK(l1p[2] == doctest::Approx(tiny).epsilon(1e-12));
    // Softmax of huge logits: the max is subtracted first, so no exp overflows.
    Tensor logits = Tensor::from_vector(Shape{3}, {1000.0, 1001.0, 999.0});
    std::vector<double> p = softmax(Var(logits)).value().to_vector();
    CHECK(p[1] == doctest::Approx(std::exp(1.0) / (1.0 + std::exp(1.0) + std::exp(-1.0))));
    std::vector<double> lp = log_softmax(Var(logits)).value().to_vector();
    CHECK(std::isfinite(lp[0]));
    CHECK(lp[1] == doctest::Approx(-std::log(1.0 + std::exp(-1.0) + std::exp(-2.0))));
    CHECK(backend_for(Device::CPU).all_finite(silu(Var(x)).value()));
}

TEST_CASE("sums do not depend on how the work is split across calls, and match a double loop") {
    Tensor x = randn(Shape{3, 50, 40, 30}, 11, 1.0, DType::F32);
    double ref = 0.0;
    for (int64_t i = 0; i < x.numel(); ++i) ref += x.at(i);
    CHECK(sum(Var(x)).item() == doctest::Approx(ref).epsilon(1e-6));
    double a = sum(Var(x)).item(), b = sum(Var(x)).item();
    CHECK(a == b);
    Tensor per_channel = sum(Var(x), {0, 2, 3}).value();
    double ref_c1 = 0.0;
    for (int64_t n = 0; n < 3; ++n)
        for (int64_t i = 0; i < 40 * 30; ++i) ref_c1 += x.at((n * 50 + 1) * 1200 + i);
    CHECK(per_channel.at(1) == doctest::Approx(ref_c1).epsilon(1e-6));
}

TEST_CASE("kernels and noise are identical with 1 and 2 threads") {
    Tensor x = randn(Shape{4, 8, 16, 16}, 21, 1.0, DType::F32);
    Tensor w = randn(Shape{8, 8, 3, 3}, 22, 0.2, DType::F32);
    // Each output element is computed by one thread in a fixed order, and each random
    // number depends only on its position, so the thread count changes nothing here.
    auto run = [&]() {
        Tensor noise = Tensor::empty(Shape{4, 8, 16, 16});
        backend_for(Device::CPU).fill_normal(noise, 5, 1000);
        return group_norm(conv2d(Var(x), Var(w), Var()) + Var(noise), 4,
                          Var(Tensor::full(Shape{8}, 1.0)), Var(Tensor::zeros(Shape{8})))
            .value()
            .to_vector();
    };
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    std::vector<double> one = run();
    omp_set_num_threads(2);
    std::vector<double> two = run();
    omp_set_num_threads(saved);
    CHECK(one == two);
}

TEST_CASE("simd_exp for float is within 2 ulp of exp and handles the edges") {
    double worst = 0.0;
    float worst_x = 0.0f;
    const int n = 1 << 20;
    for (int i = 0; i <= n; ++i) {
        float x = -87.0f + 175.5f * float(i) / float(n);  // the whole normal range
        double ref = std::exp(double(x));
        double err = std::abs(double(cpu::simd_exp(x)) - ref) / ref;
        if (err > worst) worst = err, worst_x = x;
    }
    INFO("worst relative error ", worst, " at x = ", worst_x);
    CHECK(worst < 2.0 * 5.96e-8);  // float epsilon / 2 is one ulp at most
    CHECK(cpu::simd_exp(0.0f) == 1.0f);
    CHECK(cpu::simd_exp(-1000.0f) == 0.0f);
    CHECK(std::isinf(cpu::simd_exp(1000.0f)));
    CHECK(std::isnan(cpu::simd_exp(std::nanf(""))));
    CHECK(std::isfinite(cpu::simd_exp(88.7f)));
    CHECK(cpu::simd_exp(1.5) == std::exp(1.5));  // doubles use libm
}
