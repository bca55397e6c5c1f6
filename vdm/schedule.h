// Noise schedules gamma(t), the negative log-SNR, monotone increasing on [0, 1]
// (docs/vdm.md#schedules). Both give gamma(t) and its derivative gamma'(t) in
// closed form built from ordinary ops, so the continuous-time loss, which needs
// gamma', stays differentiable with respect to the schedule's parameters.
//
//   linear:  gamma(t) = gamma_min + (gamma_max - gamma_min) t             (fixed)
//   learned: gamma(t) = gamma_0 + (gamma_1 - gamma_0) g~(t),
//            g~(t) = (g(t) - g(0)) / (g(1) - g(0)),
//            g(t) = |w1| t + mean_k |w3_k| sigmoid(|w2_k| t + b2_k)
//   ddpm:    DDPM's T linear betas (1e-4 .. 0.02) as gamma at T grid points
//            t_k = k / (T - 1), gamma(t_k) = log((1 - abar_{k+1}) / abar_{k+1}),
//            linear in t between them (docs/vdm.md#ddpm-as-a-special-case)  (fixed)
// The learned g is monotone because every weight enters through abs(); the
// endpoints gamma_0, gamma_1 are two scalar parameters and g~ only sets the shape.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "nn/module.h"

namespace vdm {

// Which parameters a schedule evaluation lets gradients reach (learned schedule):
// the bound trains the endpoints, the estimator's variance trains the shape.
enum class ScheduleGrad { All, Endpoints, Shape };

class Schedule : public Module {
public:
    // t (B) constant times in [0, 1], on any device -> (B) on the schedule's device.
    virtual Var gamma(const Tensor& t, ScheduleGrad grad = ScheduleGrad::All) const = 0;
    virtual Var gamma_prime(const Tensor& t, ScheduleGrad grad = ScheduleGrad::All) const = 0;
    // gamma(0) and gamma(1) as one-element Vars of shape (1).
    virtual Var gamma_0() const = 0;
    virtual Var gamma_1() const = 0;
    virtual bool learned() const = 0;
    // A schedule given at grid points t_k = k / N, k = 0..N: N (the discrete loss then
    // has these N steps); 0 for a schedule defined at every t.
    virtual int64_t grid_steps() const { return 0; }
};

class LinearSchedule : public Schedule {
public:
    LinearSchedule(double gamma_min, double gamma_max, DType dtype);
    Var gamma(const Tensor& t, ScheduleGrad grad = ScheduleGrad::All) const override;
    Var gamma_prime(const Tensor& t, ScheduleGrad grad = ScheduleGrad::All) const override;
    Var gamma_0() const override;
    Var gamma_1() const override;
    bool learned() const override { return false; }

private:
    double gamma_min_, gamma_max_;
    DType dtype_;
};

class LearnedSchedule : public Schedule {
public:
    // Starts at the linear schedule's endpoints with a near-linear shape; width is
    // the number of sigmoid units k.
    LearnedSchedule(double gamma_min, double gamma_max, int64_t width, DType dtype, Rng& rng);
    Var gamma(const Tensor& t, ScheduleGrad grad = ScheduleGrad::All) const override;
    Var gamma_prime(const Tensor& t, ScheduleGrad grad = ScheduleGrad::All) const override;
    Var gamma_0() const override { return gamma0; }
    Var gamma_1() const override { return gamma1; }
    bool learned() const override { return true; }

    // g(t) and g'(t) of the unnormalized monotone network, t (B) -> (B).
    Var g(const Var& t) const;
    Var g_prime(const Var& t) const;

    Var gamma0, gamma1;  // endpoints, shape (1)
    Var w1;              // (1)
    Var w2, b2, w3;      // (1, width)

private:
    // g~ pieces with gradients reaching the shape (when with_grad) or nothing.
    struct Normalized {
        Var value, slope;  // g~(t) and g~'(t), both (B)
    };
    Normalized normalized(const Tensor& t, bool with_grad, bool need_value, bool need_slope) const;
    // gamma_0 and gamma_1 - gamma_0, detached unless with_grad.
    std::pair<Var, Var> endpoints(bool with_grad) const;
};

// DDPM's schedule: T betas linear from beta_1 to beta_T, abar_i = prod_{j<=i} (1 - beta_j)
// (log1p sums), and gamma_i = log((1 - abar_i) / abar_i) at the grid points
// t = (i - 1) / (T - 1): x_1, DDPM's first latent, is our z_0 (the decoder reads it),
// x_T is z_1, so the T - 1 reverse steps between them are the discrete loss's steps.
// Between grid points gamma is linear in t (monotone, continuous), gamma' constant.
// No parameters.
class DdpmSchedule : public Schedule {
public:
    static constexpr double kBetaFirst = 1e-4, kBetaLast = 0.02;

    DdpmSchedule(int64_t T, DType dtype);
    Var gamma(const Tensor& t, ScheduleGrad grad = ScheduleGrad::All) const override;
    Var gamma_prime(const Tensor& t, ScheduleGrad grad = ScheduleGrad::All) const override;
    Var gamma_0() const override;
    Var gamma_1() const override;
    bool learned() const override { return false; }
    int64_t grid_steps() const override { return int64_t(grid_.size()) - 1; }

    // gamma at the T grid points, in double: grid()[k] = gamma(k / (T - 1)).
    const std::vector<double>& grid() const { return grid_; }

private:
    // One piece of the interpolation per time: the grid interval k and the fraction
    // u in [0, 1] of the way through it.
    template <typename F>
    Var evaluate(const Tensor& t, F&& piece) const;
    std::vector<double> grid_;
    DType dtype_;
};

// gamma_i = log((1 - abar_i) / abar_i), i = 1..T, of T betas linear from beta_first to
// beta_last, in double; log abar_i = sum_{j<=i} log1p(-beta_j).
std::vector<double> ddpm_gammas(int64_t T, double beta_first = DdpmSchedule::kBetaFirst,
                                double beta_last = DdpmSchedule::kBetaLast);

// kind: linear | learned | ddpm. gamma_min, gamma_max: the linear schedule, the learned
// one's start; width: the learned one's sigmoid units; T: the ddpm schedule's betas.
std::unique_ptr<Schedule> make_schedule(const std::string& kind, double gamma_min,
                                        double gamma_max, int64_t width, DType dtype, Rng& rng,
                                        int64_t T = 1000);

}  // namespace vdm
