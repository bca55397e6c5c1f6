// Float64 gradient checks of every differentiable op (autodiff/ops.h) against
// central finite differences: max relative error <= 1e-6, at least three shapes
// per op, with broadcasting and non-square sizes. And a check that the checker
// catches a wrong backward.
#include <doctest/doctest.h>

#include "autodiff/gradcheck.h"
#include "autodiff/ops.h"
#include "tests/helpers.h"

using namespace vdm;
using vdm::test::away_from_zero;
using vdm::test::randn;
using vdm::test::uniform;

namespace {

constexpr double kTolerance = 1e-6;

void expect_gradients(const GradCheckFn& f, const std::vector<Tensor>& inputs) {
    GradCheckResult r = gradcheck(f, inputs, kTolerance);
    INFO("max relative error ", r.max_rel_error, " at ", r.worst);
    CHECK(r.passed);
}

const std::vector<Shape> kShapes = {Shape{7}, Shape{3, 5}, Shape{2, 3, 4, 5}};

}  // namespace

TEST_CASE("gradcheck: unary ops") {
    struct Case {
        UnaryOp op;
        double lo, hi;  // input magnitudes in [lo, hi]
        bool positive;  // inputs must be positive (log, sqrt)
    };
    const Case cases[] = {
        {UnaryOp::Neg, 0.1, 2.0, false},     {UnaryOp::Exp, 0.1, 2.0, false},
        {UnaryOp::Log, 0.2, 3.0, true},      {UnaryOp::Expm1, 0.001, 2.0, false},
        {UnaryOp::Log1p, 0.01, 0.9, false},  {UnaryOp::Sigmoid, 0.1, 6.0, false},
        {UnaryOp::Softplus, 0.1, 8.0, false}, {UnaryOp::Silu, 0.1, 5.0, false},
        {UnaryOp::Abs, 0.1, 2.0, false},     {UnaryOp::Square, 0.1, 2.0, false},
        {UnaryOp::Sqrt, 0.2, 4.0, true},     {UnaryOp::Sin, 0.1, 6.0, false},
        {UnaryOp::Cos, 0.1, 6.0, false},
    };
    for (const Case& c : cases) {
        uint64_t seed = 10;
        for (const Shape& shape : kShapes) {
            const std::string op_name = unary_op_name(c.op);
            CAPTURE(op_name);
            CAPTURE(shape.str());
            Tensor x = c.positive ? uniform(shape, seed++, c.lo, c.hi)
                                  : away_from_zero(shape, seed++, c.lo, c.hi);
            expect_gradients([&](const std::vector<Var>& v) { return unary(c.op, v[0]); }, {x});
        }
    }
}

TEST_CASE("gradcheck: affine") {
    uint64_t seed = 20;
    for (const Shape& shape : kShapes)
        expect_gradients([](const std::vector<Var>& v) { return affine(v[0], -1.7, 0.3); },
                         {randn(shape, seed++)});
}

TEST_CASE("gradcheck: binary ops with broadcasting") {
    // (a, b): same shape, per-channel, per-sample, trailing vector, both sides broadcast.
    const std::vector<std::pair<Shape, Shape>> pairs = {
        {Shape{3, 5}, Shape{3, 5}},
        {Shape{2, 3, 4, 5}, Shape{1, 3, 1, 1}},
        {Shape{4, 3, 2, 2}, Shape{4, 1, 1, 1}},
        {Shape{3, 5}, Shape{5}},
        {Shape{2, 1, 4}, Shape{3, 1}},
    };
    const BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};
    for (BinaryOp op : ops) {
        uint64_t seed = 30;
        for (const auto& pair : pairs) {
            const Shape sa = pair.first, sb = pair.second;
            const std::string op_name = binary_op_name(op);
            CAPTURE(op_name);
            CAPTURE(sa.str());
            CAPTURE(sb.str());
            Tensor a = randn(sa, seed++);
            Tensor b = op == BinaryOp::Div ? away_from_zero(sb, seed++, 0.5, 2.0) : randn(sb, seed++);
            expect_gradients([op](const std::vector<Var>& v) { return binary(op, v[0], v[1]); },
                             {a, b});
        }
    }
}

TEST_CASE("gradcheck: sum and mean over chosen axes") {
    struct Case {
        Shape shape;
        std::vector<int> axes;
        bool keepdim;
    };
    const Case cases[] = {
        {Shape{2, 3, 4, 5}, {1}, true},
        {Shape{3, 5}, {}, false},
        {Shape{2, 3, 4, 5}, {0, 2, 3}, false},
        {Shape{4, 7}, {-1}, false},
    };
    uint64_t seed = 40;
    for (const Case& c : cases) {
        CAPTURE(c.shape.str());
        Tensor x = randn(c.shape, seed++);
        expect_gradients([&](const std::vector<Var>& v) { return sum(v[0], c.axes, c.keepdim); },
                         {x});
        expect_gradients([&](const std::vector<Var>& v) { return mean(v[0], c.axes, c.keepdim); },
                         {x});
    }
}

TEST_CASE("gradcheck: matmul, batched, shared and transposed operands") {
    struct Case {
        Shape a, b;
        bool ta, tb;
    };
    const Case cases[] = {
        {Shape{3, 4}, Shape{4, 5}, false, false},
        {Shape{2, 3, 4}, Shape{2, 4, 5}, false, false},
        {Shape{2, 3, 4}, Shape{6, 4}, false, true},  // a linear layer: x W^T, W shared
        {Shape{4, 3}, Shape{5, 4}, true, true},
        {Shape{2, 4, 3}, Shape{2, 4, 5}, true, false},
        {Shape{7, 2}, Shape{3, 2, 5}, false, false},  // shared a
    };
    uint64_t seed = 50;
    for (const Case& c : cases) {
        CAPTURE(c.a.str());
        CAPTURE(c.b.str());
        expect_gradients(
            [&](const std::vector<Var>& v) { return matmul(v[0], v[1], c.ta, c.tb); },
            {randn(c.a, seed++), randn(c.b, seed++)});
    }
}

TEST_CASE("gradcheck: conv2d 3x3 and 1x1, with and without bias") {
    struct Case {
        Shape x, w;
        bool bias;
    };
    const Case cases[] = {
        {Shape{2, 3, 5, 6}, Shape{4, 3, 3, 3}, true},
        {Shape{1, 4, 3, 5}, Shape{2, 4, 1, 1}, true},
        {Shape{2, 2, 4, 4}, Shape{3, 2, 3, 3}, false},
    };
    uint64_t seed = 60;
    for (const Case& c : cases) {
        CAPTURE(c.x.str());
        CAPTURE(c.w.str());
        std::vector<Tensor> inputs{randn(c.x, seed++), randn(c.w, seed++, 0.5)};
        if (c.bias) inputs.push_back(randn(Shape{c.w[0]}, seed++));
        expect_gradients(
            [&](const std::vector<Var>& v) { return conv2d(v[0], v[1], c.bias ? v[2] : Var()); },
            inputs);
    }
}

TEST_CASE("gradcheck: group norm") {
    struct Case {
        Shape x;
        int groups;
    };
    const Case cases[] = {{Shape{2, 4, 3, 5}, 2}, {Shape{3, 6, 2, 2}, 3}, {Shape{2, 4, 1, 7}, 1}};
    uint64_t seed = 70;
    for (const Case& c : cases) {
        CAPTURE(c.x.str());
        Shape channels{c.x[1]};
        expect_gradients(
            [&](const std::vector<Var>& v) { return group_norm(v[0], c.groups, v[1], v[2]); },
            {randn(c.x, seed++, 2.0), randn(channels, seed++), randn(channels, seed++)});
    }
}

TEST_CASE("gradcheck: softmax and log-softmax over the last axis") {
    uint64_t seed = 80;
    for (const Shape& shape : {Shape{7}, Shape{3, 7}, Shape{2, 3, 10}, Shape{2, 2, 2, 4}}) {
        CAPTURE(shape.str());
        Tensor x = randn(shape, seed++, 3.0);
        expect_gradients([](const std::vector<Var>& v) { return softmax(v[0]); }, {x});
        expect_gradients([](const std::vector<Var>& v) { return log_softmax(v[0]); }, {x});
    }
}

TEST_CASE("gradcheck: concat, reshape, permute") {
    uint64_t seed = 90;
    const std::vector<std::pair<std::vector<Shape>, int>> concats = {
        {{Shape{2, 3, 4, 4}, Shape{2, 1, 4, 4}}, 1},
        {{Shape{2, 2, 3}, Shape{2, 5, 3}, Shape{2, 1, 3}}, 1},
        {{Shape{1, 4}, Shape{3, 4}}, 0},
    };
    for (const auto& [shapes, concat_axis] : concats) {
        std::vector<Tensor> inputs;
        for (const Shape& s : shapes) inputs.push_back(randn(s, seed++));
        const int axis = concat_axis;
        expect_gradients([axis](const std::vector<Var>& v) { return concat(v, axis); }, inputs);
    }
    const std::vector<std::pair<Shape, Shape>> reshapes = {
        {Shape{2, 6}, Shape{3, 4}}, {Shape{2, 3, 4}, Shape{6, 4}}, {Shape{24}, Shape{2, 3, 4}}};
    for (const auto& [from, to] : reshapes) {
        Shape target = to;
        // Square the view so the check sees a nonlinear function of the reshaped values.
        expect_gradients([target](const std::vector<Var>& v) { return square(reshape(v[0], target)); },
                         {randn(from, seed++)});
    }
    const std::vector<std::pair<Shape, std::vector<int>>> permutes = {
        {Shape{2, 3, 4, 5}, {0, 2, 3, 1}}, {Shape{3, 4}, {1, 0}}, {Shape{2, 3, 4}, {2, 0, 1}}};
    for (const auto& [shape, perm] : permutes) {
        std::vector<int> p = perm;
        expect_gradients([p](const std::vector<Var>& v) { return permute(v[0], p); },
                         {randn(shape, seed++)});
    }
}

TEST_CASE("gradcheck: gather of log-probabilities by integer index") {
    uint64_t seed = 100;
    for (const Shape& shape : {Shape{6, 10}, Shape{2, 3, 7}, Shape{2, 2, 3, 256}}) {
        CAPTURE(shape.str());
        Shape rows;
        for (int i = 0; i + 1 < shape.ndim(); ++i) rows.push_back(shape[i]);
        Tensor index = Tensor::empty(rows, DType::I32);
        Tensor u = uniform(rows, seed++, 0.0, 1.0);
        for (int64_t i = 0; i < rows.numel(); ++i)
            index.data<int32_t>()[i] = int32_t(u.at(i) * double(shape[-1]));
        Tensor x = randn(shape, seed++, 2.0);
        expect_gradients([&](const std::vector<Var>& v) { return gather_last(v[0], index); }, {x});
        // The categorical decoder's pattern: log-softmax then gather.
        expect_gradients(
            [&](const std::vector<Var>& v) { return gather_last(log_softmax(v[0]), index); }, {x});
    }
}

TEST_CASE("gradcheck: a composite expression reusing inputs accumulates every path") {
    // f(x, w, b) = mean(softplus(x W^T + b) * x W^T) uses x W^T twice.
    expect_gradients(
        [](const std::vector<Var>& v) {
            Var h = matmul(v[0], v[1], false, true);
            return mean(softplus(h + v[2]) * h);
        },
        {randn(Shape{4, 3}, 1), randn(Shape{5, 3}, 2), randn(Shape{5}, 3)});
}

// An op whose backward is deliberately wrong by a factor of 2: square with 4x dx.
static Var square_with_wrong_backward(const Var& x) {
    Var y = square(Var(x.value()));  // the right value, as a constant
    return record("bad_square", y.value(), {x}, [x](const Tensor& dy) {
        Tensor dx = Tensor::empty(x.shape(), x.dtype());
        for (int64_t i = 0; i < x.numel(); ++i)
            dx.data<double>()[i] = dy.at(i) * 4.0 * x.value().at(i);  // should be 2x
        x.accumulate_grad(dx);
    });
}

TEST_CASE("gradcheck catches a backward that is off by a factor of 2") {
    Tensor x = away_from_zero(Shape{3, 4}, 7, 0.2, 2.0);
    GradCheckResult bad = gradcheck(
        [](const std::vector<Var>& v) { return square_with_wrong_backward(v[0]); }, {x});
    CHECK_FALSE(bad.passed);
    CHECK(bad.max_rel_error == doctest::Approx(0.5).epsilon(1e-6));  // |4x - 2x| / 4x
    GradCheckResult good = gradcheck([](const std::vector<Var>& v) { return square(v[0]); }, {x});
    CHECK(good.passed);
}
