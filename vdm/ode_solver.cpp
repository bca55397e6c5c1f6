// Dormand-Prince 5(4) with step-size control.
#include "vdm/ode_solver.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vdm {

namespace {

// The Butcher tableau (Dormand & Prince 1980). Stage i is evaluated at t + kC[i] h and
// y + h sum_j kA[i][j] k_j; the last row of kA is the fifth-order solution's weights,
// so the seventh stage is f at the new point. kError = fifth- minus fourth-order weights.
constexpr int kStages = 7;
constexpr double kC[kStages] = {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0};
constexpr double kA[kStages][kStages - 1] = {
    {},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
constexpr double kError[kStages] = {71.0 / 57600,      0.0,         -71.0 / 16695, 71.0 / 1920,
                                    -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

// Step-size control: next h = h * safety / err^(1/5), the factor kept in [min, max].
constexpr double kSafety = 0.9, kMinFactor = 0.2, kMaxFactor = 10.0;
constexpr double kOrderExponent = 1.0 / 5;  // the error estimate is O(h^5)

// f(t, y) as plain values (no graph behind them), checked against the state's shapes.
OdeState evaluate(const OdeFunction& f, double t, const OdeState& y) {
    OdeState dy = f(t, y);
    VDM_CHECK(dy.size() == y.size(), "ode: the state has ", y.size(), " tensors, f returned ",
              dy.size());
    for (size_t i = 0; i < y.size(); ++i) {
        check_same_shape("ode: f(t, y) against y", y[i].value(), dy[i].value());
        dy[i] = Var(dy[i].value());
    }
    return dy;
}

// h sum_j weights[j] k[j], tensor by tensor (terms with weight 0 skipped).
OdeState combination(double h, const double* weights, const std::vector<OdeState>& k) {
    OdeState out(k[0].size());
    for (size_t i = 0; i < out.size(); ++i)
        for (size_t j = 0; j < k.size(); ++j) {
            if (weights[j] == 0.0) continue;
            Var term = k[j][i] * (h * weights[j]);
            out[i] = out[i].defined() ? out[i] + term : term;
        }
    return out;
}

OdeState plus(const OdeState& a, const OdeState& b) {
    OdeState out;
    for (size_t i = 0; i < a.size(); ++i) out.push_back(a[i] + b[i]);
    return out;
}

// The size of v against the tolerances: per tensor the RMS of
// v / (atol + rtol max(|a|, |b|)), and the largest of those, so that a small tensor
// (a log-density per image) is not outvoted by a large one (the images). Infinite
// when anything is not finite.
double scaled_norm(const OdeState& v, const OdeState& a, const OdeState& b, double rtol,
                   double atol) {
    double norm = 0.0;
    for (size_t i = 0; i < v.size(); ++i) {
        Var abs_a = abs(a[i]), abs_b = abs(b[i]);
        Var larger = (abs_a + abs_b + abs(abs_a - abs_b)) * 0.5;  // max(|a|, |b|)
        const double rms = std::sqrt(mean(square(v[i] / (larger * rtol + atol))).item());
        if (!std::isfinite(rms)) return std::numeric_limits<double>::infinity();
        norm = std::max(norm, rms);
    }
    return norm;
}

// The first step's size (Hairer, Norsett, Wanner, II.4): a guess from the sizes of y0
// and f0, refined by how fast f changes over one explicit Euler step of that guess.
double initial_step(const OdeFunction& f, double t0, const OdeState& y0, const OdeState& f0,
                    double direction, double span, double rtol, double atol,
                    int64_t& evaluations) {
    const double d0 = scaled_norm(y0, y0, y0, rtol, atol);
    const double d1 = scaled_norm(f0, y0, y0, rtol, atol);
    double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    h0 = std::min(h0, span);
    const double euler[] = {1.0};
    const OdeState f1 =
        evaluate(f, t0 + direction * h0, plus(y0, combination(direction * h0, euler, {f0})));
    ++evaluations;
    const double difference[] = {1.0, -1.0};
    const double d2 = scaled_norm(combination(1.0, difference, {f1, f0}), y0, y0, rtol, atol) / h0;
    const double larger = std::max(d1, d2);
    double h1 = larger <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / larger, kOrderExponent);
    if (!std::isfinite(h1)) h1 = h0;
    return std::min({100.0 * h0, h1, span});
}

}  // namespace

DormandPrinceStep dormand_prince_step(const OdeFunction& f, double t, const OdeState& y,
                                      const OdeState& k1, double h) {
    std::vector<OdeState> k{k1};
    OdeState y_stage;
    for (int i = 1; i < kStages; ++i) {
        y_stage = plus(y, combination(h, kA[i], k));
        k.push_back(evaluate(f, t + kC[i] * h, y_stage));
    }
    DormandPrinceStep out;
    out.y = y_stage;  // the seventh stage is taken at the fifth-order solution
    out.f_end = k.back();
    out.error = combination(h, kError, k);
    return out;
}

OdeSolution solve_ode(const OdeFunction& f, double t0, double t1, const OdeState& y0,
                      const OdeOptions& options) {
    const double rtol = options.rtol, atol = options.atol;
    VDM_CHECK(std::isfinite(rtol) && rtol > 0.0, "ode: rtol = ", rtol, " must be positive");
    VDM_CHECK(std::isfinite(atol) && atol > 0.0, "ode: atol = ", atol, " must be positive");
    VDM_CHECK(options.max_evaluations >= 1, "ode: max evaluations = ", options.max_evaluations,
              " must be positive");
    VDM_CHECK(std::isfinite(t0) && std::isfinite(t1), "ode: times ", t0, " and ", t1,
              " must be finite");
    VDM_CHECK(!y0.empty(), "ode: the state is empty");
    OdeSolution s;
    for (const Var& v : y0) s.y.push_back(Var(v.value()));
    if (t0 == t1) return s;

    const double direction = t1 > t0 ? 1.0 : -1.0;
    OdeState k1 = evaluate(f, t0, s.y);
    s.evaluations = 1;
    double h = initial_step(f, t0, s.y, k1, direction, std::abs(t1 - t0), rtol, atol, s.evaluations);
    double t = t0;
    bool after_rejection = false;
    while (t != t1) {
        VDM_CHECK(s.evaluations + kStages - 1 <= options.max_evaluations, "ode: ",
                  options.max_evaluations, " evaluations reached at t = ", t, " of [", t0, ", ",
                  t1, "] (rtol ", rtol, ", atol ", atol,
                  "); loosen the tolerances or allow more evaluations");
        const double remaining = std::abs(t1 - t);
        const bool last = h >= remaining;
        const double step = direction * (last ? remaining : h);
        DormandPrinceStep next = dormand_prince_step(f, t, s.y, k1, step);
        s.evaluations += kStages - 1;
        const double err = scaled_norm(next.error, s.y, next.y, rtol, atol);
        const double factor = !std::isfinite(err) ? kMinFactor
                              : err == 0.0        ? kMaxFactor
                                                  : kSafety * std::pow(err, -kOrderExponent);
        if (err <= 1.0) {
            t = last ? t1 : t + step;
            s.y = std::move(next.y);
            k1 = std::move(next.f_end);
            ++s.accepted;
            h = std::abs(step) * std::clamp(factor, kMinFactor, after_rejection ? 1.0 : kMaxFactor);
            after_rejection = false;
            if (options.progress) options.progress(t, s.evaluations);
        } else {
            ++s.rejected;
            after_rejection = true;
            h = std::abs(step) * std::max(kMinFactor, factor);
            VDM_CHECK(h > 1e-12 * std::max(1.0, std::abs(t)), "ode: the step size fell to ", h,
                      " at t = ", t, " (error ", err, "); is f finite there?");
        }
    }
    for (const Var& v : s.y) require_finite(v.value(), "ode: y(t1)");
    return s;
}

}  // namespace vdm
