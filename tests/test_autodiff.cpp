// The autodiff machinery itself: graph recording, accumulation, no-grad mode,
// finite checking.
#include <doctest/doctest.h>

#include "autodiff/ops.h"
#include "tests/helpers.h"

using namespace vdm;

TEST_CASE("backward accumulates a Var used twice and keeps leaf gradients") {
    Var x(Tensor::from_vector(Shape{2}, {3.0, -1.0}, DType::F64), true);
    Var y = sum(x * x + x);  // dy/dx = 2x + 1
    y.backward();
    CHECK(x.grad().at(0) == doctest::Approx(7.0));
    CHECK(x.grad().at(1) == doctest::Approx(-1.0));
    // A second graph adds into the same leaf gradient.
    sum(x).backward();
    CHECK(x.grad().at(0) == doctest::Approx(8.0));
    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
}

TEST_CASE("gradients of add do not alias each other") {
    // Both inputs of add receive dout; a later += into one must not change the other.
    Var a(Tensor::from_vector(Shape{2}, {1.0, 2.0}, DType::F64), true);
    Var b(Tensor::from_vector(Shape{2}, {3.0, 4.0}, DType::F64), true);
    Var s = a + b;
    Var loss = sum(s * 3.0 + a * 5.0);  // d/da = 3 + 5, d/db = 3
    loss.backward();
    CHECK(a.grad().at(0) == doctest::Approx(8.0));
    CHECK(b.grad().at(0) == doctest::Approx(3.0));
}

TEST_CASE("no-grad mode records nothing") {
    Var x(Tensor::full(Shape{3}, 2.0, DType::F64), true);
    {
        NoGradGuard guard;
        Var y = exp(x);
        CHECK_FALSE(y.requires_grad());
        CHECK(y.is_leaf());
        CHECK_THROWS_AS(y.backward(), Error);
    }
    CHECK(exp(x).requires_grad());
}

TEST_CASE("backward needs a scalar or a seed of the output's shape") {
    Var x(Tensor::full(Shape{3}, 2.0, DType::F64), true);
    Var y = square(x);
    CHECK_THROWS_AS(y.backward(), Error);
    CHECK_THROWS_AS(y.backward(Tensor::full(Shape{2}, 1.0, DType::F64)), Error);
    y.backward(Tensor::full(Shape{3}, 1.0, DType::F64));
    CHECK(x.grad().at(2) == doctest::Approx(4.0));
}

TEST_CASE("finite checking names the op that made a NaN") {
    Var x(Tensor::from_vector(Shape{2}, {1.0, -1.0}), true);
    set_check_finite(true);
    try {
        log(x);
        FAIL("log(-1) passed the finite check");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("log forward") != std::string::npos);
    }
    set_check_finite(false);
    CHECK_NOTHROW(log(x));
    CHECK_THROWS_AS(require_finite(log(x).value(), "loss"), Error);
}

TEST_CASE("op shape errors name the op and both shapes") {
    Var a(Tensor::zeros(Shape{2, 3}));
    Var b(Tensor::zeros(Shape{4, 3}));
    try {
        add(a, b);
        FAIL("no error");
    } catch (const Error& e) {
        std::string msg = e.what();
        CHECK(msg.find("add") != std::string::npos);
        CHECK(msg.find("(2, 3)") != std::string::npos);
        CHECK(msg.find("(4, 3)") != std::string::npos);
    }
    CHECK_THROWS_AS(matmul(a, b), Error);
    CHECK_THROWS_AS(sum(a, {1, -1}), Error);  // the same axis twice
    CHECK_THROWS_AS(conv2d(Var(Tensor::zeros(Shape{1, 2, 4, 4})), Var(Tensor::zeros(Shape{3, 5, 3, 3})), Var()), Error);
    CHECK_THROWS_AS(group_norm(Var(Tensor::zeros(Shape{1, 6, 2, 2})), 4, Var(Tensor::zeros(Shape{6})), Var(Tensor::zeros(Shape{6}))), Error);
    CHECK_THROWS_AS(add(a, Var(Tensor::zeros(Shape{2, 3}, DType::F64))), Error);
    Tensor bad_index = Tensor::full(Shape{2}, 3.0, DType::I32);
    CHECK_THROWS_AS(gather_last(a, bad_index), Error);  // 3 is outside [0, 3)
}

TEST_CASE("sum and mean over axes give the right values and shapes") {
    Var x(Tensor::from_vector(Shape{2, 3}, {1, 2, 3, 4, 5, 6}, DType::F64));
    Var rows = mean(x, {1});
    CHECK(rows.shape() == Shape{2});
    CHECK(rows.value().to_vector() == std::vector<double>{2.0, 5.0});
    Var cols = sum(x, {0}, /*keepdim=*/true);
    CHECK(cols.shape() == Shape{1, 3});
    CHECK(cols.value().to_vector() == std::vector<double>{5.0, 7.0, 9.0});
    CHECK(mean(x).item() == doctest::Approx(3.5));
    CHECK(sum(x, {-1, 0}).shape() == Shape{});
}
