// Noise schedules gamma(t), the negative log-SNR, monotone increasing on [0, 1]
// (docs/vdm.md#schedules). Both give gamma(t) and its derivative gamma'(t) in
// closed form built from ordinary ops, so the continuous-time loss, which needs
// gamma', stays differentiable with respect to the schedule's parameters.
//
//   linear:  gamma(t) = gamma_min + (gamma_max - gamma_min) t             (fixed)
//   learned: gamma(t) = gamma_0 + (gamma_1 - gamma_0) g~(t),
//            g~(t) = (g(t) - g(0)) / (g(1) - g(0)),
//            g(t) = |w1| t + mean_k |w3_k| sigmoid(|w2_k| t + b2_k)
// The learned g is monotone because every weight enters through abs(); the
// endpoints gamma_0, gamma_1 are two scalar parameters and g~ only sets the shape.
#pragma once
#include <memory>
#include <string>

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

std::unique_ptr<Schedule> make_schedule(const std::string& kind, double gamma_min,
                                        double gamma_max, int64_t width, DType dtype, Rng& rng);

}  // namespace vdm
