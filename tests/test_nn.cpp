// nn/: layers (gradient checks in float64, initial behaviour), embeddings, dropout,
// AdamW, gradient clipping, warmup, EMA, parameter names.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "autodiff/gradcheck.h"
#include "nn/adamw.h"
#include "nn/ema.h"
#include "nn/embeddings.h"
#include "nn/score_net.h"
#include "tests/helpers.h"

using namespace vdm;

TEST_CASE("layers pass a float64 gradient check w.r.t. inputs and parameters") {
    Rng rng(1);
    const Tensor x = test::randn(Shape{2, 4, 3, 5}, 2);
    const Tensor emb = test::randn(Shape{2, 6}, 3);
    SUBCASE("multi-head attention block") {
        AttentionBlock block(4, 2, 2, DType::F64, rng);
        test::randomize(block, 10);
        // The key bias adds the same q.b to every score of a query, which softmax
        // ignores: its gradient is exactly zero, checked directly instead.
        std::vector<Var> leaves;
        Var key_bias;
        for (const Parameter& p : block.parameters()) {
            if (p.name == "key.bias") key_bias = p.var;
            else leaves.push_back(p.var);
        }
        Var input(x.clone(), true);
        leaves.push_back(input);
        GradCheckResult r = gradcheck_leaves([&](const std::vector<Var>&) { return block.forward(input); },
                                             leaves);
        CAPTURE(r.worst);
        CHECK(r.passed);
        sum(block.forward(input) * Var(test::randn(x.shape(), 9))).backward();
        for (double g : key_bias.grad().to_vector()) CHECK(std::abs(g) < 1e-12);
    }
    SUBCASE("ResNet block with time conditioning and a 1x1 skip") {
        ResnetBlock block(4, 6, 6, 2, 0.0, DType::F64, rng);
        test::randomize(block, 20);
        std::vector<Var> leaves = test::leaves_of(block);
        Var input(x.clone(), true), e(emb.clone(), true);
        leaves.push_back(input);
        leaves.push_back(e);
        GradCheckResult r = gradcheck_leaves(
            [&](const std::vector<Var>&) { return block.forward(input, e, nullptr); }, leaves);
        CAPTURE(r.worst);
        CHECK(r.passed);
    }
    SUBCASE("Fourier features and the time embedding") {
        GradCheckResult r = gradcheck([](const std::vector<Var>& v) { return fourier_features(v[0], 0, 2); },
                                      {test::uniform(Shape{2, 1, 2, 2}, 4, -1, 1)});
        CAPTURE(r.worst);
        CHECK(r.passed);
        // 1000 t w_0 changes by 1000 h: the step must be small for the fastest frequency.
        r = gradcheck([](const std::vector<Var>& v) { return timestep_embedding(v[0], 8); },
                      {test::uniform(Shape{3}, 5, 0, 1)}, 1e-6, 2e-4);
        CAPTURE(r.worst);
        CHECK(r.passed);
    }
}

TEST_CASE("fresh blocks are identities and a fresh ScoreNet predicts eps_hat = 0") {
    Rng rng(1);
    Tensor x = test::randn(Shape{2, 8, 4, 4}, 2, 1.0, DType::F32);
    Var emb(test::randn(Shape{2, 32}, 3, 1.0, DType::F32));
    ResnetBlock block(8, 8, 32, 4, 0.0, DType::F32, rng);
    AttentionBlock attention(8, 2, 4, DType::F32, rng);
    CHECK(block.forward(Var(x), emb, nullptr).value().to_vector() == x.to_vector());
    CHECK(attention.forward(Var(x)).value().to_vector() == x.to_vector());
    ScoreNetConfig c;
    c.height = c.width = 4;
    c.channels = 8;
    c.groups = 4;
    ScoreNet net(c, DType::F32, rng);
    Tensor out = net.forward(Var(test::randn(Shape{2, 1, 4, 4}, 4, 1.0, DType::F32)),
                             Var(Tensor::full(Shape{2}, -3.0))).value();
    for (double v : out.to_vector()) CHECK(v == 0.0);
}

TEST_CASE("parameter names are unique dotted paths") {
    Rng rng(1);
    ScoreNetConfig c;
    ScoreNet net(c, DType::F32, rng);
    std::set<std::string> names;
    for (const Parameter& p : net.parameters()) names.insert(p.name);
    CHECK(names.size() == net.parameters().size());
    CHECK(names.count("down.1.conv1.weight") == 1);
    CHECK(names.count("mid_attention.query.bias") == 1);
    CHECK(names.count("up.2.skip.weight") == 1);
    CHECK(names.count("conv_out.weight") == 1);
}

TEST_CASE("fourier features and the time embedding take the documented values") {
    // z = f(x) is a bin centre: sin(2^8 pi z) = 0 there, and 2^8 pi z moves by 2 pi per bin.
    const double z0 = 2.0 * (100 + 0.5) / 256 - 1, z1 = 0.3;
    Tensor z = Tensor::from_vector(Shape{1, 1, 1, 2}, {z0, z1}, DType::F64);
    Tensor f = fourier_features(Var(z), 7, 8).value();  // (1, 4, 1, 2): sin7, cos7, sin8, cos8
    CHECK(f.shape() == Shape{1, 4, 1, 2});
    CHECK(f.at(1) == doctest::Approx(std::sin(128 * M_PI * z1)));
    CHECK(f.at(3) == doctest::Approx(std::cos(128 * M_PI * z1)));
    CHECK(std::abs(f.at(4)) < 1e-12);  // sin(2^8 pi z0)
    CHECK(f.at(6) == doctest::Approx(-1.0));  // cos(2^8 pi z0): every bin centre is at phase pi
    Tensor e = timestep_embedding(Var(Tensor::from_vector(Shape{2}, {0.0, 0.5}, DType::F64)), 8).value();
    CHECK(e.shape() == Shape{2, 8});
    CHECK(e.at(0) == 0.0);   // sin(0)
    CHECK(e.at(4) == 1.0);   // cos(0)
    CHECK(e.at(8 + 0) == doctest::Approx(std::sin(500.0)));            // k = 0: w = 1
    CHECK(e.at(8 + 3) == doctest::Approx(std::sin(500.0 * 1e-4)));     // k = 3 = half - 1: w = 1e-4
}

TEST_CASE("dropout zeroes about p of the elements, rescales the rest, and is off without an Rng") {
    Dropout dropout(0.25);
    Var x(Tensor::full(Shape{100000}, 2.0, DType::F64));
    CHECK(dropout.forward(x, nullptr).value().same_storage(x.value()));
    Rng rng(5);
    Tensor y = dropout.forward(x, &rng).value();
    int64_t zeros = 0, others = 0;
    for (double v : y.to_vector()) {
        zeros += v == 0.0;
        others += v != 0.0 && std::abs(v - 2.0 / 0.75) > 1e-12;
    }
    CHECK(others == 0);
    CHECK(double(zeros) / 100000 == doctest::Approx(0.25).epsilon(0.02));
    CHECK_THROWS_AS(Dropout(1.0), Error);
}

TEST_CASE("AdamW: bias-corrected moments and decoupled weight decay") {
    struct Tiny : Module {
        Var w;
        Tiny() { w = add_parameter("w", Tensor::from_vector(Shape{2}, {1.0, -2.0}, DType::F64)); }
    } m;
    AdamWConfig cfg;
    cfg.beta1 = 0.9, cfg.beta2 = 0.99, cfg.eps = 1e-8, cfg.weight_decay = 0.1;
    AdamW opt(m.parameters(), cfg);
    const double lr = 0.01, g[2][2] = {{0.5, -3.0}, {0.1, 1.0}};
    double w[2] = {1.0, -2.0}, mo[2] = {0, 0}, v[2] = {0, 0};
    for (int step = 1; step <= 2; ++step) {
        m.w.accumulate_grad(Tensor::from_vector(Shape{2}, {g[step - 1][0], g[step - 1][1]}, DType::F64));
        opt.step(lr);
        CHECK_FALSE(m.w.grad().defined());  // cleared
        for (int i = 0; i < 2; ++i) {  // the textbook update, written out
            double gi = g[step - 1][i];
            mo[i] = 0.9 * mo[i] + 0.1 * gi;
            v[i] = 0.99 * v[i] + 0.01 * gi * gi;
            double m_hat = mo[i] / (1 - std::pow(0.9, step)), v_hat = v[i] / (1 - std::pow(0.99, step));
            w[i] = w[i] * (1 - lr * 0.1) - lr * m_hat / (std::sqrt(v_hat) + 1e-8);
            CHECK(m.w.value().at(i) == doctest::Approx(w[i]).epsilon(1e-14));
        }
    }
    // The first step moves each weight by about lr whatever the gradient's scale.
    AdamW fresh(m.parameters(), cfg, {false});
    double before = m.w.value().at(0);
    m.w.accumulate_grad(Tensor::from_vector(Shape{2}, {1e-4, 1e4}, DType::F64));
    fresh.step(lr);
    CHECK(m.w.value().at(0) == doctest::Approx(before - lr).epsilon(1e-6));
}

TEST_CASE("gradient clipping, warmup and NaN gradients") {
    struct Tiny : Module {
        Var a, b;
        Tiny() {
            a = add_parameter("a", Tensor::zeros(Shape{1}, DType::F64));
            b = add_parameter("b", Tensor::zeros(Shape{2}, DType::F64));
        }
    } m;
    m.a.accumulate_grad(Tensor::from_vector(Shape{1}, {3.0}, DType::F64));
    m.b.accumulate_grad(Tensor::from_vector(Shape{2}, {0.0, 4.0}, DType::F64));
    CHECK(clip_grad_norm(m.parameters(), 1.0) == doctest::Approx(5.0));
    CHECK(m.a.grad().at(0) == doctest::Approx(0.6));
    CHECK(m.b.grad().at(1) == doctest::Approx(0.8));
    CHECK(clip_grad_norm(m.parameters(), 10.0) == doctest::Approx(1.0));  // no change below the cap
    CHECK(m.a.grad().at(0) == doctest::Approx(0.6));
    m.b.zero_grad();
    m.b.accumulate_grad(Tensor::from_vector(Shape{2}, {NAN, 0.0}, DType::F64));
    CHECK(std::isnan(clip_grad_norm(m.parameters(), 1.0)));  // returned, not clipped
    CHECK(m.a.grad().at(0) == doctest::Approx(0.6));
    CHECK(warmup_lr(1e-3, 1, 100) == doctest::Approx(1e-5));
    CHECK(warmup_lr(1e-3, 50, 100) == doctest::Approx(5e-4));
    CHECK(warmup_lr(1e-3, 100, 100) == 1e-3);
    CHECK(warmup_lr(1e-3, 5, 0) == 1e-3);
}

TEST_CASE("EMA follows the weights with a warmed-up decay and swaps in and out") {
    struct Tiny : Module {
        Var w;
        Tiny() { w = add_parameter("w", Tensor::full(Shape{1}, 0.0, DType::F64)); }
    } m;
    auto params = m.parameters();
    Ema ema(params, 0.99);
    double shadow = 0.0;
    for (int n = 0; n < 30; ++n) {
        m.w.value().fill(double(n + 1));
        ema.update(params);
        double d = std::min(0.99, (1.0 + n) / (10.0 + n));
        shadow = d * shadow + (1 - d) * double(n + 1);
        CHECK(ema.shadow[0].at(0) == doctest::Approx(shadow).epsilon(1e-14));
    }
    ema.swap(params);
    CHECK(m.w.value().at(0) == doctest::Approx(shadow));
    ema.swap(params);
    CHECK(m.w.value().at(0) == 30.0);
    CHECK_THROWS_AS(Ema(params, 1.0), Error);
}
