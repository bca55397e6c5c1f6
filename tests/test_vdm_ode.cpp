// The probability-flow ODE (vdm/probability_flow.h) and its integrator
// (vdm/ode_solver.h), in float64: Dormand-Prince's order and tolerance control on ODEs
// with closed-form solutions; the drift against the evolution of a Gaussian toy
// distribution's marginals, where eps_hat is exact; the ODE's likelihood and samples on
// that toy; Hutchinson's divergence against the exact one on a small ScoreNet; the
// dequantized bound with eps_hat = 0; one-line errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tests/vdm_helpers.h"
#include "vdm/decoder.h"
#include "vdm/encoder.h"
#include "vdm/parameterization.h"
#include "vdm/probability_flow.h"
#include "vdm/process.h"

using namespace vdm;
using test::check_error;

namespace {

constexpr double kPi = 3.141592653589793;

Var constant(double v) { return Var(Tensor::full(Shape{1}, v, DType::F64)); }
double plain_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

OdeOptions tolerances(double tol) {
    OdeOptions o;
    o.rtol = o.atol = tol;
    return o;
}

// y' = -y, one tensor of three values.
const OdeFunction kDecay = [](double, const OdeState& y) { return OdeState{-y[0]}; };
// A rotation with the state as two tensors: a' = -b, b' = a; a = cos t, b = sin t.
const OdeFunction kRotation = [](double, const OdeState& y) { return OdeState{-y[1], y[0]}; };

Var values(const std::vector<double>& v) {
    return Var(Tensor::from_vector(Shape{int64_t(v.size())}, v, DType::F64));
}

// A learned schedule with a clearly curved shape (so gamma' varies with t) and the
// given endpoints.
std::unique_ptr<LearnedSchedule> curved_schedule(double gamma_0, double gamma_1) {
    Rng rng(3);
    auto schedule = std::make_unique<LearnedSchedule>(gamma_0, gamma_1, 4, DType::F64, rng);
    schedule->w2.data()->value = test::randn(Shape{1, 4}, 41, 6.0);
    schedule->b2.data()->value = test::randn(Shape{1, 4}, 42, 2.0);
    schedule->w3.data()->value = test::randn(Shape{1, 4}, 43, 1.5);
    return schedule;
}

double gamma_of(const Schedule& schedule, double t) {
    NoGradGuard no_grad;
    return schedule.gamma(Tensor::full(Shape{1}, t, DType::F64)).item();
}

// d/dt of a function of t: central differences with Richardson extrapolation.
template <typename F>
double derivative(F&& f, double t) {
    const double h = 1e-3;
    const double d1 = (f(t + h) - f(t - h)) / (2 * h), d2 = (f(t + h / 2) - f(t - h / 2)) / h;
    return (4 * d2 - d1) / 3;
}

// The toy data distribution x ~ N(mu, s^2 I) on (1, 2, 3) "images". Its marginals are
// q(z_t) = N(alpha_t mu, v_t I) with v_t = alpha_t^2 s^2 + sigma_t^2, so the score is
// -(z - alpha_t mu) / v_t and the exact eps_hat is -sigma_t times it.
struct GaussianToy {
    std::vector<double> mu{0.5, -0.3, 0.8, -0.6, 0.2, 0.4};
    double s = 0.5;

    Shape shape(int64_t batch) const { return Shape{batch, 1, 2, 3}; }
    int64_t dims() const { return int64_t(mu.size()); }
    EpsFunction eps() const {
        return [this](const Var& z, const Var& gamma) {
            Var g = reshape(gamma, Shape{gamma.dim(0), 1, 1, 1});
            Var mean = alpha(g) * Var(Tensor::from_vector(shape(1), mu, DType::F64));
            Var score = -(z - mean) / (alpha_sq(g) * (s * s) + sigma_sq(g));
            return eps_from_score(g, score);
        };
    }
    double alpha_at(double gamma) const { return std::sqrt(plain_sigmoid(-gamma)); }
    double variance_at(double gamma) const {
        return plain_sigmoid(-gamma) * s * s + plain_sigmoid(gamma);
    }
    // Draws of q(z_t) at gamma: alpha mu + sqrt(v) xi, (batch, 1, 2, 3).
    Var draws(double gamma, int64_t batch, uint64_t seed) const {
        Tensor z = test::randn(shape(batch), seed, std::sqrt(variance_at(gamma)));
        for (int64_t i = 0; i < z.numel(); ++i)
            z.data<double>()[i] += alpha_at(gamma) * mu[size_t(i % dims())];
        return Var(z);
    }
};

}  // namespace

TEST_CASE("Dormand-Prince is fifth order, and its error estimate shrinks as h^5") {
    // Global error at t = 1 of fixed steps h = 1/n on y' = -y: halving h divides it by 2^5.
    auto fixed_steps_error = [](int64_t n) {
        const double h = 1.0 / double(n);
        OdeState y{values({1.0, -2.0, 0.5})};
        OdeState k1 = kDecay(0.0, y);
        for (int64_t i = 0; i < n; ++i) {
            DormandPrinceStep step = dormand_prince_step(kDecay, double(i) * h, y, k1, h);
            y = step.y;
            k1 = step.f_end;
        }
        return std::abs(y[0].value().at(1) - (-2.0 * std::exp(-1.0)));
    };
    for (int64_t n : {8, 16, 32}) {
        CAPTURE(n);
        const double ratio = fixed_steps_error(n) / fixed_steps_error(2 * n);
        CHECK(ratio > 26.0);
        CHECK(ratio < 38.0);
    }
    // The embedded (fourth-order) estimate of one step's error is O(h^5) too; on the
    // rotation, with the state as two tensors.
    auto estimate = [](double h) {
        const OdeState y{values({1.0}), values({0.0})};
        const DormandPrinceStep step = dormand_prince_step(kRotation, 0.0, y, kRotation(0.0, y), h);
        CHECK(step.y[0].item() == doctest::Approx(std::cos(h)).epsilon(1e-8));
        return std::hypot(step.error[0].item(), step.error[1].item());
    };
    for (double h : {0.2, 0.1}) {
        CAPTURE(h);
        CHECK(estimate(h) / estimate(h / 2) == doctest::Approx(32.0).epsilon(0.1));
    }
}

TEST_CASE("the adaptive solver meets its tolerance forwards and backwards, six evaluations per step") {
    int64_t previous_evaluations = 0;
    for (double tol : {1e-4, 1e-6, 1e-8, 1e-10}) {
        CAPTURE(tol);
        // One full turn of the rotation.
        const OdeSolution turn = solve_ode(kRotation, 0.0, 2 * kPi, {values({1.0}), values({0.0})},
                                           tolerances(tol));
        const double error = std::hypot(turn.y[0].item() - 1.0, turn.y[1].item());
        CHECK(error < 10.0 * tol);
        CHECK(error > 1e-3 * tol);  // the tolerance is used, not ignored
        // FSAL: f(t0, y0), one more for the first step size, then six per attempted step.
        CHECK(turn.evaluations == 2 + 6 * (turn.accepted + turn.rejected));
        CHECK(turn.evaluations > previous_evaluations);
        previous_evaluations = turn.evaluations;
        // y' = -y backwards from t = 1 to 0: y(0) = e y(1).
        const OdeSolution back = solve_ode(kDecay, 1.0, 0.0, {values({1.0, -2.0, 0.5})}, tolerances(tol));
        const std::vector<double> y0 = back.y[0].value().to_vector();
        CHECK(std::abs(y0[1] - (-2.0 * std::exp(1.0))) < 10.0 * tol * 2.0 * std::exp(1.0));
    }
    // t0 = t1: the state itself, no evaluation.
    const OdeSolution none = solve_ode(kDecay, 0.5, 0.5, {values({3.0})}, tolerances(1e-6));
    CHECK(none.evaluations == 0);
    CHECK(none.y[0].item() == 3.0);
}

TEST_CASE("the probability-flow drift moves a Gaussian toy's marginal as d/dt of its closed form") {
    const GaussianToy toy;
    const auto schedule = curved_schedule(-10.0, 6.0);
    const EpsFunction eps = toy.eps();
    for (double t : {0.1, 0.35, 0.6, 0.9}) {
        CAPTURE(t);
        NoGradGuard no_grad;
        const Tensor times = Tensor::full(Shape{3}, t, DType::F64);
        const Var gamma = schedule->gamma(times), gamma_prime = schedule->gamma_prime(times);
        const Var g4 = reshape(gamma, Shape{3, 1, 1, 1}), gp4 = reshape(gamma_prime, Shape{3, 1, 1, 1});
        const double g = gamma.value().at(0);
        // The mean m_t and the points m_t +- sqrt(v_t), per coordinate.
        const double a = toy.alpha_at(g), root_v = std::sqrt(toy.variance_at(g));
        std::vector<double> points;
        for (double k : {0.0, 1.0, -1.0})
            for (double m : toy.mu) points.push_back(a * m + k * root_v);
        const Var z(Tensor::from_vector(toy.shape(3), points, DType::F64));
        const Var eps_hat = eps(z, gamma);
        const std::vector<double> drift = probability_flow_drift(z, g4, gp4, eps_hat).value().to_vector();
        // d/dt of the closed forms m_t = alpha_t mu and log sqrt(v_t)
        const double d_alpha = derivative([&](double u) { return toy.alpha_at(gamma_of(*schedule, u)); }, t);
        const double d_log_root_v = derivative(
            [&](double u) { return 0.5 * std::log(toy.variance_at(gamma_of(*schedule, u))); }, t);
        const int64_t D = toy.dims();
        for (int64_t i = 0; i < D; ++i) {
            CAPTURE(i);
            // The mean moves as dm/dt; a point one standard deviation out moves away
            // from it at the rate the standard deviation grows.
            CHECK(drift[size_t(i)] == doctest::Approx(d_alpha * toy.mu[size_t(i)]).epsilon(1e-7));
            const double spread = (drift[size_t(D + i)] - drift[size_t(2 * D + i)]) / (2 * root_v);
            CHECK(spread == doctest::Approx(d_log_root_v).epsilon(1e-7));
        }
        // The SDE's coefficients from their definitions, f = d log alpha_t / dt and
        // g^2 = d sigma_t^2 / dt - 2 f sigma_t^2, give the same drift f z - 0.5 g^2 score.
        const double f = derivative([&](double u) { return std::log(toy.alpha_at(gamma_of(*schedule, u))); }, t);
        const double g_sq =
            derivative([&](double u) { return plain_sigmoid(gamma_of(*schedule, u)); }, t) -
            2.0 * f * plain_sigmoid(g);
        const std::vector<double> sde =
            (z * f - predicted_score(g4, eps_hat) * (0.5 * g_sq)).value().to_vector();
        for (size_t i = 0; i < sde.size(); ++i) CHECK(drift[i] == doctest::Approx(sde[i]).epsilon(1e-7));
    }
}

TEST_CASE("with eps_hat = 0 the ODE solution is z_1 = (alpha_1 / alpha_0) z_0") {
    const auto schedule = curved_schedule(-13.3, 5.0);
    const EpsFunction zero = [](const Var& z, const Var&) {
        return Var(Tensor::zeros(z.shape(), z.dtype(), z.device()));
    };
    const Var z0(test::randn(Shape{2, 1, 3, 3}, 7));
    const FlowResult forward = integrate_probability_flow(*schedule, zero, z0, 0.0, 1.0, tolerances(1e-10));
    const double ratio = std::sqrt(plain_sigmoid(-5.0) / plain_sigmoid(13.3));  // alpha_1 / alpha_0
    const std::vector<double> start = z0.value().to_vector(), end = forward.z.value().to_vector();
    for (size_t i = 0; i < end.size(); ++i) CHECK(end[i] == doctest::Approx(ratio * start[i]).epsilon(1e-8));
    // and back
    const FlowResult back = integrate_probability_flow(*schedule, zero, forward.z, 1.0, 0.0, tolerances(1e-10));
    const std::vector<double> again = back.z.value().to_vector();
    for (size_t i = 0; i < again.size(); ++i) CHECK(again[i] == doctest::Approx(start[i]).epsilon(1e-8));
    CHECK(forward.evaluations > 0);
}

TEST_CASE("on a Gaussian toy the ODE likelihood is the closed-form log-density of q(z_0)") {
    // gamma_1 = 20 leaves alpha_1 = 4.5e-5: q(z_1) is N(0, I) to far below the tolerance.
    const GaussianToy toy;
    const auto schedule = curved_schedule(-8.0, 20.0);
    const double g0 = gamma_of(*schedule, 0.0), g1 = gamma_of(*schedule, 1.0);
    const Var z0 = toy.draws(g0, 4, 11);
    const int64_t D = toy.dims();
    const OdeLogLikelihood exact =
        ode_log_likelihood(*schedule, toy.eps(), z0, basis_probes(toy.shape(4), DType::F64, Device::CPU),
                           tolerances(1e-9));
    const std::vector<double> z = z0.value().to_vector();
    for (int64_t b = 0; b < 4; ++b) {
        CAPTURE(b);
        // log q(z_0) = log N(z_0; alpha_0 mu, v_0 I), and the exact image of the prior
        // under the ODE's affine map z_1 = m_1 + sqrt(v_1 / v_0) (z_0 - m_0).
        const double v0 = toy.variance_at(g0), v1 = toy.variance_at(g1);
        double log_q = 0.0, log_pushforward = 0.0;
        for (int64_t i = 0; i < D; ++i) {
            const double mu = toy.mu[size_t(i)], zi = z[size_t(b * D + i)];
            const double r = zi - toy.alpha_at(g0) * mu;
            log_q += -0.5 * std::log(2 * kPi * v0) - r * r / (2 * v0);
            const double z1 = toy.alpha_at(g1) * mu + std::sqrt(v1 / v0) * r;
            log_pushforward += -0.5 * std::log(2 * kPi) - 0.5 * z1 * z1 + 0.5 * std::log(v1 / v0);
        }
        const double ode = exact.log_density[size_t(b)];
        CHECK(std::abs(ode - log_q) / double(D) < 1e-3);
        CHECK(ode == doctest::Approx(log_pushforward).epsilon(1e-7));
    }
    // The toy's Jacobian is diagonal, where one Rademacher probe is already exact.
    Rng rng(5);
    const OdeLogLikelihood one_probe = ode_log_likelihood(
        *schedule, toy.eps(), z0, rademacher_probes(toy.shape(4), 1, rng, DType::F64, Device::CPU),
        tolerances(1e-9));
    for (size_t b = 0; b < 4; ++b)
        CHECK(one_probe.log_density[b] == doctest::Approx(exact.log_density[b]).epsilon(1e-9));
}

TEST_CASE("on a Gaussian toy the ODE sampler maps N(0, I) to q(z_0)") {
    const GaussianToy toy;
    const auto schedule = curved_schedule(-8.0, 20.0);
    const double g0 = gamma_of(*schedule, 0.0), g1 = gamma_of(*schedule, 1.0);
    const int64_t n = 4000, D = toy.dims();
    const Var z1(test::randn(toy.shape(n), 13));
    const FlowResult flow = integrate_probability_flow(*schedule, toy.eps(), z1, 1.0, 0.0, tolerances(1e-7));
    const std::vector<double> noise = z1.value().to_vector(), samples = flow.z.value().to_vector();
    const double m0_scale = toy.alpha_at(g0), v0 = toy.variance_at(g0), v1 = toy.variance_at(g1);
    for (int64_t i = 0; i < D; ++i) {
        CAPTURE(i);
        std::vector<double> column, squares;
        const double m0 = m0_scale * toy.mu[size_t(i)];
        for (int64_t b = 0; b < n; ++b) {
            const double x = samples[size_t(b * D + i)];
            column.push_back(x);
            squares.push_back((x - m0) * (x - m0));
            // each sample is the ODE's affine map of its noise
            const double expected = m0 + std::sqrt(v0 / v1) * (noise[size_t(b * D + i)] - toy.alpha_at(g1) * toy.mu[size_t(i)]);
            if (b < 20) CHECK(x == doctest::Approx(expected).epsilon(1e-5));
        }
        // mean alpha_0 mu and variance v_0, within 4 standard errors
        const test::MeanAndError mean = test::mean_and_error(column), variance = test::mean_and_error(squares);
        CHECK(std::abs(mean.mean - m0) < 4.0 * mean.stderr_);
        CHECK(std::abs(variance.mean - v0) < 4.0 * variance.stderr_);
    }
}

TEST_CASE("Hutchinson's divergence over 1000 probes matches the exact one on an 8x8 ScoreNet") {
    VdmConfig config = test::tiny_model("linear", "continuous");
    config.net.height = config.net.width = 8;
    Rng init(21);
    Vdm model(config, DType::F64, init);
    test::randomize_zero_inits(model, 80);  // so that eps_hat depends on z
    const EpsFunction eps = network_eps(model);
    const Tensor z = test::randn(Shape{1, 1, 8, 8}, 22);
    const double gamma = -2.0;
    const double exact = eps_and_divergence(eps, Var(z), constant(gamma),
                                            basis_probes(z.shape(), DType::F64, Device::CPU))
                             .divergence.item();
    // 1000 copies of z in one batch, one Rademacher probe each: 1000 samples of v^T J v.
    const int64_t probes = 1000;
    Tensor copies = Tensor::empty(Shape{probes, 1, 8, 8}, DType::F64);
    for (int64_t i = 0; i < copies.numel(); ++i) copies.data<double>()[i] = z.at(i % 64);
    Rng rng(23);
    const EpsAndDivergence hutchinson =
        eps_and_divergence(eps, Var(copies), Var(Tensor::full(Shape{probes}, gamma, DType::F64)),
                           rademacher_probes(copies.shape(), 1, rng, DType::F64, Device::CPU));
    const test::MeanAndError estimate = test::mean_and_error(hutchinson.divergence.value().to_vector());
    CAPTURE(exact);
    CAPTURE(estimate.mean);
    CAPTURE(estimate.stderr_);
    CHECK(std::abs(exact) > 0.1);           // a Jacobian worth estimating
    CHECK(estimate.stderr_ > 0.0);          // not diagonal: the probes disagree
    CHECK(std::abs(estimate.mean - exact) < 3.0 * estimate.stderr_);
    CHECK(estimate.stderr_ < 0.2 * std::abs(exact));
}

TEST_CASE("with eps_hat = 0 the dequantized ODE bound is the closed-form Gaussian's") {
    // A fresh network predicts eps_hat = 0, so the model's density of z_0 is
    // N(0, (alpha_0 / alpha_1)^2 I) and that of y = z_0 / alpha_0 is N(0, I / alpha_1^2).
    VdmConfig config = test::tiny_model("linear", "continuous");
    Rng init(2);
    Vdm model(config, DType::F64, init);
    const Dataset data = test::synthetic_images(3);
    const int64_t n = 3, D = 16;
    const double alpha_1 = std::sqrt(plain_sigmoid(-config.gamma_max));
    OdeBpdOptions options;
    options.ode = tolerances(1e-4);
    Rng rng(31);
    const OdeBpd result = ode_bpd(model, data.images.data(), n, rng, options);
    // the same u: the first n D positions of the stream
    Tensor u = Tensor::empty(Shape{n * D}, DType::F64);
    backend_for(Device::CPU).fill_uniform(u, 31, 0);
    for (int64_t b = 0; b < n; ++b) {
        double log_density = 0.0;  // of y, plus log of the bin width 2/256 per value
        for (int64_t i = b * D; i < (b + 1) * D; ++i) {
            const double y = 2.0 * (data.images[size_t(i)] + u.at(i)) / 256.0 - 1.0;
            log_density += -0.5 * std::log(2 * kPi) + std::log(alpha_1) -
                           0.5 * alpha_1 * alpha_1 * y * y + std::log(2.0 / 256.0);
        }
        CHECK(result.bpd[size_t(b)] ==
              doctest::Approx(-log_density / (double(D) * std::log(2.0))).epsilon(1e-4));
    }
    // The vector-Jacobian products reached z alone; the parameters are trainable again.
    for (const Parameter& p : model.parameters()) {
        CAPTURE(p.name);
        CHECK(p.var.requires_grad());
        CHECK_FALSE(p.var.grad().defined());
    }
}

TEST_CASE("the ODE sampler of a fresh network decodes (alpha_0 / alpha_1) z_1, reproducibly") {
    VdmConfig config = test::tiny_model("linear", "continuous");
    config.gamma_max = -4.0;  // alpha_1 near 1, so z_0 / alpha_0 spreads over many pixel values
    Rng init(2);
    Vdm model(config, DType::F64, init);
    const int64_t n = 3;
    const Samples samples = ode_sample(model, n, 17, tolerances(1e-7));
    Tensor z1 = Tensor::empty(model.image_shape(n), DType::F64);
    backend_for(Device::CPU).fill_normal(z1, 17, 0);
    const double ratio =  // alpha_0 / alpha_1
        std::sqrt(plain_sigmoid(-config.gamma_min) / plain_sigmoid(-config.gamma_max));
    const std::vector<uint8_t> expected = decoder_mode(Var(z1) * ratio, constant(config.gamma_min));
    CHECK(samples.images == expected);
    CHECK(samples.network_evals > 0);
    int distinct = 0;
    for (int v = 0; v < 256; ++v)
        distinct += std::count(expected.begin(), expected.end(), uint8_t(v)) > 0;
    CHECK(distinct > 10);
    CHECK(ode_sample(model, n, 17, tolerances(1e-7)).images == samples.images);
}

TEST_CASE("ODE tolerances <= 0 and runaway integrations are one-line errors") {
    for (double bad : {0.0, -1e-5, std::nan("")}) {
        CAPTURE(bad);
        OdeOptions rtol = tolerances(1e-6), atol = tolerances(1e-6);
        rtol.rtol = bad;
        atol.atol = bad;
        check_error([&] { solve_ode(kDecay, 0.0, 1.0, {values({1.0})}, rtol); }, "rtol", "must be positive");
        check_error([&] { solve_ode(kDecay, 0.0, 1.0, {values({1.0})}, atol); }, "atol", "must be positive");
        VdmConfig config = test::tiny_model("linear", "continuous");
        Rng init(2);
        Vdm model(config, DType::F64, init);
        check_error([&] { ode_sample(model, 2, 0, rtol); }, "rtol", "must be positive");
    }
    OdeOptions few = tolerances(1e-12);
    few.max_evaluations = 20;
    check_error([&] { solve_ode(kRotation, 0.0, 10.0, {values({1.0}), values({0.0})}, few); },
                "20 evaluations reached", "loosen the tolerances");
    // f blows up at t = 0.5: the step size collapses instead of stepping over it.
    const OdeFunction blow_up = [](double t, const OdeState& y) {
        return OdeState{y[0] * (1.0 / (0.5 - t))};
    };
    check_error([&] { solve_ode(blow_up, 0.0, 1.0, {values({1.0})}, tolerances(1e-6)); }, "ode:",
                "at t = 0.5");
}
