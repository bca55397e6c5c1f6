// The fused decoder log-probability, categorical_log_prob (autodiff/ops.h; kernels in
// tensor/cpu/decoder.h and tensor/cuda/decoder.cu, math in tensor/kernels/decoder.h),
// against the composed log_softmax + gather_last it replaces in reconstruction_loss:
// forward and both gradients at odd sizes, in f32 and f64, from a very peaked decoder
// (gamma_0 = -13) to a very flat one (gamma_0 = +5); its float64 gradient check; its
// determinism; and the CUDA kernel's warp arithmetic emulated on the host.
//
// Errors are measured as in tests/cuda_parity.h: rel = ||a - b|| / ||b|| per output.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "autodiff/gradcheck.h"
#include "autodiff/ops.h"
#include "tensor/dispatch.h"
#include "tensor/kernels/decoder.h"
#include "tests/cuda_parity.h"
#include "tests/helpers.h"
#include "vdm/decoder.h"
#include "vdm/encoder.h"
#include "vdm/process.h"

using namespace vdm;

namespace {

// The decoder's logit scale -0.5 exp(-gamma_0).
double scale_at(double gamma_0) { return -0.5 * std::exp(-gamma_0); }

// Values u in [-1.1, 1.1] (a little past the outer centres) and their true values:
// anywhere in [0, 255], or (`near`) the nearest bin or one of its two neighbours,
// as in training, where u = x + noise.
struct Inputs {
    Tensor u, index;  // F64, I32
};

Inputs make_inputs(const Shape& shape, uint64_t seed, bool near) {
    Inputs in{test::uniform(shape, seed, -1.1, 1.1), Tensor::empty(shape, DType::I32)};
    const Tensor pick = test::uniform(shape, seed + 1, 0.0, 1.0);
    int32_t* index = in.index.data<int32_t>();
    for (int64_t i = 0; i < shape.numel(); ++i) {
        const double nearest = std::round(128.0 * (in.u.at(i) + 1.0) - 0.5);
        const double value = near ? nearest + std::floor(3.0 * pick.at(i)) - 1.0
                                  : std::floor(256.0 * pick.at(i));
        index[i] = int32_t(std::clamp(value, 0.0, 255.0));
    }
    return in;
}

// out and d(sum(w out)) / du, d(sum(w out)) / ds, converted to F64.
struct Result {
    Tensor out, du, dscale;
};

using LogProbFn = Var (*)(const Var& u, const Var& scale, const Tensor& index);

Var fused(const Var& u, const Var& scale, const Tensor& index) {
    return categorical_log_prob(u, pixel_centres(u.dtype()), scale, index);
}

// The composed reference: log_softmax over v of s (u - c_v)^2, read at the index.
Var composed(const Var& u, const Var& scale, const Tensor& index) {
    Shape column = u.shape();
    column.push_back(1);
    const Var c(pixel_centres(u.dtype()));
    return gather_last(log_softmax(square(reshape(u, column) - c) * scale), index);
}

Result run(LogProbFn f, const Inputs& in, double scale, const Tensor& w, DType dtype) {
    Var u(in.u.to(dtype), true), s(Tensor::full(Shape{1}, scale, dtype), true);
    Var out = f(u, s, in.index);
    sum(out * Var(w.to(dtype))).backward();
    return {out.value().to(DType::F64), u.grad().to(DType::F64), s.grad().to(DType::F64)};
}

// ||a - b|| / ||b||, or infinity where an element is finite on one side only.
double rel(const Tensor& a, const Tensor& b) {
    const test::OutputError e = test::measure_output({"b", b}, {"b", a});
    return e.finite_mismatches == 0 ? e.rel : INFINITY;
}

bool bit_identical(const Tensor& a, const Tensor& b) {
    return a.bytes() == b.bytes() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

// Sizes that straddle the CPU's vector width and the GPU's warps, and a batch of images.
const std::vector<Shape> kShapes = {{1}, {3}, {17}, {31}, {785}, {4, 784}};
const double kGammas[] = {-13.0, -5.0, 0.0, 5.0};

}  // namespace

TEST_CASE("the fused decoder log-probability matches log_softmax + gather, forward and gradients") {
    // f64: the same math in another order; measured worst 1.2e-13 (dscale, a sum over
    // elements of both signs), the rest <= 2e-15.
    // f32: the fused kernel on f32 inputs against the f64 composed reference on the same
    // (rounded) inputs. Measured worst: out 8e-8, du 2.5e-7, dscale 1.7e-6; the composed
    // ops in f32 reach 1.2e-6 in du and 1.1e-5 in dscale on the same cases.
    constexpr double kF64Bound = 1e-12, kF32Bound = 1e-5;
    uint64_t seed = 10;
    for (const Shape& shape : kShapes)
        for (double gamma_0 : kGammas)
            for (bool near : {false, true}) {
                CAPTURE(shape.str());
                CAPTURE(gamma_0);
                CAPTURE(near);
                const Inputs in = make_inputs(shape, seed, near);
                const Tensor w = test::randn(shape, seed + 2);
                seed += 3;
                const double s = scale_at(gamma_0);
                const Result reference = run(composed, in, s, w, DType::F64);
                const Result f64 = run(fused, in, s, w, DType::F64);
                CHECK(rel(f64.out, reference.out) <= kF64Bound);
                CHECK(rel(f64.du, reference.du) <= kF64Bound);
                CHECK(rel(f64.dscale, reference.dscale) <= kF64Bound);

                const Inputs rounded{in.u.to(DType::F32).to(DType::F64), in.index};
                const Tensor w32 = w.to(DType::F32).to(DType::F64);
                const double s32 = double(float(s));
                const Result reference32 = run(composed, rounded, s32, w32, DType::F64);
                const Result f32 = run(fused, rounded, s32, w32, DType::F32);
                CHECK(rel(f32.out, reference32.out) <= kF32Bound);
                CHECK(rel(f32.du, reference32.du) <= kF32Bound);
                CHECK(rel(f32.dscale, reference32.dscale) <= kF32Bound);
            }
}

TEST_CASE("gradcheck: the fused decoder log-probability, wrt u and the scale") {
    // Scales from flat to peaked: the finite differences' step must stay well below the
    // logits' curvature, 1 / sqrt(|s|) in u.
    struct Check {
        double scale, step;
    };
    const Check checks[] = {{-0.02, 2e-2}, {-0.5, 2e-2}, {-8.0, 2e-2}, {-300.0, 2e-3}, {3.0, 2e-2}};
    uint64_t seed = 200;
    for (const Check& c : checks)
        for (const Shape& shape : {Shape{5}, Shape{2, 3}})
            for (bool near : {false, true}) {
                CAPTURE(c.scale);
                CAPTURE(shape.str());
                CAPTURE(near);
                const Inputs in = make_inputs(shape, seed++, near);
                const Tensor index = in.index;
                const GradCheckResult r = gradcheck(
                    [&](const std::vector<Var>& v) { return fused(v[0], v[1], index); },
                    {in.u, Tensor::full(Shape{1}, c.scale, DType::F64)}, 1e-6, c.step);
                INFO("max relative error ", r.max_rel_error, " at ", r.worst);
                CHECK(r.passed);
            }
}

TEST_CASE("reconstruction_loss equals the composed decoder's, value and gradients") {
    // z_0 from the marginal at gamma_0 = -13.3 (the default schedule's end) and at a
    // learned gamma_0 of -6; gradients to z_0 and to gamma_0 (the learned schedule's).
    const int64_t B = 3, D = 29;
    uint64_t seed = 300;
    for (double g : {-13.3, -6.0}) {
        CAPTURE(g);
        std::vector<uint8_t> pixels(size_t(B * D));
        const Tensor pick = test::uniform(Shape{B * D}, seed++, 0.0, 1.0);
        for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(256.0 * pick.at(int64_t(i)));
        const Tensor x = encode(pixels.data(), Shape{B, D}, DType::F64);
        const Tensor index = pixel_indices(pixels.data(), Shape{B, D});
        const Tensor eps = test::randn(Shape{B, D}, seed++);
        auto loss_and_grads = [&](bool use_fused) {
            Var gamma_0(Tensor::full(Shape{1}, g, DType::F64), true);
            Var z0 = marginal_sample(Var(x), gamma_0, Var(eps));
            Var z0_leaf(z0.value(), true);
            Var loss = use_fused ? reconstruction_loss(z0_leaf, index, gamma_0)
                                 : -sum(gather_last(decoder_log_probs(z0_leaf, gamma_0), index), {1});
            sum(loss).backward();
            return Result{loss.value(), z0_leaf.grad(), gamma_0.grad()};
        };
        const Result f = loss_and_grads(true), c = loss_and_grads(false);
        CHECK(rel(f.out, c.out) <= 1e-12);  // measured <= 1e-14
        CHECK(rel(f.du, c.du) <= 1e-12);
        CHECK(rel(f.dscale, c.dscale) <= 1e-12);
    }
}

TEST_CASE("the fused decoder log-probability is deterministic: run to run and 1 vs 2 threads") {
    // The model's shape, in f32, at the default gamma_0: each element's sums run in a
    // fixed lane order, and the scale's gradient is summed row by row (autodiff/decoder.cpp).
    const Shape shape{64, 784};
    const Inputs in = make_inputs(shape, 400, true);
    const Tensor w = test::randn(shape, 401);
    auto once = [&] { return run(fused, in, scale_at(-13.3), w, DType::F32); };
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const Result one = once();
    omp_set_num_threads(2);
    const Result two = once(), again = once();
    omp_set_num_threads(saved);
    for (const Result* r : {&two, &again}) {
        CHECK(bit_identical(one.out, r->out));
        CHECK(bit_identical(one.du, r->du));
        CHECK(bit_identical(one.dscale, r->dscale));
    }
}

TEST_CASE("the fused decoder log-probability rejects a bad index and mismatched inputs") {
    const Var u(Tensor::zeros(Shape{2, 3}, DType::F64));
    const Var s(Tensor::full(Shape{1}, -1.0, DType::F64));
    Tensor index = Tensor::zeros(Shape{2, 3}, DType::I32);
    index.data<int32_t>()[4] = 256;
    test::check_error([&] { fused(u, s, index); },
                      "categorical_log_prob: index 256 at position 4 is outside [0, 256)");
    test::check_error([&] { fused(u, s, Tensor::zeros(Shape{6}, DType::I32)); },
                      "categorical_log_prob: index must be an i32 tensor of u's shape (2, 3)");
    test::check_error(
        [&] { fused(u, Var(Tensor::full(Shape{2}, -1.0, DType::F64)), index); },
        "categorical_log_prob: scale must have one element");
}

namespace {

// tensor/cuda/decoder.cu on the host: one warp per element, 32 lanes, the butterflies.
template <typename Lane, typename Combine>
auto warp_reduce(const Lane& lane_value, const Combine& combine) {
    decltype(lane_value(0)) partial[kernels::kDecoderLanes];
    for (int l = 0; l < kernels::kDecoderLanes; ++l) partial[l] = lane_value(l);
    return kernels::emulate_warp_reduce(partial, combine);
}

// warp_peak_centre
template <typename T>
T emulate_peak_centre(const kernels::CategoricalElement<T>& e, const T* c, int64_t V) {
    const T m = warp_reduce([&](int l) { return kernels::lane_max(e, c, V, l); },
                            [](T a, T b) { return std::max(a, b); });
    const int64_t r = warp_reduce([&](int l) { return kernels::lane_first_peak(e, c, V, m, l); },
                                  [](int64_t a, int64_t b) { return std::min(a, b); });
    return kernels::centre_of_peak(e, c, V, r);
}

template <typename T> void emulate_forward(const Inputs& in, const Tensor& centres, T s, Tensor& out) {
    const T* c = centres.data<T>();
    const int64_t V = centres.numel();
    for (int64_t i = 0; i < in.u.numel(); ++i) {
        const kernels::CategoricalElement<T> e{s, in.u.data<T>()[i], c[in.index.data<int32_t>()[i]]};
        const T r = emulate_peak_centre(e, c, V);
        const double mass = warp_reduce([&](int l) { return kernels::lane_mass(e, c, V, r, l); },
                                        [](double a, double b) { return a + b; });
        out.data<T>()[i] = kernels::log_prob(e, r, mass);
    }
}

template <typename T>
void emulate_backward(const Inputs& in, const Tensor& centres, T s, const Tensor& dout, Tensor& du,
                      Tensor& dscale) {
    const T* c = centres.data<T>();
    const int64_t V = centres.numel();
    for (int64_t i = 0; i < in.u.numel(); ++i) {
        const kernels::CategoricalElement<T> e{s, in.u.data<T>()[i], c[in.index.data<int32_t>()[i]]};
        const T r = emulate_peak_centre(e, c, V);
        // The kernel reduces the three sums one after another, each in the same butterfly.
        const kernels::CategoricalSums sums = warp_reduce(
            [&](int l) { return kernels::lane_sums(e, c, V, r, l); },
            [](kernels::CategoricalSums a, const kernels::CategoricalSums& b) {
                a.add(b);
                return a;
            });
        du.data<T>()[i] = kernels::du_element(e, sums, dout.data<T>()[i]);
        dscale.data<T>()[i] = kernels::dscale_element(sums, dout.data<T>()[i]);
    }
}

}  // namespace

TEST_CASE("the CUDA decoder kernel's warp arithmetic, emulated on the host, matches the CPU's") {
    // Both sides sum in double and differ only in the order of the additions; an f32
    // result can still land one ulp apart (tests/test_kernels_shared_reduce.cpp).
    Backend& cpu = backend_for(Device::CPU);
    uint64_t seed = 500;
    for (const Shape& shape : kShapes)
        for (DType dtype : {DType::F32, DType::F64})
            for (double gamma_0 : kGammas) {
                CAPTURE(shape.str());
                CAPTURE(dtype_name(dtype));
                CAPTURE(gamma_0);
                const double bound = dtype == DType::F32 ? 2e-7 : 1e-12;
                Inputs in = make_inputs(shape, seed, true);
                in.u = in.u.to(dtype);
                const Tensor dout = test::randn(shape, seed + 2, 1.0, dtype);
                seed += 3;
                const Tensor c = pixel_centres(dtype), s = Tensor::full(Shape{1}, scale_at(gamma_0), dtype);
                auto fresh = [&] { return test::poisoned(shape, dtype, Device::CPU); };
                Tensor out = fresh(), du = fresh(), ds = fresh();
                Tensor emu_out = fresh(), emu_du = fresh(), emu_ds = fresh();
                cpu.categorical_log_prob_forward(in.u, c, s, in.index, out);
                cpu.categorical_log_prob_backward(in.u, c, s, in.index, dout, du, ds);
                VDM_DISPATCH_FLOAT(dtype, "emulate", {
                    emulate_forward<T>(in, c, s.data<T>()[0], emu_out);
                    emulate_backward<T>(in, c, s.data<T>()[0], dout, emu_du, emu_ds);
                });
                const test::Outputs cpu_outputs = {{"out", out}, {"du", du}, {"dscale", ds}};
                const test::Outputs emulated = {{"out", emu_out}, {"du", emu_du}, {"dscale", emu_ds}};
                for (size_t k = 0; k < cpu_outputs.size(); ++k) {
                    const test::OutputError e = test::measure_output(cpu_outputs[k], emulated[k]);
                    INFO(e.name, " rel ", e.rel, ", elements finite on one side only ",
                         e.finite_mismatches);
                    CHECK(e.finite_mismatches == 0);
                    CHECK(e.rel <= bound);
                }
            }
}
