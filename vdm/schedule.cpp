// Linear, learned and DDPM noise schedules, with closed-form gamma'(t).
#include "vdm/schedule.h"

#include <algorithm>
#include <cmath>

#include "tensor/backend.h"

namespace vdm {

namespace {

Var constant(const Var& v) { return Var(v.value()); }  // same value, no gradient path

}  // namespace

LinearSchedule::LinearSchedule(double gamma_min, double gamma_max, DType dtype)
    : gamma_min_(gamma_min), gamma_max_(gamma_max), dtype_(dtype) {
    VDM_CHECK(gamma_max > gamma_min, "linear schedule: gamma_max ", gamma_max,
              " must exceed gamma_min ", gamma_min);
}

Var LinearSchedule::gamma(const Tensor& t, ScheduleGrad) const {
    return affine(Var(t.to(dtype_).to(device())), gamma_max_ - gamma_min_, gamma_min_);
}

Var LinearSchedule::gamma_prime(const Tensor& t, ScheduleGrad) const {
    return Var(Tensor::full(t.shape(), gamma_max_ - gamma_min_, dtype_, device()));
}

Var LinearSchedule::gamma_0() const {
    return Var(Tensor::full(Shape{1}, gamma_min_, dtype_, device()));
}
Var LinearSchedule::gamma_1() const {
    return Var(Tensor::full(Shape{1}, gamma_max_, dtype_, device()));
}

LearnedSchedule::LearnedSchedule(double gamma_min, double gamma_max, int64_t width, DType dtype,
                                 Rng& rng) {
    VDM_CHECK(gamma_max > gamma_min, "learned schedule: gamma_max ", gamma_max,
              " must exceed gamma_min ", gamma_min);
    VDM_CHECK(width >= 1, "learned schedule: width ", width, " must be positive");
    gamma0 = add_parameter("gamma0", Tensor::full(Shape{1}, gamma_min, dtype));
    gamma1 = add_parameter("gamma1", Tensor::full(Shape{1}, gamma_max, dtype));
    // Near-linear start: the linear part has slope 1, the sigmoid part adds 10% of
    // bumps with centres spread over [0, 1].
    w1 = add_parameter("w1", Tensor::full(Shape{1}, 1.0, dtype));
    w2 = add_parameter("w2", init_normal(Shape{1, width}, 1, 10.0, dtype, rng));
    Tensor centres = init_normal(Shape{1, width}, 1, 1.0, dtype, rng);
    Backend& be = backend_for(Device::CPU);
    be.unary_forward(UnaryOp::Sigmoid, centres, centres);  // in (0, 1)
    Tensor b2_init = Tensor::empty(Shape{1, width}, dtype);
    be.unary_forward(UnaryOp::Abs, w2.value(), b2_init);
    be.binary_forward(BinaryOp::Mul, b2_init, centres, b2_init);
    be.affine(b2_init, -1.0, 0.0, b2_init);  // b2 = -|w2| c: the bump of unit k is at t = c_k
    b2 = add_parameter("b2", b2_init);
    w3 = add_parameter("w3", Tensor::full(Shape{1, width}, 0.1, dtype));
}

Var LearnedSchedule::g(const Var& t) const {
    Var s = sigmoid(reshape(t, Shape{t.dim(0), 1}) * abs(w2) + b2);  // (B, K)
    return abs(w1) * t + mean(s * abs(w3), {1});
}

Var LearnedSchedule::g_prime(const Var& t) const {
    Var s = sigmoid(reshape(t, Shape{t.dim(0), 1}) * abs(w2) + b2);  // (B, K)
    return abs(w1) + mean(s * affine(s, -1.0, 1.0) * abs(w2) * abs(w3), {1});  // s' = s (1 - s)
}

LearnedSchedule::Normalized LearnedSchedule::normalized(const Tensor& t, bool with_grad,
                                                        bool need_value, bool need_slope) const {
    std::unique_ptr<NoGradGuard> no_grad = with_grad ? nullptr : std::make_unique<NoGradGuard>();
    const DType dtype = gamma0.dtype();
    Var g_at_0 = g(Var(Tensor::zeros(Shape{1}, dtype, device())));
    Var range = g(Var(Tensor::full(Shape{1}, 1.0, dtype, device()))) - g_at_0;  // g(1) - g(0) > 0
    Normalized out;
    Var tv(t.to(dtype).to(device()));
    if (need_value) out.value = (g(tv) - g_at_0) / range;
    if (need_slope) out.slope = g_prime(tv) / range;
    return out;
}

std::pair<Var, Var> LearnedSchedule::endpoints(bool with_grad) const {
    Var lo = with_grad ? gamma0 : constant(gamma0), hi = with_grad ? gamma1 : constant(gamma1);
    return {lo, hi - lo};
}

Var LearnedSchedule::gamma(const Tensor& t, ScheduleGrad grad) const {
    auto [lo, span] = endpoints(grad != ScheduleGrad::Shape);
    Normalized n = normalized(t, grad != ScheduleGrad::Endpoints, true, false);
    return lo + span * n.value;
}

Var LearnedSchedule::gamma_prime(const Tensor& t, ScheduleGrad grad) const {
    auto [lo, span] = endpoints(grad != ScheduleGrad::Shape);
    Normalized n = normalized(t, grad != ScheduleGrad::Endpoints, false, true);
    return span * n.slope;
}

std::vector<double> ddpm_gammas(int64_t T, double beta_first, double beta_last) {
    VDM_CHECK(T >= 2, "ddpm schedule: T = ", T, " must be at least 2 (x_1 is z_0, x_T is z_1)");
    VDM_CHECK(beta_first > 0.0 && beta_last > beta_first && beta_last < 1.0,
              "ddpm schedule: betas ", beta_first, " .. ", beta_last, " must rise inside (0, 1)");
    std::vector<double> gammas(size_t(T), 0.0);
    double log_abar = 0.0;  // log abar_i = sum_j log1p(-beta_j): no product of 1000 factors near 1
    for (int64_t i = 1; i <= T; ++i) {
        const double beta = beta_first + (beta_last - beta_first) * double(i - 1) / double(T - 1);
        log_abar += std::log1p(-beta);
        // log((1 - abar) / abar), with 1 - abar = -expm1(log abar) exact for abar near 1
        gammas[size_t(i - 1)] = std::log(-std::expm1(log_abar)) - log_abar;
    }
    return gammas;
}

DdpmSchedule::DdpmSchedule(int64_t T, DType dtype) : grid_(ddpm_gammas(T)), dtype_(dtype) {}

template <typename F>
Var DdpmSchedule::evaluate(const Tensor& t, F&& piece) const {
    // B numbers: computed on the host, returned on the schedule's device.
    const std::vector<double> times = t.to_vector();
    const int64_t N = grid_steps();
    Tensor out = Tensor::empty(t.shape(), DType::F64);
    for (size_t b = 0; b < times.size(); ++b) {
        const double time = times[b];
        VDM_CHECK(time >= -1e-12 && time <= 1.0 + 1e-12, "ddpm schedule: t = ", time,
                  " is outside [0, 1]");
        double u = std::clamp(time, 0.0, 1.0) * double(N);
        if (std::abs(u - std::round(u)) < 1e-9) u = std::round(u);  // a grid point, exactly
        const int64_t k = std::min<int64_t>(int64_t(std::floor(u)), N - 1);  // interval [k, k + 1]
        out.data<double>()[b] = piece(k, u - double(k));
    }
    return Var(out.to(dtype_).to(device()));
}

Var DdpmSchedule::gamma(const Tensor& t, ScheduleGrad) const {
    return evaluate(t, [&](int64_t k, double u) {
        const double lo = grid_[size_t(k)], hi = grid_[size_t(k + 1)];
        return u == 0.0 ? lo : u == 1.0 ? hi : lo + u * (hi - lo);  // grid points exactly
    });
}

Var DdpmSchedule::gamma_prime(const Tensor& t, ScheduleGrad) const {
    const double N = double(grid_steps());
    return evaluate(t, [&](int64_t k, double) { return (grid_[size_t(k + 1)] - grid_[size_t(k)]) * N; });
}

Var DdpmSchedule::gamma_0() const { return Var(Tensor::full(Shape{1}, grid_.front(), dtype_, device())); }
Var DdpmSchedule::gamma_1() const { return Var(Tensor::full(Shape{1}, grid_.back(), dtype_, device())); }

std::unique_ptr<Schedule> make_schedule(const std::string& kind, double gamma_min,
                                        double gamma_max, int64_t width, DType dtype, Rng& rng,
                                        int64_t T) {
    if (kind == "linear") return std::make_unique<LinearSchedule>(gamma_min, gamma_max, dtype);
    if (kind == "learned")
        return std::make_unique<LearnedSchedule>(gamma_min, gamma_max, width, dtype, rng);
    if (kind == "ddpm") return std::make_unique<DdpmSchedule>(T, dtype);
    fail("unknown schedule '", kind, "' (linear, learned or ddpm)");
}

}  // namespace vdm
