// cpu::gemm against gemm_naive: every transpose combination, odd sizes on each side of
// the register tiles (8 x 32 broadcast, 4 x 4 dot) and the depth slices (256, 1024),
// beta 0 and 1, padded leading dimensions, 1 and 2 threads.
//
// Tolerance: the error analysis of floating-point summation bounds a sum of n products,
// each partial sum rounded once, by n u sum_k |a_ik b_kj| (u = epsilon / 2). gemm adds
// at most K products, one sum per depth slice and beta C, so every element must be
// within 2 (K + 2) u (sum_k |a_ik b_kj| + |beta C_ij|) of the double-precision reference;
// a dropped or doubled product, or a wrong beta, misses by far more.
// Results must also be bit-identical run to run and with 1 or 2 threads: each element's
// sum is computed by one thread in an order that does not depend on the thread count.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tensor/cpu/gemm.h"

using namespace vdm;

namespace {

struct GemmCase {
    int64_t M, N, K;
    bool trans_a, trans_b;
    bool beta_one;
};

// Runs one case in T with 1 and 2 threads (twice with 2) and checks it as described above.
template <typename T> void check_gemm(const GemmCase& g, std::mt19937_64& rng) {
    CAPTURE(g.M);
    CAPTURE(g.N);
    CAPTURE(g.K);
    CAPTURE(g.trans_a);
    CAPTURE(g.trans_b);
    CAPTURE(g.beta_one);
    std::normal_distribution<double> normal;
    std::uniform_int_distribution<int64_t> pad(0, 3);
    // Stored shapes: A is M x K (K x M transposed), B is K x N (N x K), C is M x N.
    const int64_t a_rows = g.trans_a ? g.K : g.M, a_cols = g.trans_a ? g.M : g.K;
    const int64_t b_rows = g.trans_b ? g.N : g.K, b_cols = g.trans_b ? g.K : g.N;
    const int64_t lda = a_cols + pad(rng), ldb = b_cols + pad(rng), ldc = g.N + pad(rng);
    std::vector<T> A(size_t(a_rows * lda)), B(size_t(b_rows * ldb)), C0(size_t(g.M * ldc));
    for (T& x : A) x = T(normal(rng));
    for (T& x : B) x = T(normal(rng));
    for (T& x : C0) x = g.beta_one ? T(normal(rng)) : std::numeric_limits<T>::quiet_NaN();  // beta 0 ignores C
    const T beta = g.beta_one ? T(1) : T(0);

    std::vector<T> ref = C0, magnitude(C0.size(), T(0)), absA(A.size()), absB(B.size());
    for (size_t i = 0; i < A.size(); ++i) absA[i] = std::abs(A[i]);
    for (size_t i = 0; i < B.size(); ++i) absB[i] = std::abs(B[i]);
    cpu::gemm_naive<T>(g.trans_a, g.trans_b, g.M, g.N, g.K, A.data(), lda, B.data(), ldb, beta, ref.data(), ldc);
    cpu::gemm_naive<T>(g.trans_a, g.trans_b, g.M, g.N, g.K, absA.data(), lda, absB.data(), ldb, T(0),
                       magnitude.data(), ldc);

    auto run = [&](int threads) {
        omp_set_num_threads(threads);
        std::vector<T> c = C0;
        cpu::gemm<T>(g.trans_a, g.trans_b, g.M, g.N, g.K, A.data(), lda, B.data(), ldb, beta, c.data(), ldc);
        return c;
    };
    const int saved = omp_get_max_threads();
    const std::vector<T> one = run(1), two = run(2), again = run(2);
    omp_set_num_threads(saved);

    const double u = std::numeric_limits<T>::epsilon() / 2;
    int64_t bad = 0;
    for (int64_t i = 0; i < g.M; ++i) {
        for (int64_t j = 0; j < g.N; ++j) {
            const size_t at = size_t(i * ldc + j);
            const double prior = g.beta_one ? std::abs(double(C0[at])) : 0.0;
            const double bound = 2.0 * double(g.K + 2) * u * (double(magnitude[at]) + prior);
            if (!(std::abs(double(one[at]) - double(ref[at])) <= bound) && bad++ < 3)
                FAIL_CHECK("C(", i, ", ", j, ") = ", one[at], ", reference ", ref[at], ", bound ", bound);
        }
        // The padding past column N is never written.
        const size_t row = size_t(i * ldc);
        CHECK(std::memcmp(one.data() + row + g.N, C0.data() + row + g.N, size_t(ldc - g.N) * sizeof(T)) == 0);
    }
    CHECK(bad == 0);
    CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(T)) == 0);
    CHECK(std::memcmp(two.data(), again.data(), two.size() * sizeof(T)) == 0);
}

// Every (M, N, K) from the odd sizes, up to 2e6 multiply-adds, in all four transposes.
std::vector<GemmCase> odd_size_cases() {
    const int64_t sizes[] = {1, 3, 17, 31, 785};
    std::vector<GemmCase> cases;
    int shape = 0;  // beta alternates from shape to shape, for each transpose
    for (int64_t M : sizes)
        for (int64_t N : sizes)
            for (int64_t K : sizes) {
                for (int t = 0; t < 4; ++t)
                    if (M * N * K <= 2'000'000) cases.push_back({M, N, K, bool(t & 1), bool(t & 2), (shape + t) % 2 == 1});
                ++shape;
            }
    return cases;
}

// Random shapes from 1 to 160 on each side; a fifth of them narrower (1 to 48) and
// 1000 to 2100 deep (two and three dot slices). All four transposes.
std::vector<GemmCase> random_cases(std::mt19937_64& rng, int count) {
    std::uniform_int_distribution<int64_t> side(1, 160), narrow(1, 48), deep(1000, 2100);
    std::vector<GemmCase> cases;
    for (int n = 0; n < count; ++n) {
        const bool is_deep = n % 5 == 0;
        const int64_t M = is_deep ? narrow(rng) : side(rng), N = is_deep ? narrow(rng) : side(rng);
        const int64_t K = is_deep ? deep(rng) : side(rng);
        cases.push_back({M, N, K, bool(n & 1), bool(n & 2), (n / 4) % 2 == 1});
    }
    return cases;
}

}  // namespace

TEST_CASE("gemm float32 matches the naive reference at odd sizes, all transposes, beta 0 and 1, 1 and 2 threads") {
    std::mt19937_64 rng(1);
    for (const GemmCase& g : odd_size_cases()) check_gemm<float>(g, rng);
}

TEST_CASE("gemm float32 matches the naive reference at random shapes, all transposes") {
    std::mt19937_64 rng(2);
    for (const GemmCase& g : random_cases(rng, 48)) check_gemm<float>(g, rng);
}

TEST_CASE("gemm float64 (the portable kernel) matches the naive reference") {
    std::mt19937_64 rng(3);
    for (const GemmCase& g : random_cases(rng, 24)) check_gemm<double>(g, rng);
    for (const GemmCase& g : odd_size_cases())
        if (g.M * g.N * g.K <= 100'000) check_gemm<double>(g, rng);
}
