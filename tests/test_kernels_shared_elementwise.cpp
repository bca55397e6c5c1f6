// The shared per-element functions of the basic, elementwise and layout kernels
// (tensor/kernels/elementwise.h, tensor/kernels/layout.h, tensor/rng.h), run on the
// host exactly as the CUDA kernels run them: one call per index i, visited in a
// grid-stride order, into outputs poisoned with NaN so an unwritten element shows.
// Each is compared with the CPU backend (exact: the arithmetic is the same) and,
// where the CPU kernel shares the same index math, with a naive nested-loop
// reference written differently. What this cannot check without a GPU: launch
// geometry, and how far the GPU's exp / log / sin differ from the host's (a few ulp,
// bounded below against long double references).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tensor/backend.h"
#include "tensor/kernels/elementwise.h"
#include "tensor/kernels/layout.h"
#include "tensor/rng.h"
#include "tests/helpers.h"

using namespace vdm;
using vdm::test::away_from_zero;
using vdm::test::uniform;

namespace {

const int64_t kOddSizes[] = {1, 3, 17, 31, 785};

// body(i) for every i in [0, n), in the order a grid of 3 blocks of 256 threads with
// a grid-stride loop would visit them one thread after another (tensor/cuda/launch.h):
// the kernels must not depend on index order.
template <typename Body> void for_each_index_on_host(int64_t n, Body body) {
    const int64_t threads = 3 * 256;
    for (int64_t t = 0; t < threads; ++t)
        for (int64_t i = t; i < n; i += threads) body(i);
}

Tensor poisoned(const Shape& shape, DType dtype) {
    return Tensor::full(shape, std::numeric_limits<double>::quiet_NaN(), dtype);
}

// How many elements differ (NaN never equals anything); *first gets the first one.
int64_t count_mismatches(const Tensor& got, const Tensor& want, int64_t* first = nullptr) {
    REQUIRE(got.shape() == want.shape());
    int64_t count = 0;
    for (int64_t i = 0; i < got.numel(); ++i)
        if (!(got.at(i) == want.at(i)) && count++ == 0 && first) *first = i;
    return count;
}

// Every element equal (values compared as doubles, so +0 equals -0).
void expect_equal(const Tensor& got, const Tensor& want) {
    int64_t first = 0;
    const int64_t count = count_mismatches(got, want, &first);
    INFO(count, " of ", got.numel(), " differ; first at ", first, ": got ", got.at(first),
         " want ", want.at(first));
    CHECK(count == 0);
}

template <typename T> constexpr double kEps = std::numeric_limits<T>::epsilon();

// --- unary functions: a reference value and derivative in long double, written
// from the textbook formulas rather than the stable forms the kernels use.
struct Reference {
    long double f, df;
};
Reference unary_reference(UnaryOp op, long double x) {
    const long double s = 1.0L / (1.0L + std::exp(-x));  // sigmoid
    switch (op) {
        case UnaryOp::Neg: return {-x, -1.0L};
        case UnaryOp::Exp: return {std::exp(x), std::exp(x)};
        case UnaryOp::Log: return {std::log(x), 1.0L / x};
        case UnaryOp::Expm1: return {std::expm1(x), std::exp(x)};
        case UnaryOp::Log1p: return {std::log1p(x), 1.0L / (1.0L + x)};
        case UnaryOp::Sigmoid: return {s, s * (1.0L - s)};
        case UnaryOp::Softplus: return {std::log1p(std::exp(x)), s};
        case UnaryOp::Silu: return {x * s, s + x * s * (1.0L - s)};
        case UnaryOp::Abs: return {std::fabs(x), x > 0 ? 1.0L : -1.0L};
        case UnaryOp::Square: return {x * x, 2.0L * x};
        case UnaryOp::Sqrt: return {std::sqrt(x), 0.5L / std::sqrt(x)};
        case UnaryOp::Sin: return {std::sin(x), std::cos(x)};
        case UnaryOp::Cos: return {std::cos(x), -std::sin(x)};
    }
    return {0.0L, 0.0L};
}

const UnaryOp kUnaryOps[] = {UnaryOp::Neg,     UnaryOp::Exp,      UnaryOp::Log,  UnaryOp::Expm1,
                             UnaryOp::Log1p,   UnaryOp::Sigmoid,  UnaryOp::Softplus,
                             UnaryOp::Silu,    UnaryOp::Abs,      UnaryOp::Square,
                             UnaryOp::Sqrt,    UnaryOp::Sin,      UnaryOp::Cos};

// Inputs inside the function's domain, never zero: positive for log and sqrt.
Tensor unary_input(UnaryOp op, int64_t n, uint64_t seed) {
    const bool positive = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Log1p;
    return positive ? uniform(Shape{n}, seed, 0.05, 4.0) : away_from_zero(Shape{n}, seed, 0.05, 4.0);
}

template <typename T> void check_unary(UnaryOp op, int64_t n, uint64_t seed) {
    CAPTURE(unary_op_name(op));
    CAPTURE(n);
    constexpr DType dt = dtype_of<T>();
    Backend& cpu = backend_for(Device::CPU);
    const Tensor x = unary_input(op, n, seed).to(dt);
    const Tensor dy = away_from_zero(Shape{n}, seed + 7, 0.5, 2.0).to(dt);
    Tensor y_cpu = poisoned(x.shape(), dt), dx_cpu = poisoned(x.shape(), dt);
    cpu.unary_forward(op, x, y_cpu);
    cpu.unary_backward(op, x, y_cpu, dy, dx_cpu);

    Tensor y = poisoned(x.shape(), dt), dx = poisoned(x.shape(), dt);
    const T* px = x.data<T>();
    const T* pdy = dy.data<T>();
    T* py = y.data<T>();
    T* pdx = dx.data<T>();
    kernels::with_unary_op(op, [&](auto tag) {
        constexpr UnaryOp OP = decltype(tag)::value;
        for_each_index_on_host(n, [&](int64_t i) { py[i] = kernels::UnaryFn<T, OP>::f(px[i]); });
        for_each_index_on_host(
            n, [&](int64_t i) { pdx[i] = kernels::unary_grad<T, OP>(px[i], py[i], pdy[i]); });
    });
    expect_equal(y, y_cpu);
    expect_equal(dx, dx_cpu);

    // Against the long double reference: within 8 epsilon times max(|value|, 1). The
    // host stays under 3; the bound leaves room for the GPU's math library (expf, logf,
    // sinf within 2 ulp) and fused multiply-adds, and still catches a wrong formula.
    double worst_f = 0.0, worst_df = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const Reference ref = unary_reference(op, static_cast<long double>(px[i]));
        const double f = double(ref.f), df = double(ref.df) * double(pdy[i]);
        worst_f = std::max(worst_f, std::abs(double(py[i]) - f) / std::max(std::abs(f), 1.0));
        worst_df = std::max(worst_df, std::abs(double(pdx[i]) - df) / std::max(std::abs(df), 1.0));
    }
    CHECK(worst_f <= 8 * kEps<T>);
    CHECK(worst_df <= 8 * kEps<T>);
}

// --- broadcasting: the naive reference indexes each input at i_k mod its padded
// dim k (1 or out's dim), in Horner form, instead of the kernels' stride tables.
int64_t naive_broadcast_source(const Shape& out, const Shape& in, int64_t j) {
    const auto po = out.padded(), pi = in.padded();
    int64_t idx[4];
    for (int k = 3; k >= 0; --k) {
        idx[k] = j % po[size_t(k)];
        j /= po[size_t(k)];
    }
    int64_t flat = 0;
    for (int k = 0; k < 4; ++k) flat = flat * pi[size_t(k)] + idx[k] % pi[size_t(k)];
    return flat;
}

const BinaryOp kBinaryOps[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};

template <typename T> void check_binary(const Shape& sa, const Shape& sb, uint64_t seed) {
    CAPTURE(sa.str());
    CAPTURE(sb.str());
    constexpr DType dt = dtype_of<T>();
    Backend& cpu = backend_for(Device::CPU);
    const Shape so = broadcast_shapes(sa, sb, "test");
    const Tensor a = away_from_zero(sa, seed, 0.5, 2.0).to(dt);
    const Tensor b = away_from_zero(sb, seed + 2, 0.5, 2.0).to(dt);
    const Tensor dout = away_from_zero(so, seed + 4, 0.5, 2.0).to(dt);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const T* pd = dout.data<T>();
    const kernels::BroadcastIndex bi = kernels::broadcast_index(so, sa, sb);
    const int64_t n = so.numel();
    for (BinaryOp op : kBinaryOps) {
        CAPTURE(binary_op_name(op));
        kernels::with_binary_op(op, [&](auto tag) {
            constexpr BinaryOp OP = decltype(tag)::value;
            using F = kernels::BinaryFn<T, OP>;
            Tensor out_cpu = poisoned(so, dt), out = poisoned(so, dt), naive = poisoned(so, dt);
            cpu.binary_forward(op, a, b, out_cpu);
            T* po = out.data<T>();
            for_each_index_on_host(n, [&](int64_t j) {
                kernels::binary_forward_element<T, OP>(bi, pa, pb, po, j);
            });
            for (int64_t j = 0; j < n; ++j)
                naive.data<T>()[j] = F::f(pa[naive_broadcast_source(so, sa, j)],
                                          pb[naive_broadcast_source(so, sb, j)]);
            expect_equal(out, out_cpu);
            expect_equal(out, naive);
            if (sa == sb) {  // the CUDA kernels' same-shape path: element i with element i
                Tensor same = poisoned(so, dt);
                T* ps = same.data<T>();
                for_each_index_on_host(n, [&](int64_t i) { ps[i] = F::f(pa[i], pb[i]); });
                expect_equal(same, out_cpu);
            }
            for (int which = 0; which < 2; ++which) {
                CAPTURE(which);
                Tensor g_cpu = poisoned(so, dt), g = poisoned(so, dt), g_naive = poisoned(so, dt);
                cpu.binary_backward(op, which, a, b, dout, g_cpu);
                T* pg = g.data<T>();
                for_each_index_on_host(n, [&](int64_t j) {
                    kernels::binary_backward_element<T, OP>(bi, which, pa, pb, pd, pg, j);
                });
                for (int64_t j = 0; j < n; ++j) {
                    const T av = pa[naive_broadcast_source(so, sa, j)];
                    const T bv = pb[naive_broadcast_source(so, sb, j)];
                    g_naive.data<T>()[j] = pd[j] * (which == 0 ? F::da(av, bv) : F::db(av, bv));
                }
                expect_equal(g, g_cpu);
                expect_equal(g, g_naive);
            }
        });
    }
}

template <typename T> void check_broadcast_to(const Shape& sx, const Shape& so, uint64_t seed) {
    CAPTURE(sx.str());
    CAPTURE(so.str());
    constexpr DType dt = dtype_of<T>();
    const Tensor x = away_from_zero(sx, seed, 0.5, 2.0).to(dt);
    Tensor out_cpu = poisoned(so, dt), out = poisoned(so, dt), naive = poisoned(so, dt);
    backend_for(Device::CPU).broadcast_to(x, out_cpu);
    const kernels::BroadcastIndex bi = kernels::broadcast_index(so, sx, sx);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    for_each_index_on_host(so.numel(),
                           [&](int64_t j) { kernels::broadcast_element(bi, px, po, j); });
    for (int64_t j = 0; j < so.numel(); ++j)
        naive.data<T>()[j] = px[naive_broadcast_source(so, sx, j)];
    expect_equal(out, out_cpu);
    expect_equal(out, naive);
}

// --- permute: the naive reference walks x's multi-index and places each element.
template <typename T> void check_permute(const Shape& sx, const std::vector<int>& perm,
                                         uint64_t seed) {
    CAPTURE(sx.str());
    CAPTURE(perm.size());
    constexpr DType dt = dtype_of<T>();
    Shape sy;
    for (int p : perm) sy.push_back(sx[p]);
    const Tensor x = away_from_zero(sx, seed, 0.5, 2.0).to(dt);
    Tensor y_cpu = poisoned(sy, dt), y = poisoned(sy, dt), naive = poisoned(sy, dt);
    backend_for(Device::CPU).permute(x, perm, y_cpu);
    const kernels::PermuteIndex pi = kernels::permute_index(sx, perm);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_index_on_host(sy.numel(), [&](int64_t j) { py[j] = px[pi.source(j)]; });
    const int nd = sx.ndim();
    const auto ystride = sy.strides();
    for (int64_t i = 0; i < sx.numel(); ++i) {
        int64_t xi[4] = {};  // x's multi-index of element i
        for (int64_t k = nd - 1, rest = i; k >= 0; --k) {
            xi[k] = rest % sx[int(k)];
            rest /= sx[int(k)];
        }
        int64_t j = 0;  // y's axis a is x's axis perm[a]
        for (int a = 0; a < nd; ++a) j += xi[perm[size_t(a)]] * ystride[size_t(a)];
        naive.data<T>()[j] = px[i];
    }
    expect_equal(y, y_cpu);
    expect_equal(y, naive);
}

// --- copy_slice: concat's forward (parts into whole) and backward (whole into parts).
template <typename T> void check_copy_slice(const Shape& whole_shape, int axis,
                                            const std::vector<int64_t>& sizes, uint64_t seed) {
    CAPTURE(whole_shape.str());
    CAPTURE(axis);
    constexpr DType dt = dtype_of<T>();
    Backend& cpu = backend_for(Device::CPU);
    std::vector<Tensor> parts;
    for (int64_t s : sizes) {
        Shape ps = whole_shape;
        ps[axis] = s;
        parts.push_back(away_from_zero(ps, seed++, 0.5, 2.0).to(dt));
    }
    // Forward: every element of whole comes from exactly one part.
    Tensor whole_cpu = poisoned(whole_shape, dt), whole = poisoned(whole_shape, dt);
    Tensor naive = poisoned(whole_shape, dt);
    int64_t offset = 0;
    for (Tensor& part : parts) {
        cpu.copy_slice(whole_cpu, part, axis, offset, /*into_whole=*/true);
        const kernels::SliceIndex si =
            kernels::slice_index(whole_shape, part.shape(), axis, offset);
        T* pw = whole.data<T>();
        T* pp = part.data<T>();
        for_each_index_on_host(part.numel(), [&](int64_t j) {
            kernels::copy_slice_element(si, pw, pp, true, j);
        });
        // Naive: part's multi-index with the axis shifted by offset, in whole's strides.
        const auto wstride = whole_shape.strides();
        for (int64_t j = 0; j < part.numel(); ++j) {
            int64_t w = 0;
            for (int64_t k = part.ndim() - 1, rest = j; k >= 0; --k) {
                const int64_t i = rest % part.dim(int(k)) + (k == axis ? offset : 0);
                rest /= part.dim(int(k));
                w += i * wstride[size_t(k)];
            }
            naive.data<T>()[w] = pp[j];
        }
        offset += part.dim(axis);
    }
    expect_equal(whole, whole_cpu);
    expect_equal(whole, naive);
    // Backward: each part read back from whole is the part that went in.
    offset = 0;
    for (Tensor& part : parts) {
        Tensor back_cpu = poisoned(part.shape(), dt), back = poisoned(part.shape(), dt);
        cpu.copy_slice(whole_cpu, back_cpu, axis, offset, /*into_whole=*/false);
        const kernels::SliceIndex si =
            kernels::slice_index(whole_shape, part.shape(), axis, offset);
        T* pw = whole.data<T>();
        T* pb = back.data<T>();
        for_each_index_on_host(part.numel(), [&](int64_t j) {
            kernels::copy_slice_element(si, pw, pb, false, j);
        });
        expect_equal(back, back_cpu);
        expect_equal(back, part);
        offset += part.dim(axis);
    }
}

// Random indices in [0, V), as an I32 tensor of the given shape.
Tensor random_indices(const Shape& shape, int64_t V, uint64_t seed) {
    Tensor u = uniform(shape, seed, 0.0, 1.0);
    Tensor index = Tensor::empty(shape, DType::I32);
    for (int64_t i = 0; i < index.numel(); ++i)
        index.data<int32_t>()[i] = int32_t(std::min<int64_t>(V - 1, int64_t(u.at(i) * double(V))));
    return index;
}

template <typename T> void check_gather_scatter(const Shape& rows, int64_t V, uint64_t seed) {
    CAPTURE(rows.str());
    CAPTURE(V);
    constexpr DType dt = dtype_of<T>();
    Backend& cpu = backend_for(Device::CPU);
    Shape sx = rows;
    sx.push_back(V);
    const Tensor x = away_from_zero(sx, seed, 0.5, 2.0).to(dt);
    const Tensor index = random_indices(rows, V, seed + 3);
    const Tensor dy = away_from_zero(rows, seed + 5, 0.5, 2.0).to(dt);
    const int32_t* pi = index.data<int32_t>();
    const int64_t n = rows.numel();

    Tensor y_cpu = poisoned(rows, dt), y = poisoned(rows, dt);
    cpu.gather_last(x, index, y_cpu);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    bool all_valid = true;
    for_each_index_on_host(n, [&](int64_t r) { all_valid &= kernels::gather_row(px, pi, py, V, r); });
    CHECK(all_valid);
    expect_equal(y, y_cpu);
    for (int64_t r = 0; r < n; ++r) CHECK(y.at(r) == x.at(r * V + pi[r]));

    // Scatter: dx = 0 (the kernel's memset), then one write per row.
    Tensor dx_cpu = poisoned(sx, dt), dx = Tensor::zeros(sx, dt), naive = Tensor::zeros(sx, dt);
    cpu.scatter_last(dy, index, dx_cpu);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    for_each_index_on_host(n, [&](int64_t r) { all_valid &= kernels::scatter_row(pdy, pi, pdx, V, r); });
    for (int64_t r = 0; r < n; ++r) naive.data<T>()[r * V + pi[r]] = pdy[r];
    CHECK(all_valid);
    expect_equal(dx, dx_cpu);
    expect_equal(dx, naive);
}

}  // namespace

TEST_CASE("shared elementwise: unary functions and derivatives per element match the CPU backend") {
    uint64_t seed = 1;
    for (UnaryOp op : kUnaryOps)
        for (int64_t n : kOddSizes) {
            check_unary<float>(op, n, seed);
            check_unary<double>(op, n, seed);
            seed += 10;
        }
}

TEST_CASE("shared elementwise: affine per element matches the CPU backend") {
    Backend& cpu = backend_for(Device::CPU);
    for (int64_t n : kOddSizes) {
        const Tensor x = away_from_zero(Shape{n}, 500 + uint64_t(n), 0.5, 2.0).to(DType::F32);
        Tensor y_cpu = poisoned(x.shape(), DType::F32), y = poisoned(x.shape(), DType::F32);
        cpu.affine(x, -1.75, 0.3, y_cpu);
        const float* px = x.data<float>();
        float* py = y.data<float>();
        for_each_index_on_host(n, [&](int64_t i) {
            py[i] = kernels::affine_element(px[i], -1.75f, 0.3f);
        });
        expect_equal(y, y_cpu);
        for (int64_t i = 0; i < n; ++i)  // one product and one sum in float: 2 roundings
            CHECK(std::abs(y.at(i) - (-1.75 * x.at(i) + 0.3)) <=
                  2 * kEps<float> * (1.75 * std::abs(x.at(i)) + 0.3));
    }
}

TEST_CASE("shared elementwise: binary ops with broadcasting per element match the CPU backend") {
    const std::pair<Shape, Shape> cases[] = {
        {Shape{1}, Shape{1}},
        {Shape{3}, Shape{3}},
        {Shape{17}, Shape{17}},
        {Shape{31}, Shape{31}},
        {Shape{785}, Shape{785}},
        {Shape{2, 32, 28, 28}, Shape{1, 32, 1, 1}},  // per-channel bias
        {Shape{2, 32, 28, 28}, Shape{2, 1, 1, 1}},   // per-sample scale
        {Shape{2, 32, 28, 28}, Shape{32, 1, 1}},     // fewer dims, right-aligned
        {Shape{1, 32, 1, 1}, Shape{2, 32, 28, 28}},  // the small one on the left
        {Shape{3, 5, 7, 9}, Shape{3, 5, 7, 9}},
        {Shape{3, 1, 5}, Shape{1, 4, 1}},            // both broadcast
        {Shape{5, 1, 3, 1}, Shape{1, 4, 1, 6}},
        {Shape{}, Shape{17}},                        // a scalar
        {Shape{17}, Shape{31, 1}},
        {Shape{3, 17}, Shape{17}},
        {Shape{64, 784}, Shape{64, 1}},
    };
    uint64_t seed = 1000;
    for (const auto& [sa, sb] : cases) {
        check_binary<float>(sa, sb, seed);
        check_binary<double>(sa, sb, seed);
        seed += 10;
    }
}

TEST_CASE("shared elementwise: broadcast_to per element matches the CPU backend") {
    const std::pair<Shape, Shape> cases[] = {
        {Shape{1, 32, 1, 1}, Shape{2, 32, 28, 28}}, {Shape{2, 1, 1, 1}, Shape{2, 32, 5, 5}},
        {Shape{32, 1, 1}, Shape{2, 32, 5, 7}},      {Shape{3, 1}, Shape{3, 17}},
        {Shape{}, Shape{31}},                       {Shape{785}, Shape{2, 785}},
        {Shape{17}, Shape{17}},
    };
    uint64_t seed = 2000;
    for (const auto& [sx, so] : cases) {
        check_broadcast_to<float>(sx, so, seed);
        check_broadcast_to<double>(sx, so, seed);
        ++seed;
    }
}

TEST_CASE("shared elementwise: a planted index bug is caught") {
    // The harness must be able to fail: a broadcast table with b's channel stride off
    // by one element, or a slice one element late, gives values that differ.
    const Shape so{2, 32, 5, 5}, sb{1, 32, 1, 1};
    const Tensor x = away_from_zero(sb, 77, 0.5, 2.0).to(DType::F32);
    Tensor right = poisoned(so, DType::F32), wrong = poisoned(so, DType::F32);
    kernels::BroadcastIndex bi = kernels::broadcast_index(so, sb, sb);
    for_each_index_on_host(so.numel(), [&](int64_t j) {
        kernels::broadcast_element(bi, x.data<float>(), right.data<float>(), j);
    });
    bi.stride_a[1] = 0;  // as if the channel dim were broadcast too
    for_each_index_on_host(so.numel(), [&](int64_t j) {
        kernels::broadcast_element(bi, x.data<float>(), wrong.data<float>(), j);
    });
    CHECK(count_mismatches(right, wrong) > 0);

    const Shape whole_shape{3, 5}, part_shape{3, 2};
    const Tensor whole = away_from_zero(whole_shape, 78, 0.5, 2.0).to(DType::F32);
    Tensor part = poisoned(part_shape, DType::F32), late = poisoned(part_shape, DType::F32);
    kernels::SliceIndex si = kernels::slice_index(whole_shape, part_shape, 1, 2);
    Tensor w = whole.clone();
    for_each_index_on_host(6, [&](int64_t j) {
        kernels::copy_slice_element(si, w.data<float>(), part.data<float>(), false, j);
    });
    si.start += 1;
    for_each_index_on_host(6, [&](int64_t j) {
        kernels::copy_slice_element(si, w.data<float>(), late.data<float>(), false, j);
    });
    CHECK(count_mismatches(part, late) == 6);
}

TEST_CASE("shared elementwise: fill, convert, accumulate and all_finite per element match the CPU backend") {
    Backend& cpu = backend_for(Device::CPU);
    const DType dtypes[] = {DType::F32, DType::F64, DType::I32};
    for (int64_t n : kOddSizes) {
        CAPTURE(n);
        // Values with fractions and both signs, so float -> int truncation shows.
        const Tensor values = away_from_zero(Shape{n}, 3000 + uint64_t(n), 0.25, 300.0);
        for (DType from : dtypes) {
            const Tensor src = values.to(from);
            for (DType to : dtypes) {
                CAPTURE(dtype_name(from));
                CAPTURE(dtype_name(to));
                Tensor got_cpu = Tensor::full(Shape{n}, -12345.0, to);
                cpu.convert(src, got_cpu);
                Tensor got = Tensor::full(Shape{n}, -12345.0, to);
                // What the kernel's thread i does: dst[i] = To(src[i]).
                auto emulate = [&](const auto* s, auto* d) {
                    using To = std::remove_pointer_t<decltype(d)>;
                    for_each_index_on_host(n, [&](int64_t i) { d[i] = To(s[i]); });
                };
                auto with_dst = [&](const auto* s) {
                    switch (to) {
                        case DType::F32: emulate(s, got.data<float>()); break;
                        case DType::F64: emulate(s, got.data<double>()); break;
                        case DType::I32: emulate(s, got.data<int32_t>()); break;
                    }
                };
                switch (from) {
                    case DType::F32: with_dst(src.data<float>()); break;
                    case DType::F64: with_dst(src.data<double>()); break;
                    case DType::I32: with_dst(src.data<int32_t>()); break;
                }
                expect_equal(got, got_cpu);
                expect_equal(got, src.to(to));  // Tensor::to agrees
            }
        }
        Tensor filled = Tensor::empty(Shape{n}, DType::F32);
        cpu.fill(filled, 0.7);
        for (int64_t i = 0; i < n; ++i) CHECK(filled.data<float>()[i] == 0.7f);

        const Tensor src = values.to(DType::F32);
        Tensor acc_cpu = away_from_zero(Shape{n}, 4000 + uint64_t(n), 0.5, 2.0).to(DType::F32);
        Tensor acc = acc_cpu.clone();
        cpu.accumulate(acc_cpu, src);
        for_each_index_on_host(n, [&](int64_t i) { acc.data<float>()[i] += src.data<float>()[i]; });
        expect_equal(acc, acc_cpu);

        // all_finite: the kernel's flag is set by any element failing is_finite.
        const double bad[] = {std::numeric_limits<double>::quiet_NaN(),
                              std::numeric_limits<double>::infinity(),
                              -std::numeric_limits<double>::infinity()};
        const int64_t where[] = {0, n / 2, n - 1};
        CHECK(cpu.all_finite(src));
        for (double b : bad)
            for (int64_t at : where) {
                Tensor t = src.clone();
                t.data<float>()[at] = float(b);
                int flag = 0;
                for_each_index_on_host(n, [&](int64_t i) {
                    if (!kernels::is_finite(t.data<float>()[i])) flag = 1;
                });
                CHECK(flag == 1);
                CHECK(!cpu.all_finite(t));
            }
    }
    const double specials[] = {0.0, -0.0, 1e-310, std::numeric_limits<double>::max(),
                               std::numeric_limits<double>::lowest(),
                               std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::quiet_NaN()};
    for (double v : specials) {
        CHECK(kernels::is_finite(v) == std::isfinite(v));
        CHECK(kernels::is_finite(float(v)) == std::isfinite(float(v)));
    }
}

TEST_CASE("shared elementwise: random fills write normal_at, uniform_at and keep_at at offset + i") {
    Backend& cpu = backend_for(Device::CPU);
    const uint64_t seed = 20240607;
    // Offsets include one that crosses 2^32, where the counter's upper word changes.
    const uint64_t offsets[] = {0, 1000003, (uint64_t(1) << 32) - 5};
    const double p = 0.3;
    for (int64_t n : kOddSizes)
        for (uint64_t offset : offsets) {
            CAPTURE(n);
            CAPTURE(offset);
            Tensor normal32 = poisoned(Shape{n}, DType::F32), normal64 = poisoned(Shape{n}, DType::F64);
            Tensor uniform64 = poisoned(Shape{n}, DType::F64), keep32 = poisoned(Shape{n}, DType::F32);
            cpu.fill_normal(normal32, seed, offset);
            cpu.fill_normal(normal64, seed, offset);
            cpu.fill_uniform(uniform64, seed, offset);
            cpu.fill_keep_mask(keep32, p, seed, offset);
            int64_t kept = 0;
            for (int64_t i = 0; i < n; ++i) {
                const uint64_t at = offset + uint64_t(i);
                CHECK(normal32.data<float>()[i] == float(normal_at(seed, at)));
                CHECK(normal64.data<double>()[i] == normal_at(seed, at));
                CHECK(uniform64.data<double>()[i] == uniform_at(seed, at));
                CHECK(keep32.data<float>()[i] == float(keep_at(seed, at, p)));
                const double u = uniform64.data<double>()[i];
                CHECK((u > 0.0 && u < 1.0));
                kept += keep32.data<float>()[i] != 0.0f;
                CHECK(keep32.data<float>()[i] == (u >= p ? float(1.0 / (1.0 - p)) : 0.0f));
            }
            if (n == 785) CHECK(std::abs(double(kept) / double(n) - (1.0 - p)) < 0.06);
        }
}

TEST_CASE("shared layout: permute per element matches the CPU backend, every 4-D perm") {
    std::vector<int> perm{0, 1, 2, 3};
    uint64_t seed = 5000;
    do {  // all 24 orders of a 4-D tensor with distinct odd dims
        check_permute<float>(Shape{2, 3, 5, 7}, perm, seed);
        check_permute<double>(Shape{2, 3, 5, 7}, perm, seed++);
    } while (std::next_permutation(perm.begin(), perm.end()));
    perm = {0, 1, 2};
    do {
        check_permute<float>(Shape{3, 17, 5}, perm, seed++);
    } while (std::next_permutation(perm.begin(), perm.end()));
    check_permute<float>(Shape{31, 17}, {1, 0}, seed++);
    check_permute<float>(Shape{785}, {0}, seed++);
    check_permute<float>(Shape{64, 32, 28, 28}, {0, 2, 3, 1}, seed++);  // NCHW -> NHWC tokens
    check_permute<float>(Shape{64, 28, 28, 32}, {0, 3, 1, 2}, seed++);  // and back
}

TEST_CASE("shared layout: copy_slice per element matches the CPU backend along each axis") {
    uint64_t seed = 6000;
    const Shape whole_shape{3, 5, 7, 4};
    for (int axis = 0; axis < 4; ++axis) {
        const int64_t d = whole_shape[axis];
        check_copy_slice<float>(whole_shape, axis, {1, d - 2, 1}, seed);
        check_copy_slice<double>(whole_shape, axis, {1, d - 2, 1}, seed);
        seed += 10;
    }
    check_copy_slice<float>(Shape{785}, 0, {17, 768}, seed++);
    check_copy_slice<float>(Shape{31, 17}, 1, {3, 14}, seed++);
    check_copy_slice<float>(Shape{31, 17}, 0, {30, 1}, seed++);
    check_copy_slice<float>(Shape{2, 33, 28, 28}, 1, {1, 32}, seed++);  // z with its Fourier features
    check_copy_slice<float>(Shape{1, 1, 1, 1}, 2, {1}, seed++);
}

TEST_CASE("shared layout: gather and scatter rows match the CPU backend, bad indices match its error") {
    uint64_t seed = 7000;
    check_gather_scatter<float>(Shape{1}, 3, seed++);
    check_gather_scatter<float>(Shape{17}, 1, seed++);
    check_gather_scatter<float>(Shape{31, 3}, 17, seed++);
    check_gather_scatter<double>(Shape{785}, 5, seed++);
    check_gather_scatter<float>(Shape{2, 784}, 256, seed++);  // the decoder's pixel values

    // A bad index: the CUDA kernels report the first bad row (integer atomicMin) and
    // the host words it with kernels::fail_index; the CPU checks in order. Same text.
    const int64_t V = 256;
    const Tensor x = away_from_zero(Shape{31, V}, seed++, 0.5, 2.0).to(DType::F32);
    for (int32_t bad : {-1, int32_t(V), 1000}) {
        Tensor index = random_indices(Shape{31}, V, seed++);
        index.data<int32_t>()[29] = -7;  // a later bad row: the first one must be named
        index.data<int32_t>()[17] = bad;
        int64_t first_bad = 31;
        Tensor y = poisoned(Shape{31}, DType::F32);
        for_each_index_on_host(31, [&](int64_t r) {
            if (!kernels::gather_row(x.data<float>(), index.data<int32_t>(), y.data<float>(), V, r))
                first_bad = std::min(first_bad, r);
        });
        REQUIRE(first_bad == 17);
        std::string gpu_message;
        try {
            kernels::fail_index("gather", index.data<int32_t>()[first_bad], first_bad, V);
        } catch (const Error& e) {
            gpu_message = e.what();
        }
        std::string cpu_message;
        try {
            Tensor y_cpu = poisoned(Shape{31}, DType::F32);
            backend_for(Device::CPU).gather_last(x, index, y_cpu);
        } catch (const Error& e) {
            cpu_message = e.what();
        }
        CHECK(cpu_message == gpu_message);
        CHECK(cpu_message.find("position 17") != std::string::npos);
        vdm::test::check_error(
            [&] {
                Tensor dx = poisoned(Shape{31, V}, DType::F32);
                backend_for(Device::CPU).scatter_last(y, index, dx);
            },
            "scatter", "outside [0, 256)");
    }
}
