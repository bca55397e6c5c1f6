// bf16 products (tensor/cpu/bf16.h): the rounding, the pair packing, and gemm_bf16.
//
// gemm_bf16's vector kernel (vdpbf16ps) and its portable loop do the same operations in
// the same order, so on normal numbers they must agree bit for bit; both must match a
// double-precision product of the bf16-rounded operands within the float summation bound
// 2 (P + 2) u sum |a b| (u = 2^-24: the products of two bf16 numbers are exact in
// float, so only the additions round); and a run must give the same bits with 1 and 2
// threads. Shapes cover the 8 x 32 register tile's edges, odd K and the 256-pair depth
// slices.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "autodiff/ops.h"
#include "tensor/backend.h"
#include "tensor/cpu/bf16.h"
#include "tensor/cpu/conv2d.h"
#include "tests/helpers.h"

using namespace vdm;

namespace {

float from_bits(uint32_t u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}
// x rounded to bf16 and back.
float rounded(float x) { return cpu::from_bf16(cpu::to_bf16(x)); }

// A float tensor with every element rounded to bf16, as float64.
Tensor rounded_f64(const Tensor& t) {
    Tensor out = Tensor::empty(t.shape(), DType::F64);
    for (int64_t i = 0; i < t.numel(); ++i) out.data<double>()[i] = double(rounded(t.data<float>()[i]));
    return out;
}

// cpu_set_bf16(true) for one scope.
struct Bf16Scope {
    Bf16Scope() { cpu_set_bf16(true); }
    ~Bf16Scope() { cpu_set_bf16(false); }
};

// |got - ref| <= atol + rtol |ref| everywhere; got f32, ref f64.
void check_close(const Tensor& got, const Tensor& ref, double atol, double rtol) {
    REQUIRE(got.shape() == ref.shape());
    int bad = 0;
    for (int64_t i = 0; i < got.numel(); ++i)
        if (!(std::abs(double(got.data<float>()[i]) - ref.data<double>()[i]) <=
              atol + rtol * std::abs(ref.data<double>()[i])))
            ++bad;
    CHECK(bad == 0);
}

}  // namespace

TEST_CASE("to_bf16 rounds to nearest even and keeps infinities and NaN") {
    CHECK(cpu::to_bf16(1.0f) == 0x3f80);
    CHECK(cpu::to_bf16(-2.0f) == 0xc000);
    CHECK(cpu::to_bf16(from_bits(0x3f807fffu)) == 0x3f80);  // below the tie: down
    CHECK(cpu::to_bf16(from_bits(0x3f808000u)) == 0x3f80);  // tie, even below: down
    CHECK(cpu::to_bf16(from_bits(0x3f818000u)) == 0x3f82);  // tie, odd below: up to even
    CHECK(cpu::to_bf16(from_bits(0x3f808001u)) == 0x3f81);  // above the tie: up
    CHECK(cpu::to_bf16(std::numeric_limits<float>::infinity()) == 0x7f80);
    CHECK(cpu::to_bf16(std::numeric_limits<float>::max()) == 0x7f80);  // rounds up to infinity
    CHECK(std::isnan(cpu::from_bf16(cpu::to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    CHECK(std::isnan(cpu::from_bf16(cpu::to_bf16(from_bits(0x7fffffffu)))));  // would carry into +0
    CHECK(std::isnan(cpu::from_bf16(cpu::to_bf16(from_bits(0x7f800001u)))));  // signalling NaN
    // Within half a unit of the 8-bit significand, for values across the range.
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    for (int i = 0; i < 1000; ++i) {
        const float x = unit(rng) * std::ldexp(1.0f, int(rng() % 60) - 30);
        CHECK(std::abs(rounded(x) - x) <= std::ldexp(std::abs(x), -8));
    }
}

TEST_CASE("pack_bf16_pairs and pack_bf16_row_pairs put elements 2p and 2p + 1 in the low and high halves") {
    const int64_t K = 5, N = 3, P = 3;
    std::vector<float> X(size_t(K * N));
    for (size_t i = 0; i < X.size(); ++i) X[i] = float(i) + 1.0f;  // exact in bf16
    auto element = [&](int64_t k, int64_t j, int64_t rs, int64_t cs) {
        return k < K ? X[size_t(k * rs + j * cs)] : 0.0f;  // zero past K
    };
    for (bool transposed : {false, true}) {
        CAPTURE(transposed);
        // (k, j) at X[k * N + j], or with X read as its transpose, at X[j * K + k].
        const int64_t rs = transposed ? 1 : N, cs = transposed ? K : 1;
        std::vector<uint32_t> words(size_t(P * N), 0xdeadbeefu);
        cpu::pack_bf16_pairs(X.data(), rs, cs, K, N, words.data());
        for (int64_t p = 0; p < P; ++p)
            for (int64_t j = 0; j < N; ++j) {
                const uint32_t w = words[size_t(p * N + j)];
                CHECK(cpu::from_bf16(uint16_t(w)) == element(2 * p, j, rs, cs));
                CHECK(cpu::from_bf16(uint16_t(w >> 16)) == element(2 * p + 1, j, rs, cs));
            }
    }
    // X as N rows of K (rows K apart): word (i, p) holds X[i][2p], X[i][2p + 1].
    std::vector<uint32_t> rows(size_t(N * P), 0xdeadbeefu);
    cpu::pack_bf16_row_pairs(X.data(), N, K, K, rows.data());
    for (int64_t i = 0; i < N; ++i)
        for (int64_t p = 0; p < P; ++p) {
            const uint32_t w = rows[size_t(i * P + p)];
            CHECK(cpu::from_bf16(uint16_t(w)) == element(2 * p, i, 1, K));
            CHECK(cpu::from_bf16(uint16_t(w >> 16)) == element(2 * p + 1, i, 1, K));
        }
}

TEST_CASE("gemm_bf16: vector and portable kernels agree bit for bit and match the rounded product") {
    std::mt19937_64 rng(11);
    std::normal_distribution<float> normal;
    struct Shape {
        int64_t M, N, K;
    };
    std::vector<Shape> shapes = {{1, 1, 1}, {3, 17, 31}, {8, 32, 2}, {9, 33, 3}, {17, 31, 785},
                                 {32, 784, 288}, {31, 65, 513}, {785, 3, 17}, {1, 785, 1}};
    for (int i = 0; i < 6; ++i)
        shapes.push_back({int64_t(1 + rng() % 70), int64_t(1 + rng() % 300), int64_t(1 + rng() % 600)});
    if (!cpu::bf16_vector_kernel()) MESSAGE("no AVX-512 BF16 on this CPU: only the portable kernel is checked");
    for (const Shape& s : shapes) {
        for (bool beta_one : {false, true}) {
            CAPTURE(s.M);
            CAPTURE(s.N);
            CAPTURE(s.K);
            CAPTURE(beta_one);
            const int64_t P = (s.K + 1) / 2, ldc = s.N + 2;
            std::vector<float> A(size_t(s.K * s.M)), B(size_t(s.K * s.N));  // A stored K x M
            for (float& x : A) x = normal(rng);
            for (float& x : B) x = normal(rng);
            // A k-major, or row by row (from A^T stored M x K); C row-major, or transposed.
            const bool a_rows = (s.M + s.N + s.K) % 2 == 1, c_transposed = s.M % 2 == 1;
            std::vector<float> At(size_t(s.M * s.K));
            for (int64_t k = 0; k < s.K; ++k)
                for (int64_t i = 0; i < s.M; ++i) At[size_t(i * s.K + k)] = A[size_t(k * s.M + i)];
            std::vector<uint32_t> Ap(size_t(P * s.M)), Bp(size_t(P * s.N));
            if (a_rows)
                cpu::pack_bf16_row_pairs(At.data(), s.M, s.K, s.K, Ap.data());
            else
                cpu::pack_bf16_pairs(A.data(), s.M, 1, s.K, s.M, Ap.data());
            cpu::pack_bf16_pairs(B.data(), s.N, 1, s.K, s.N, Bp.data());
            const int64_t a_row = a_rows ? P : 1, a_pair = a_rows ? 1 : s.M;
            // C (i, j) at i * c_row + j * c_col in a buffer of M x ldc or N x ldc_t
            const int64_t ldc_t = s.M + 1, c_row = c_transposed ? 1 : ldc, c_col = c_transposed ? ldc_t : 1;
            std::vector<float> C0(size_t(c_transposed ? s.N * ldc_t : s.M * ldc));
            for (float& x : C0) x = beta_one ? normal(rng) : std::numeric_limits<float>::quiet_NaN();
            const float beta = beta_one ? 1.0f : 0.0f;

            auto run = [&](bool vector_kernel, int threads) {
                std::vector<float> C = C0;
                omp_set_num_threads(threads);
                cpu::gemm_bf16(s.M, s.N, P, Ap.data(), a_row, a_pair, Bp.data(), beta, C.data(), c_row, c_col,
                               vector_kernel);
                omp_set_num_threads(2);
                return C;
            };
            const std::vector<float> portable = run(false, 2);
            CHECK(std::memcmp(portable.data(), run(false, 1).data(), portable.size() * sizeof(float)) == 0);
            if (cpu::bf16_vector_kernel()) {
                const std::vector<float> vec = run(true, 2);
                CHECK(std::memcmp(vec.data(), portable.data(), vec.size() * sizeof(float)) == 0);
                CHECK(std::memcmp(vec.data(), run(true, 1).data(), vec.size() * sizeof(float)) == 0);
            }
            int bad = 0;
            for (int64_t i = 0; i < s.M; ++i)
                for (int64_t j = 0; j < s.N; ++j) {
                    const size_t at = size_t(i * c_row + j * c_col);
                    double ref = beta_one ? double(C0[at]) : 0.0, magnitude = std::abs(ref);
                    for (int64_t k = 0; k < s.K; ++k) {
                        const double prod = double(rounded(A[size_t(k * s.M + i)])) * double(rounded(B[size_t(k * s.N + j)]));
                        ref += prod;
                        magnitude += std::abs(prod);
                    }
                    const double bound = 2.0 * double(P + 2) * std::ldexp(1.0, -24) * magnitude;
                    if (!(std::abs(double(portable[at]) - ref) <= bound)) ++bad;
                }
            CHECK(bad == 0);
        }
    }
}

// With bf16 on, the backend's conv2d must be the float64 convolution of the bf16-rounded
// operands (x, weight, and for the gradients dy) up to float summation: 1e-4 absolute
// and relative at these sizes, where skipping the rounding would miss by ~1e-2. The
// float64 reference is the im2col + gemm path, itself checked against the direct loops.
TEST_CASE("conv2d in bf16: forward and both gradients are the rounded operands' convolution") {
    struct Case {
        Shape x, w;
    };
    const Case cases[] = {{Shape{2, 3, 28, 28}, Shape{8, 3, 3, 3}},
                          {Shape{1, 16, 7, 9}, Shape{4, 16, 1, 1}},
                          {Shape{3, 5, 6, 4}, Shape{6, 5, 5, 5}},
                          {Shape{5, 17, 3, 31}, Shape{31, 17, 3, 3}},
                          {Shape{4, 32, 28, 28}, Shape{32, 32, 3, 3}}};
    uint64_t seed = 300;
    for (const Case& c : cases) {
        CAPTURE(c.x.str());
        CAPTURE(c.w.str());
        Tensor x = test::randn(c.x, seed++, 1.0, DType::F32), w = test::randn(c.w, seed++, 0.3, DType::F32);
        Tensor b = test::randn(Shape{c.w[0]}, seed++, 1.0, DType::F32);
        Tensor dy = test::randn(Shape{c.x[0], c.w[0], c.x[2], c.x[3]}, seed++, 1.0, DType::F32);

        auto run = [&](int threads) {
            Bf16Scope bf16;
            omp_set_num_threads(threads);
            Var xv(x.clone(), true), wv(w.clone(), true), bv(b.clone(), true);
            Var y = conv2d(xv, wv, bv);
            sum(y * Var(dy)).backward();
            omp_set_num_threads(2);
            return std::vector<Tensor>{y.value(), xv.grad(), wv.grad(), bv.grad()};
        };
        const std::vector<Tensor> got = run(2);

        const Tensor x64 = rounded_f64(x), w64 = rounded_f64(w), dy64 = rounded_f64(dy), b64 = b.to(DType::F64);
        Tensor y_ref = Tensor::empty(dy.shape(), DType::F64), dx_ref = Tensor::empty(x.shape(), DType::F64),
               dw_ref = Tensor::empty(w.shape(), DType::F64), db_ref = Tensor::empty(b.shape(), DType::F64);
        cpu::conv2d_forward<double>(x64, w64, b64, y_ref);
        cpu::conv2d_backward<double>(x64, w64, dy64, dx_ref, dw_ref, db_ref);
        check_close(got[0], y_ref, 1e-4, 1e-4);
        check_close(got[1], dx_ref, 1e-4, 1e-4);
        check_close(got[2], dw_ref, 1e-4 * double(c.x[0]), 1e-4);
        // The bias gradient is a plain sum of dy, never rounded.
        Tensor db_full = Tensor::zeros(b.shape(), DType::F64);
        const int64_t HW = c.x[2] * c.x[3];
        for (int64_t i = 0; i < dy.numel(); ++i)
            db_full.data<double>()[(i / HW) % c.w[0]] += double(dy.data<float>()[i]);
        check_close(got[3], db_full, 1e-5, 1e-6);

        // One thread: the same forward and input gradient bits (one thread per image),
        // the weight gradient to float rounding (partial sums per thread).
        const std::vector<Tensor> one = run(1);
        CHECK(one[0].to_vector() == got[0].to_vector());
        CHECK(one[1].to_vector() == got[1].to_vector());
        check_close(one[2], dw_ref, 1e-4 * double(c.x[0]), 1e-4);
    }
}
