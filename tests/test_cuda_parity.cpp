// Every kernel of tensor/backend.h on the CUDA backend against the CPU backend, on the
// same random inputs (issue 7, acceptance 1): odd sizes (1, 3, 17, 31, 785) that
// straddle block and warp boundaries, and the model's own shapes (B = 64, C = 32,
// 28x28 images, attention over 784 tokens, decoder rows of 256 values). Outputs are
// poisoned first and each op states its bound (tests/cuda_parity.h).
//
// The "cuda parity" cases skip without a GPU. The "parity harness" cases run
// everywhere: they plant wrong kernels in a CPU backend and show the same comparison
// that judges the CUDA kernels reports them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/dispatch.h"
#include "tests/cuda_parity.h"
#include "tests/helpers.h"
#include "vdm/decoder.h"
#include "vdm/encoder.h"

using namespace vdm;
using test::input_on;
using test::Outputs;
using test::ParityRun;
using test::ParityTally;
using test::poisoned;

namespace {

// --- inputs: random, reproducible, never zero

Tensor normal(const Shape& shape, uint64_t seed, DType dtype, double scale = 1.0) {
    return test::randn(shape, seed, scale, dtype);
}

Tensor uniform(const Shape& shape, uint64_t seed, DType dtype, double lo, double hi) {
    return test::uniform(shape, seed, lo, hi, dtype);
}

// Magnitudes in [0.5, 2] with random signs: divisors, and |x| away from abs's kink.
Tensor away_from_zero(const Shape& shape, uint64_t seed, DType dtype) {
    return test::away_from_zero(shape, seed, 0.5, 2.0).to(dtype);
}

// Uniform integers in [lo, hi] as I32.
Tensor integers(const Shape& shape, uint64_t seed, int64_t lo, int64_t hi) {
    const Tensor u = test::uniform(shape, seed, 0.0, 1.0);
    Tensor t = Tensor::empty(shape, DType::I32);
    int32_t* p = t.data<int32_t>();
    for (int64_t i = 0; i < t.numel(); ++i)
        p[i] = int32_t(std::min(hi, lo + int64_t(u.at(i) * double(hi - lo + 1))));
    return t;
}

// A copy of x (F64, CPU) with element i replaced, in `dtype`.
Tensor with_value_at(const Tensor& x, int64_t i, double value, DType dtype) {
    Tensor copy = x.clone();
    copy.data<double>()[i] = value;
    return copy.to(dtype);
}

std::string label(const std::string& op, DType dtype, const Shape& shape) {
    return op + " " + dtype_name(dtype) + " " + shape.str();
}

// Flat sizes: odd ones around block and warp boundaries, and one activation of the
// default model (64, 32, 28, 28).
const std::vector<Shape> kFlatShapes = {{1}, {3}, {17}, {31}, {785}, {64, 32, 28, 28}};

// Both float types at every shape: f32 is what training runs, and f64's tight bounds
// catch what f32's cannot at the model's sizes: a sum of n terms that drops one moves
// by ~1/n relative, below f32's rounding-level bound once n passes ~1e5 (see the
// planted reduction bug below).
const DType kFloatTypes[] = {DType::F32, DType::F64};

// --- runs: each captures CPU inputs and, given a backend and its device, copies them
// there, calls one kernel and returns its outputs. These two serve the planted-bug
// cases too; the other cases write theirs inline.

ParityRun unary_forward_run(UnaryOp op, const Tensor& x) {
    return [=](Backend& be, Device dev) {
        Tensor y = poisoned(x.shape(), x.dtype(), dev);
        be.unary_forward(op, input_on(x, dev), y);
        return Outputs{{"y", y}};
    };
}

ParityRun sum_to_shape_run(const Tensor& x, const Shape& out_shape) {
    return [=](Backend& be, Device dev) {
        Tensor out = poisoned(out_shape, x.dtype(), dev);
        be.sum_to_shape(input_on(x, dev), out);
        return Outputs{{"out", out}};
    };
}

// A unary op's natural inputs: positive for log, sqrt and log1p; away from 0 for abs.
Tensor unary_input(UnaryOp op, const Shape& shape, uint64_t seed, DType dtype) {
    switch (op) {
        case UnaryOp::Log:
        case UnaryOp::Sqrt:
        case UnaryOp::Log1p:
            return uniform(shape, seed, dtype, 0.1, 4.0);
        case UnaryOp::Abs:
            return away_from_zero(shape, seed, dtype);
        default:
            return normal(shape, seed, dtype, 2.0);
    }
}

// The gradients a backward pass is asked for, as bits of a mask: 1 dx, 2 dweight,
// 4 dbias. Those not asked for are passed undefined, and the kernel must skip them.
struct Gradients {
    Tensor dx, dweight, dbias;

    // Poisoned buffers on `dev` for the gradients in `mask`, undefined for the others.
    Gradients(int mask, const Shape& x, const Shape& weight, const Shape& bias, DType dtype,
              Device dev)
        : dx(mask & 1 ? poisoned(x, dtype, dev) : Tensor()),
          dweight(mask & 2 ? poisoned(weight, dtype, dev) : Tensor()),
          dbias(mask & 4 ? poisoned(bias, dtype, dev) : Tensor()) {}

    Outputs defined() const {
        Outputs out;
        if (dx.defined()) out.push_back({"dx", dx});
        if (dweight.defined()) out.push_back({"dweight", dweight});
        if (dbias.defined()) out.push_back({"dbias", dbias});
        return out;
    }
    static std::string names(int mask) {
        return std::string(mask & 1 ? " dx" : "") + (mask & 2 ? " dweight" : "") +
               (mask & 4 ? " dbias" : "");
    }
};

const UnaryOp kUnaryOps[] = {UnaryOp::Neg,   UnaryOp::Exp,     UnaryOp::Log,      UnaryOp::Expm1,
                             UnaryOp::Log1p, UnaryOp::Sigmoid, UnaryOp::Softplus, UnaryOp::Silu,
                             UnaryOp::Abs,   UnaryOp::Square,  UnaryOp::Sqrt,     UnaryOp::Sin,
                             UnaryOp::Cos};
const BinaryOp kBinaryOps[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};

// x's shape and the shape it is summed to (or broadcast from): every pattern the ops
// use. Dims of the smaller shape are 1 or equal x's, right-aligned.
struct ReducePattern {
    Shape x, out;
};
const ReducePattern kReducePatterns[] = {
    {{1}, {1}},
    {{785}, {1}},
    {{785}, {}},  // to a 0-D scalar
    {{3, 17}, {1, 17}},
    {{3, 17}, {3, 1}},
    {{3, 17}, {1, 1}},
    {{17, 31}, {31}},  // to fewer dims
    {{2, 3, 5, 7}, {2, 1, 5, 1}},
    {{2, 3, 5, 7}, {1, 3, 1, 7}},
    {{2, 3, 5, 7}, {3, 5, 7}},
    {{64, 32, 28, 28}, {1, 32, 1, 1}},   // a per-channel bias
    {{64, 32, 28, 28}, {64, 32, 1, 1}},  // the time embedding added per channel
    {{64, 32, 28, 28}, {64, 1, 1, 1}},   // a per-image scale
    {{64, 32, 28, 28}, {28, 28}},
    {{64, 32, 28, 28}, {1}},  // a mean over everything
};

}  // namespace

// ----------------------------------------------------------------------------------
// The harness itself, on every machine: a deliberately wrong backend must fail.

namespace {

// Passes every kernel through to another backend; the planted bugs override one.
class ForwardingBackend : public Backend {
public:
    explicit ForwardingBackend(Backend& inner) : inner_(inner) {}

    void* allocate(size_t bytes) override { return inner_.allocate(bytes); }
    void release(void* ptr, size_t bytes) override { inner_.release(ptr, bytes); }
    void copy_from_host(const void* src, Tensor& dst) override { inner_.copy_from_host(src, dst); }
    void copy_to_host(const Tensor& src, void* dst) override { inner_.copy_to_host(src, dst); }
    void fill(Tensor& t, double value) override { inner_.fill(t, value); }
    void convert(const Tensor& src, Tensor& dst) override { inner_.convert(src, dst); }
    void accumulate(Tensor& dst, const Tensor& src) override { inner_.accumulate(dst, src); }
    bool all_finite(const Tensor& t) override { return inner_.all_finite(t); }
    void fill_normal(Tensor& t, uint64_t seed, uint64_t offset) override {
        inner_.fill_normal(t, seed, offset);
    }
    void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset) override {
        inner_.fill_uniform(t, seed, offset);
    }
    void fill_keep_mask(Tensor& t, double p, uint64_t seed, uint64_t offset) override {
        inner_.fill_keep_mask(t, p, seed, offset);
    }
    void unary_forward(UnaryOp op, const Tensor& x, Tensor& y) override {
        inner_.unary_forward(op, x, y);
    }
    void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                        Tensor& dx) override {
        inner_.unary_backward(op, x, y, dy, dx);
    }
    void affine(const Tensor& x, double scale, double shift, Tensor& y) override {
        inner_.affine(x, scale, shift, y);
    }
    void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override {
        inner_.binary_forward(op, a, b, out);
    }
    void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b,
                         const Tensor& dout, Tensor& dinput) override {
        inner_.binary_backward(op, which, a, b, dout, dinput);
    }
    void sum_to_shape(const Tensor& x, Tensor& out) override { inner_.sum_to_shape(x, out); }
    void broadcast_to(const Tensor& x, Tensor& out) override { inner_.broadcast_to(x, out); }
    void matmul(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                double beta) override {
        inner_.matmul(a, trans_a, b, trans_b, c, beta);
    }
    void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        Tensor& y) override {
        inner_.conv2d_forward(x, weight, bias, y);
    }
    void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dx,
                         Tensor& dweight, Tensor& dbias) override {
        inner_.conv2d_backward(x, weight, dy, dx, dweight, dbias);
    }
    void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups,
                            double eps, Tensor& y, Tensor& mean, Tensor& rstd) override {
        inner_.group_norm_forward(x, weight, bias, groups, eps, y, mean, rstd);
    }
    void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean,
                             const Tensor& rstd, const Tensor& dy, int groups, Tensor& dx,
                             Tensor& dweight, Tensor& dbias) override {
        inner_.group_norm_backward(x, weight, mean, rstd, dy, groups, dx, dweight, dbias);
    }
    void softmax_forward(const Tensor& x, bool log, Tensor& y) override {
        inner_.softmax_forward(x, log, y);
    }
    void softmax_backward(const Tensor& y, const Tensor& dy, bool log, Tensor& dx) override {
        inner_.softmax_backward(y, dy, log, dx);
    }
    void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                           Tensor& logsumexp) override {
        inner_.attention_forward(q, k, v, out, logsumexp);
    }
    void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                            const Tensor& logsumexp, const Tensor& dout, Tensor& dq, Tensor& dk,
                            Tensor& dv) override {
        inner_.attention_backward(q, k, v, out, logsumexp, dout, dq, dk, dv);
    }
    void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) override {
        inner_.permute(x, perm, y);
    }
    void copy_slice(Tensor& x, Tensor& y, int axis, int64_t offset, bool into_x) override {
        inner_.copy_slice(x, y, axis, offset, into_x);
    }
    void gather_last(const Tensor& x, const Tensor& index, Tensor& y) override {
        inner_.gather_last(x, index, y);
    }
    void scatter_last(const Tensor& dy, const Tensor& index, Tensor& dx) override {
        inner_.scatter_last(dy, index, dx);
    }
    void categorical_log_prob_forward(const Tensor& u, const Tensor& centres, const Tensor& scale,
                                      const Tensor& index, Tensor& out) override {
        inner_.categorical_log_prob_forward(u, centres, scale, index, out);
    }
    void categorical_log_prob_backward(const Tensor& u, const Tensor& centres, const Tensor& scale,
                                       const Tensor& index, const Tensor& dout, Tensor& du,
                                       Tensor& dscale) override {
        inner_.categorical_log_prob_backward(u, centres, scale, index, dout, du, dscale);
    }
    void adamw_update(Tensor& w, Tensor& m, Tensor& v, const Tensor& g,
                      const AdamWStep& step) override {
        inner_.adamw_update(w, m, v, g, step);
    }
    void ema_update(Tensor& shadow, const Tensor& w, double decay) override {
        inner_.ema_update(shadow, w, decay);
    }
    void sum_squares(const Tensor& x, Tensor& out, int64_t slot) override {
        inner_.sum_squares(x, out, slot);
    }

protected:
    Backend& inner_;
};

// A reduction whose loop stops one short: x's last element is never added.
class SumDropsLastElement final : public ForwardingBackend {
public:
    using ForwardingBackend::ForwardingBackend;
    void sum_to_shape(const Tensor& x, Tensor& out) override {
        Tensor shortened = x.clone();
        VDM_DISPATCH_FLOAT(x.dtype(), "sum_to_shape", shortened.data<T>()[x.numel() - 1] = T(0));
        inner_.sum_to_shape(shortened, out);
    }
};

// An elementwise kernel whose loop stops one short: y's last element is never written.
class UnarySkipsLastElement final : public ForwardingBackend {
public:
    using ForwardingBackend::ForwardingBackend;
    void unary_forward(UnaryOp op, const Tensor& x, Tensor& y) override {
        Tensor full = Tensor::empty(y.shape(), y.dtype());
        inner_.unary_forward(op, x, full);
        std::memcpy(y.raw(), full.raw(), size_t(y.numel() - 1) * dtype_size(y.dtype()));
    }
};

test::BackendOn cpu_side() { return {backend_for(Device::CPU), Device::CPU}; }

}  // namespace

TEST_CASE("parity harness: the CPU backend matches itself exactly on every reduce pattern") {
    uint64_t seed = 1;
    for (const ReducePattern& p : kReducePatterns) {
        const Tensor x = uniform(p.x, seed++, DType::F32, -1.0, 3.0);
        const test::ParityReport r =
            test::compare_backends(label("sum_to_shape", DType::F32, p.x), 0.0,
                                   sum_to_shape_run(x, p.out), cpu_side(), cpu_side());
        CHECK_MESSAGE(r.passed(), r.summary());
        REQUIRE(r.worst() != nullptr);
        CHECK(r.worst()->rel == 0.0);
    }
}

TEST_CASE("parity harness: a reduction that drops its last element is caught") {
    SumDropsLastElement wrong(backend_for(Device::CPU));
    uint64_t seed = 1;
    for (const ReducePattern& p : kReducePatterns) {
        for (DType dtype : kFloatTypes) {
            const Tensor x = uniform(p.x, seed++, dtype, -1.0, 3.0);
            const std::string name = label("sum_to_shape", dtype, p.x);
            CAPTURE(name);
            // The bound the CUDA kernel is held to.
            const test::ParityReport r = test::compare_backends(name, test::reduction_bound(dtype),
                                                                sum_to_shape_run(x, p.out),
                                                                cpu_side(), {wrong, Device::CPU});
            // Always caught in f64; in f32 wherever one term is above f32's rounding.
            if (dtype == DType::F64 || p.x.numel() < 1000) {
                CHECK_FALSE(r.passed());
                CHECK(r.summary().find(name + ": FAILED at output out") == 0);
            }
            // Without the bug the same comparison passes.
            CHECK(test::compare_backends(name, test::reduction_bound(dtype),
                                         sum_to_shape_run(x, p.out), cpu_side(), cpu_side())
                      .passed());
        }
    }
}

TEST_CASE("parity harness: an element the kernel never writes is caught by the poison") {
    UnarySkipsLastElement wrong(backend_for(Device::CPU));
    uint64_t seed = 1;
    for (const Shape& shape : kFlatShapes) {
        const Tensor x = normal(shape, seed++, DType::F32);
        const test::ParityReport r = test::compare_backends(
            label("exp", DType::F32, shape), test::elementwise_bound(DType::F32),
            unary_forward_run(UnaryOp::Exp, x), cpu_side(), {wrong, Device::CPU});
        CAPTURE(r.summary());
        CHECK_FALSE(r.passed());
        REQUIRE(r.outputs.size() == 1);
        // The written elements agree; the one left unwritten is still NaN.
        CHECK(r.outputs[0].rel == 0.0);
        CHECK(r.outputs[0].finite_mismatches == 1);
        CHECK(r.outputs[0].first_mismatch == shape.numel() - 1);
        CHECK(std::isnan(r.outputs[0].candidate_at_first));
        CHECK(r.summary().find("never written") != std::string::npos);
    }
}

// ----------------------------------------------------------------------------------
// The CUDA backend against the CPU backend.

TEST_CASE("cuda parity: fill, convert and accumulate are exact" * test::needs_gpu()) {
    ParityTally tally("fill/convert/accumulate");
    uint64_t seed = 100;
    const DType all_types[] = {DType::F32, DType::F64, DType::I32};
    for (const Shape& shape : kFlatShapes) {
        for (DType dtype : all_types) {
            const double value = dtype == DType::I32 ? -3.0 : 0.37;
            tally.expect(label("fill", dtype, shape), test::kExact, [=](Backend& be, Device dev) {
                Tensor t = poisoned(shape, dtype, dev);
                be.fill(t, value);
                return Outputs{{"t", t}};
            });
        }
        // Every pair of dtypes; floats in [-1000, 1000] so float -> int truncates in range.
        for (DType from : all_types) {
            const Tensor src = from == DType::I32 ? integers(shape, seed++, -1000, 1000)
                                                  : uniform(shape, seed++, from, -1000.0, 1000.0);
            for (DType to : all_types)
                tally.expect(label(std::string("convert to ") + dtype_name(to), from, shape),
                             test::kExact, [=](Backend& be, Device dev) {
                                 Tensor dst = poisoned(shape, to, dev);
                                 be.convert(input_on(src, dev), dst);
                                 return Outputs{{"dst", dst}};
                             });
        }
        for (DType dtype : kFloatTypes) {
            const Tensor dst0 = normal(shape, seed++, dtype), src = normal(shape, seed++, dtype);
            tally.expect(label("accumulate", dtype, shape), test::kExact,
                         [=](Backend& be, Device dev) {
                             Tensor dst = input_on(dst0, dev);
                             be.accumulate(dst, input_on(src, dev));
                             return Outputs{{"dst", dst}};
                         });
        }
    }
    tally.print_closest();
}

TEST_CASE("cuda parity: all_finite finds one NaN or inf anywhere" * test::needs_gpu()) {
    ParityTally tally("all_finite");
    uint64_t seed = 200;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    for (const Shape& shape : kFlatShapes) {
        for (DType dtype : kFloatTypes) {
            const Tensor base = normal(shape, seed++, DType::F64);
            const int64_t n = shape.numel();
            std::vector<std::pair<std::string, Tensor>> inputs = {{"finite", base.to(dtype)}};
            for (int64_t at : {int64_t(0), n / 2, n - 1}) {
                inputs.push_back(
                    {"nan at " + std::to_string(at), with_value_at(base, at, nan, dtype)});
                inputs.push_back(
                    {"-inf at " + std::to_string(at), with_value_at(base, at, -inf, dtype)});
            }
            for (const auto& [what, x] : inputs) {
                // The answer as a one-element tensor, so the harness can compare it.
                tally.expect(label("all_finite (" + what + ")", dtype, shape), test::kExact,
                             [x = x](Backend& be, Device dev) {
                                 const bool finite = be.all_finite(input_on(x, dev));
                                 return Outputs{{"finite", Tensor::full(Shape{1}, finite ? 1 : 0)}};
                             });
            }
        }
    }
    tally.print_closest();
}

TEST_CASE("cuda parity: random fills draw the CPU's numbers" * test::needs_gpu()) {
    ParityTally tally("random");
    // Offsets and a seed whose high 32 bits are set exercise both words of Philox's
    // counter and key; 2^32 - 3 makes the counter carry into its high word mid-tensor.
    const uint64_t offsets[] = {0, 12345, (uint64_t(1) << 32) - 3};
    const uint64_t seeds[] = {7, 0x123456789abcdefULL};
    for (const Shape& shape : kFlatShapes)
        for (DType dtype : kFloatTypes)
            for (uint64_t seed : seeds)
                for (uint64_t offset : offsets) {
                    const std::string at =
                        " seed " + std::to_string(seed) + " offset " + std::to_string(offset);
                    // Uniforms: integer bit manipulation and one double multiply: exact.
                    tally.expect(label("fill_uniform" + at, dtype, shape), test::kExact,
                                 [=](Backend& be, Device dev) {
                                     Tensor t = poisoned(shape, dtype, dev);
                                     be.fill_uniform(t, seed, offset);
                                     return Outputs{{"t", t}};
                                 });
                    // Normals: Box-Muller in double through log, sqrt and cos, which
                    // differ by an ulp or two between libm and CUDA: float rounding.
                    tally.expect(label("fill_normal" + at, dtype, shape),
                                 test::elementwise_bound(dtype), [=](Backend& be, Device dev) {
                                     Tensor t = poisoned(shape, dtype, dev);
                                     be.fill_normal(t, seed, offset);
                                     return Outputs{{"t", t}};
                                 });
                    for (double p : {0.1, 0.5})
                        tally.expect(
                            label("fill_keep_mask p " + std::to_string(p) + at, dtype, shape),
                            test::kExact, [=](Backend& be, Device dev) {
                                Tensor t = poisoned(shape, dtype, dev);
                                be.fill_keep_mask(t, p, seed, offset);
                                return Outputs{{"mask", t}};
                            });
                }
    tally.print_closest();
}

TEST_CASE("cuda parity: unary ops forward and backward, and affine" * test::needs_gpu()) {
    ParityTally tally("unary");
    uint64_t seed = 300;
    for (const Shape& shape : kFlatShapes)
        for (DType dtype : kFloatTypes) {
            const double bound = test::elementwise_bound(dtype);
            for (UnaryOp op : kUnaryOps) {
                const Tensor x = unary_input(op, shape, seed++, dtype);
                const Tensor dy = normal(shape, seed++, dtype);
                tally.expect(label(unary_op_name(op), dtype, shape), bound,
                             unary_forward_run(op, x));
                // The backward reads the forward output: the CPU's, the same on both sides.
                Tensor y = Tensor::empty(shape, dtype);
                backend_for(Device::CPU).unary_forward(op, x, y);
                tally.expect(label(std::string(unary_op_name(op)) + " backward", dtype, shape),
                             bound, [=](Backend& be, Device dev) {
                                 Tensor dx = poisoned(shape, dtype, dev);
                                 be.unary_backward(op, input_on(x, dev), input_on(y, dev),
                                                   input_on(dy, dev), dx);
                                 return Outputs{{"dx", dx}};
                             });
            }
            const Tensor x = normal(shape, seed++, dtype);
            tally.expect(label("affine", dtype, shape), bound, [=](Backend& be, Device dev) {
                Tensor y = poisoned(shape, dtype, dev);
                be.affine(input_on(x, dev), -1.7, 0.3, y);
                return Outputs{{"y", y}};
            });
        }
    tally.print_closest();
}

TEST_CASE("cuda parity: binary ops with broadcasting, forward and backward" * test::needs_gpu()) {
    ParityTally tally("binary");
    struct Pair {
        Shape a, b;
    };
    const Pair pairs[] = {
        {{1}, {1}},
        {{785}, {785}},
        {{3, 17}, {3, 17}},
        {{31}, {1}},
        {{1}, {31}},
        {{17, 1}, {1, 31}},  // both sides broadcast
        {{3, 785}, {785}},   // b has fewer dims
        {{4, 1, 17}, {1, 3, 17}},
        {{2, 3, 5, 7}, {1, 3, 1, 7}},
        {{64, 32, 28, 28}, {64, 32, 28, 28}},
        {{64, 32, 28, 28}, {64, 32, 1, 1}},  // the time embedding added per channel
        {{64, 1, 1, 1}, {64, 1, 28, 28}},    // a per-image scale times an image
    };
    uint64_t seed = 400;
    for (const Pair& pair : pairs) {
        const Shape out_shape = broadcast_shapes(pair.a, pair.b, "test");
        for (DType dtype : kFloatTypes) {
            const double bound = test::elementwise_bound(dtype);
            const Tensor a = normal(pair.a, seed++, dtype);
            const Tensor b = away_from_zero(pair.b, seed++, dtype);  // a divisor
            const Tensor dout = normal(out_shape, seed++, dtype);
            const std::string shapes = " " + pair.a.str() + " " + pair.b.str();
            for (BinaryOp op : kBinaryOps) {
                tally.expect(label(binary_op_name(op) + shapes, dtype, out_shape), bound,
                             [=](Backend& be, Device dev) {
                                 Tensor out = poisoned(out_shape, dtype, dev);
                                 be.binary_forward(op, input_on(a, dev), input_on(b, dev), out);
                                 return Outputs{{"out", out}};
                             });
                for (int which : {0, 1})
                    tally.expect(label(std::string(binary_op_name(op)) + " backward d" +
                                           (which == 0 ? "a" : "b") + shapes,
                                       dtype, out_shape),
                                 bound, [=](Backend& be, Device dev) {
                                     Tensor dinput = poisoned(out_shape, dtype, dev);
                                     be.binary_backward(op, which, input_on(a, dev),
                                                        input_on(b, dev), input_on(dout, dev),
                                                        dinput);
                                     return Outputs{{"dinput", dinput}};
                                 });
            }
        }
    }
    tally.print_closest();
}

TEST_CASE("cuda parity: sum_to_shape and broadcast_to in every pattern" * test::needs_gpu()) {
    ParityTally tally("sum_to_shape/broadcast_to");
    uint64_t seed = 500;
    for (const ReducePattern& p : kReducePatterns)
        for (DType dtype : kFloatTypes) {
            // A nonzero mean, so a sum is not a small difference of large partial sums.
            const Tensor x = uniform(p.x, seed++, dtype, -1.0, 3.0);
            tally.expect(label("sum_to_shape", dtype, p.x) + " -> " + p.out.str(),
                         test::reduction_bound(dtype), sum_to_shape_run(x, p.out));
            const Tensor small = normal(p.out, seed++, dtype);
            tally.expect(label("broadcast_to", dtype, p.out) + " -> " + p.x.str(), test::kExact,
                         [=](Backend& be, Device dev) {
                             Tensor out = poisoned(p.x, dtype, dev);
                             be.broadcast_to(input_on(small, dev), out);
                             return Outputs{{"out", out}};
                         });
        }
    tally.print_closest();
}

TEST_CASE("cuda parity: matmul, all transposes, batch broadcast, summed c, beta" *
          test::needs_gpu()) {
    ParityTally tally("matmul");
    struct Case {
        int64_t batch_a, batch_b, batch_c, M, N, K;
    };
    const Case cases[] = {
        {1, 1, 1, 1, 1, 1},        // one element
        {1, 1, 1, 17, 31, 3},      // odd sizes
        {3, 3, 3, 5, 7, 785},      // a long inner dimension
        {1, 3, 3, 17, 1, 31},      // a shared by the batch
        {3, 1, 3, 31, 17, 5},      // b shared by the batch
        {3, 3, 1, 17, 31, 7},      // products summed into one c (a shared weight's gradient)
        {4, 4, 4, 784, 784, 32},   // attention scores q k^T over 784 tokens
        {4, 4, 4, 784, 32, 784},   // attention output: weights times values
        {64, 64, 1, 32, 32, 784},  // a 1x1 projection's weight gradient over the batch
        {1, 1, 1, 64, 128, 128},   // the time-embedding MLP
    };
    uint64_t seed = 600;
    for (const Case& c : cases) {
        const int64_t batch = std::max(c.batch_a, c.batch_b);
        // Terms per element of c: K, times the batch when the products are summed.
        const int64_t terms = c.K * (c.batch_c == 1 ? batch : 1);
        for (DType dtype : kFloatTypes)
            for (int t = 0; t < 4; ++t) {
                const bool trans_a = t & 1, trans_b = t & 2;
                const Tensor a =
                    normal(trans_a ? Shape{c.batch_a, c.K, c.M} : Shape{c.batch_a, c.M, c.K},
                           seed++, dtype);
                const Tensor b =
                    normal(trans_b ? Shape{c.batch_b, c.N, c.K} : Shape{c.batch_b, c.K, c.N},
                           seed++, dtype);
                const Tensor c0 = normal(Shape{c.batch_c, c.M, c.N}, seed++, dtype);
                for (double beta : {0.0, 0.5}) {
                    const std::string name = label("matmul", dtype, c0.shape()) + " a " +
                                             a.shape().str() + (trans_a ? "^T" : "") + " b " +
                                             b.shape().str() + (trans_b ? "^T" : "") + " beta " +
                                             std::to_string(beta);
                    tally.expect(name, test::sum_bound(dtype, terms), [=](Backend& be, Device dev) {
                        // beta = 0 must ignore c, so it starts poisoned; otherwise c is an input.
                        Tensor out =
                            beta == 0.0 ? poisoned(c0.shape(), dtype, dev) : input_on(c0, dev);
                        be.matmul(input_on(a, dev), trans_a, input_on(b, dev), trans_b, out, beta);
                        return Outputs{{"c", out}};
                    });
                }
            }
    }
    tally.print_closest();
}

TEST_CASE("cuda parity: conv2d forward and backward, k = 1 and 3" * test::needs_gpu()) {
    ParityTally tally("conv2d");
    struct Case {
        int64_t B, Cin, Cout, H, W;
    };
    const Case cases[] = {
        {1, 1, 1, 1, 1},       // one pixel: all of a 3x3 kernel but its centre is padding
        {2, 3, 4, 5, 7},       // odd sizes
        {1, 17, 3, 3, 1},      // an image one pixel wide
        {3, 5, 7, 17, 31},     // odd sizes
        {64, 32, 32, 28, 28},  // a ResNet block's conv
        {64, 5, 32, 28, 28},   // conv_in: the image and its 4 Fourier features
        {64, 32, 1, 28, 28},   // conv_out
        {64, 64, 32, 28, 28},  // an up block on concat(h, skip)
    };
    uint64_t seed = 700;
    for (const Case& c : cases)
        for (int64_t k : {1, 3}) {
            const Shape x_shape{c.B, c.Cin, c.H, c.W}, w_shape{c.Cout, c.Cin, k, k};
            const Shape y_shape{c.B, c.Cout, c.H, c.W};
            const bool model_size = y_shape.numel() > 100000;
            for (DType dtype : kFloatTypes) {
                const Tensor x = normal(x_shape, seed++, dtype);
                const Tensor weight = normal(w_shape, seed++, dtype, 0.3);
                const Tensor bias = normal(Shape{c.Cout}, seed++, dtype);
                const Tensor dy = normal(y_shape, seed++, dtype);
                for (bool with_bias : {true, false}) {
                    const std::string name =
                        label("conv2d k " + std::to_string(k), dtype, x_shape) + " -> " +
                        std::to_string(c.Cout) + (with_bias ? " with bias" : " no bias");
                    tally.expect(name, test::sum_bound(dtype, c.Cin * k * k + 1),
                                 [=](Backend& be, Device dev) {
                                     Tensor y = poisoned(y_shape, dtype, dev);
                                     be.conv2d_forward(input_on(x, dev), input_on(weight, dev),
                                                       with_bias ? input_on(bias, dev) : Tensor(),
                                                       y);
                                     return Outputs{{"y", y}};
                                 });
                }
                // Every subset of the gradients on the small shapes; on the model's, all
                // three, and the weight gradients alone (conv_in, whose input needs none).
                const std::vector<int> masks =
                    model_size ? std::vector<int>{7, 6} : std::vector<int>{1, 2, 3, 4, 5, 6, 7};
                for (int mask : masks) {
                    // dx sums Cout k^2 terms; dweight and dbias sum over B H W pixels.
                    int64_t terms = mask & 1 ? c.Cout * k * k : 1;
                    if (mask & 6) terms = std::max(terms, c.B * c.H * c.W);
                    const std::string name =
                        label("conv2d_backward k " + std::to_string(k), dtype, x_shape) + " -> " +
                        std::to_string(c.Cout) + Gradients::names(mask);
                    tally.expect(name, test::sum_bound(dtype, terms), [=](Backend& be, Device dev) {
                        Gradients g(mask, x_shape, w_shape, Shape{c.Cout}, dtype, dev);
                        be.conv2d_backward(input_on(x, dev), input_on(weight, dev),
                                           input_on(dy, dev), g.dx, g.dweight, g.dbias);
                        return g.defined();
                    });
                }
            }
        }
    tally.print_closest();
}

TEST_CASE("cuda parity: group_norm forward and backward" * test::needs_gpu()) {
    ParityTally tally("group_norm");
    struct Case {
        int64_t B, C, H, W;
        int groups;
    };
    const Case cases[] = {
        {1, 1, 1, 1, 1},      // one element per group
        {2, 6, 3, 5, 3},      // odd sizes
        {3, 4, 17, 31, 2},    // odd sizes
        {1, 8, 1, 785, 4},    // long odd rows
        {64, 32, 28, 28, 8},  // the model's 32 channels in 8 groups
        {64, 64, 28, 28, 8},  // an up block on concat(h, skip)
    };
    const double eps = 1e-5;
    uint64_t seed = 800;
    for (const Case& c : cases) {
        const Shape x_shape{c.B, c.C, c.H, c.W}, stat_shape{c.B, c.groups};
        for (DType dtype : kFloatTypes) {
            // A nonzero mean, as activations have, so the mean is not pure rounding.
            const Tensor x = uniform(x_shape, seed++, dtype, -1.0, 3.0);
            const Tensor weight = normal(Shape{c.C}, seed++, dtype);
            const Tensor bias = normal(Shape{c.C}, seed++, dtype);
            const Tensor dy = normal(x_shape, seed++, dtype);
            const std::string name =
                label("group_norm G " + std::to_string(c.groups), dtype, x_shape);
            const double bound = test::reduction_bound(dtype);
            tally.expect(name, bound, [=](Backend& be, Device dev) {
                Tensor y = poisoned(x_shape, dtype, dev), mean = poisoned(stat_shape, dtype, dev),
                       rstd = poisoned(stat_shape, dtype, dev);
                be.group_norm_forward(input_on(x, dev), input_on(weight, dev), input_on(bias, dev),
                                      c.groups, eps, y, mean, rstd);
                return Outputs{{"y", y}, {"mean", mean}, {"rstd", rstd}};
            });
            // The backward reads the CPU forward's statistics on both sides.
            Tensor y = Tensor::empty(x_shape, dtype), mean = Tensor::empty(stat_shape, dtype),
                   rstd = Tensor::empty(stat_shape, dtype);
            backend_for(Device::CPU)
                .group_norm_forward(x, weight, bias, c.groups, eps, y, mean, rstd);
            // All three gradients, dx alone, and the affine parameters' alone.
            for (int mask : {7, 1, 6}) {
                tally.expect(name + " backward" + Gradients::names(mask), bound,
                             [=](Backend& be, Device dev) {
                                 Gradients g(mask, x_shape, Shape{c.C}, Shape{c.C}, dtype, dev);
                                 be.group_norm_backward(input_on(x, dev), input_on(weight, dev),
                                                        input_on(mean, dev), input_on(rstd, dev),
                                                        input_on(dy, dev), c.groups, g.dx,
                                                        g.dweight, g.dbias);
                                 return g.defined();
                             });
            }
        }
    }
    tally.print_closest();
}

TEST_CASE("cuda parity: softmax and log-softmax forward and backward" * test::needs_gpu()) {
    ParityTally tally("softmax");
    const Shape shapes[] = {
        {1, 1},          // one value: softmax 1, log-softmax 0
        {3, 17},         // odd sizes
        {31, 1},         // rows of one
        {17, 785},       // long odd rows
        {64, 784, 256},  // the categorical decoder: 256 pixel values per pixel
        {8, 784, 784},   // attention weights over 784 tokens
    };
    uint64_t seed = 900;
    for (const Shape& shape : shapes)
        for (DType dtype : kFloatTypes)
            for (bool log : {false, true}) {
                const Tensor x = normal(shape, seed++, dtype, 3.0);
                const Tensor dy = normal(shape, seed++, dtype);
                const std::string name = label(log ? "log_softmax" : "softmax", dtype, shape);
                const double bound = test::reduction_bound(dtype);
                tally.expect(name, bound, [=](Backend& be, Device dev) {
                    Tensor y = poisoned(shape, dtype, dev);
                    be.softmax_forward(input_on(x, dev), log, y);
                    return Outputs{{"y", y}};
                });
                Tensor y = Tensor::empty(shape, dtype);
                backend_for(Device::CPU).softmax_forward(x, log, y);
                tally.expect(name + " backward", bound, [=](Backend& be, Device dev) {
                    Tensor dx = poisoned(shape, dtype, dev);
                    be.softmax_backward(input_on(y, dev), input_on(dy, dev), log, dx);
                    return Outputs{{"dx", dx}};
                });
            }
    tally.print_closest();
}

TEST_CASE("cuda parity: attention forward and backward" * test::needs_gpu()) {
    ParityTally tally("attention");
    const Shape shapes[] = {
        {1, 1, 1},     // one query, one key: P = 1
        {3, 17, 31},   // odd sizes
        {2, 3, 785},   // long odd rows
        {4, 32, 784},  // the model's heads: 32 channels, 784 tokens
    };
    uint64_t seed = 950;
    for (const Shape& shape : shapes)
        for (DType dtype : kFloatTypes) {
            // q scaled by 1/sqrt(d) as in nn/attention.cpp: logits of order 1
            const Tensor q = normal(shape, seed++, dtype, 1.0 / std::sqrt(double(shape[1])));
            const Tensor k = normal(shape, seed++, dtype), v = normal(shape, seed++, dtype);
            const Tensor dout = normal(shape, seed++, dtype);
            const Shape rows{shape[0], shape[2]};
            const std::string name = label("attention", dtype, shape);
            // out sums N terms; dq and dk sum N terms of dS, each from a sum over d
            tally.expect(name, test::sum_bound(dtype, shape[2]), [=](Backend& be, Device dev) {
                Tensor out = poisoned(shape, dtype, dev), lse = poisoned(rows, dtype, dev);
                be.attention_forward(input_on(q, dev), input_on(k, dev), input_on(v, dev), out,
                                     lse);
                return Outputs{{"out", out}, {"logsumexp", lse}};
            });
            Tensor out = Tensor::empty(shape, dtype), lse = Tensor::empty(rows, dtype);
            backend_for(Device::CPU).attention_forward(q, k, v, out, lse);
            const double bound = test::sum_bound(dtype, shape[1] * shape[2]);
            tally.expect(name + " backward", bound, [=](Backend& be, Device dev) {
                Tensor dq = poisoned(shape, dtype, dev), dk = poisoned(shape, dtype, dev);
                Tensor dv = poisoned(shape, dtype, dev);
                be.attention_backward(input_on(q, dev), input_on(k, dev), input_on(v, dev),
                                      input_on(out, dev), input_on(lse, dev), input_on(dout, dev),
                                      dq, dk, dv);
                return Outputs{{"dq", dq}, {"dk", dk}, {"dv", dv}};
            });
        }
    tally.print_closest();
}

TEST_CASE("cuda parity: the fused decoder log-probability forward and backward" *
          test::needs_gpu()) {
    ParityTally tally("decoder");
    uint64_t seed = 950;
    for (const Shape& shape : {Shape{1}, Shape{3}, Shape{17}, Shape{31}, Shape{785}, Shape{64, 784}}) {
        const Tensor index = integers(shape, seed++, 0, 255);
        // u anywhere past the outer centres, or near the true value's centre (training).
        const Tensor far = test::uniform(shape, seed++, -1.1, 1.1);
        Tensor near = test::randn(shape, seed++, 0.004);
        for (int64_t i = 0; i < near.numel(); ++i)
            near.data<double>()[i] += encode_pixel(index.data<int32_t>()[i]);
        const std::pair<const char*, Tensor> placements[] = {{"far", far}, {"near", near}};
        for (DType dtype : kFloatTypes)
            for (double gamma_0 : {-13.0, 0.0, 5.0})
                for (const auto& placement : placements) {
                    const Tensor u = placement.second.to(dtype), dout = normal(shape, seed++, dtype);
                    const Tensor centres = pixel_centres(dtype);
                    const Tensor scale = Tensor::full(Shape{1}, -0.5 * std::exp(-gamma_0), dtype);
                    const std::string name =
                        label("categorical_log_prob gamma_0 " + std::to_string(int(gamma_0)) +
                                  " " + placement.first,
                              dtype, shape);
                    const double bound = test::reduction_bound(dtype);
                    tally.expect(name, bound, [=](Backend& be, Device dev) {
                        Tensor out = poisoned(shape, dtype, dev);
                        be.categorical_log_prob_forward(input_on(u, dev), input_on(centres, dev),
                                                        input_on(scale, dev),
                                                        input_on(index, dev), out);
                        return Outputs{{"out", out}};
                    });
                    tally.expect(name + " backward", bound, [=](Backend& be, Device dev) {
                        Tensor du = poisoned(shape, dtype, dev), ds = poisoned(shape, dtype, dev);
                        be.categorical_log_prob_backward(
                            input_on(u, dev), input_on(centres, dev), input_on(scale, dev),
                            input_on(index, dev), input_on(dout, dev), du, ds);
                        return Outputs{{"du", du}, {"dscale", ds}};
                    });
                }
    }
    tally.print_closest();

    // A bad index: the GPU reports the first bad row, worded as the CPU's error.
    Tensor bad = integers(Shape{3, 5}, seed++, 0, 255);
    bad.data<int32_t>()[7] = 256;
    bad.data<int32_t>()[11] = -1;
    for (Device dev : {Device::CPU, Device::CUDA}) {
        Tensor out = poisoned(Shape{3, 5}, DType::F32, dev);
        test::check_error(
            [&] {
                backend_for(dev).categorical_log_prob_forward(
                    Tensor::zeros(Shape{3, 5}, DType::F32, dev),
                    pixel_centres(DType::F32, dev),
                    Tensor::full(Shape{1}, -1.0).to(dev), bad.to(dev), out);
            },
            "categorical_log_prob: index 256 at position 7 is outside [0, 256)");
    }
}

TEST_CASE("cuda parity: permute, copy_slice, gather_last and scatter_last are exact" *
          test::needs_gpu()) {
    ParityTally tally("layout");
    uint64_t seed = 1000;
    struct Permutation {
        Shape x;
        std::vector<int> perm;
    };
    const Permutation perms[] = {
        {{785}, {0}},
        {{3, 17}, {1, 0}},
        {{2, 3, 5}, {2, 0, 1}},
        {{2, 3, 5, 7}, {0, 2, 3, 1}},
        {{2, 3, 5, 7}, {3, 2, 1, 0}},
        {{64, 32, 784}, {0, 2, 1}},  // channels to attention tokens
        {{64, 784, 32}, {0, 2, 1}},  // and back
    };
    for (const Permutation& p : perms) {
        Shape y_shape;
        for (int axis : p.perm) y_shape.push_back(p.x[axis]);
        for (DType dtype : kFloatTypes) {
            const Tensor x = normal(p.x, seed++, dtype);
            std::string order;
            for (int axis : p.perm) order += std::to_string(axis);
            tally.expect(label("permute " + order, dtype, p.x), test::kExact,
                         [=, perm = p.perm](Backend& be, Device dev) {
                             Tensor y = poisoned(y_shape, dtype, dev);
                             be.permute(input_on(x, dev), perm, y);
                             return Outputs{{"y", y}};
                         });
        }
    }

    struct Slice {
        Shape whole;
        int axis;
        int64_t offset, length;
    };
    const Slice slices[] = {
        {{5}, 0, 2, 3},
        {{3, 17}, 1, 5, 12},
        {{4, 3, 5}, 0, 1, 2},
        {{2, 7, 3, 5}, 1, 0, 3},
        {{2, 7, 3, 5}, 1, 3, 4},
        {{2, 3, 5, 31}, 3, 17, 14},
        {{64, 64, 28, 28}, 1, 0, 32},   // concat(h, skip) in an up block: h
        {{64, 64, 28, 28}, 1, 32, 32},  // and the skip
    };
    for (const Slice& s : slices) {
        Shape part_shape = s.whole;
        part_shape[s.axis] = s.length;
        for (DType dtype : kFloatTypes) {
            const Tensor whole = normal(s.whole, seed++, dtype),
                         part = normal(part_shape, seed++, dtype);
            const std::string name =
                label("copy_slice axis " + std::to_string(s.axis) + " offset " +
                          std::to_string(s.offset) + " part " + part_shape.str(),
                      dtype, s.whole);
            // Into the whole: elements outside the slice must keep their poison.
            tally.expect(name + " into whole", test::kExact, [=](Backend& be, Device dev) {
                Tensor w = poisoned(s.whole, dtype, dev), p = input_on(part, dev);
                be.copy_slice(w, p, s.axis, s.offset, true);
                return Outputs{{"whole", w}};
            });
            tally.expect(name + " out of whole", test::kExact, [=](Backend& be, Device dev) {
                Tensor w = input_on(whole, dev), p = poisoned(part_shape, dtype, dev);
                be.copy_slice(w, p, s.axis, s.offset, false);
                return Outputs{{"part", p}};
            });
        }
    }

    // x (..., V) and one index per row: the decoder's log-probabilities at the pixel values.
    const Shape gathers[] = {{1, 1}, {3, 17}, {31, 785}, {2, 3, 256}, {64, 784, 256}};
    for (const Shape& x_shape : gathers) {
        const int64_t V = x_shape[-1];
        Shape rows_shape;
        for (int i = 0; i + 1 < x_shape.ndim(); ++i) rows_shape.push_back(x_shape[i]);
        const Tensor index = integers(rows_shape, seed++, 0, V - 1);
        for (DType dtype : kFloatTypes) {
            const Tensor x = normal(x_shape, seed++, dtype), dy = normal(rows_shape, seed++, dtype);
            tally.expect(label("gather_last", dtype, x_shape), test::kExact,
                         [=](Backend& be, Device dev) {
                             Tensor y = poisoned(rows_shape, dtype, dev);
                             be.gather_last(input_on(x, dev), input_on(index, dev), y);
                             return Outputs{{"y", y}};
                         });
            // One index per row: each element of dx gets at most one term, so exact.
            tally.expect(label("scatter_last", dtype, x_shape), test::kExact,
                         [=](Backend& be, Device dev) {
                             Tensor dx = poisoned(x_shape, dtype, dev);
                             be.scatter_last(input_on(dy, dev), input_on(index, dev), dx);
                             return Outputs{{"dx", dx}};
                         });
        }
    }
    tally.print_closest();
}

TEST_CASE("cuda parity: adamw_update, ema_update and sum_squares" * test::needs_gpu()) {
    ParityTally tally("optimizer");
    // The scalars of AdamW's fifth step at the default settings (nn/adamw.cpp).
    AdamWStep step;
    step.lr = 1e-3, step.beta1 = 0.9, step.beta2 = 0.999, step.eps = 1e-8;
    step.decay = 1.0 - 1e-3 * 0.01;
    step.correction1 = 1.0 - std::pow(0.9, 5), step.correction2 = 1.0 - std::pow(0.999, 5);
    uint64_t seed = 1100;
    for (const Shape& shape : kFlatShapes)
        for (DType dtype : kFloatTypes) {
            const double bound = test::elementwise_bound(dtype);
            const Tensor w = normal(shape, seed++, dtype), m = normal(shape, seed++, dtype, 0.1);
            const Tensor v = uniform(shape, seed++, dtype, 1e-4, 1e-2),
                         g = normal(shape, seed++, dtype);
            tally.expect(label("adamw_update", dtype, shape), bound, [=](Backend& be, Device dev) {
                Tensor w1 = input_on(w, dev), m1 = input_on(m, dev), v1 = input_on(v, dev);
                be.adamw_update(w1, m1, v1, input_on(g, dev), step);
                return Outputs{{"w", w1}, {"m", m1}, {"v", v1}};
            });
            tally.expect(label("ema_update", dtype, shape), bound, [=](Backend& be, Device dev) {
                Tensor shadow = input_on(m, dev);
                be.ema_update(shadow, input_on(w, dev), 0.999);
                return Outputs{{"shadow", shadow}};
            });
            // Squares summed in double on both sides: only the order of the sum differs.
            // The other slots must keep their poison.
            tally.expect(label("sum_squares", dtype, shape), 1e-12, [=](Backend& be, Device dev) {
                Tensor out = poisoned(Shape{3}, DType::F64, dev);
                be.sum_squares(input_on(g, dev), out, 1);
                return Outputs{{"out", out}};
            });
        }
    tally.print_closest();
}
