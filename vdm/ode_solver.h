// An adaptive embedded Runge-Kutta integrator, Dormand-Prince 5(4)
// (docs/vdm.md#adaptive-runge-kutta), for dy/dt = f(t, y) from t0 to t1 (either
// direction). The state y is a list of tensors (the probability-flow ODE carries the
// latent z and, for the likelihood, the accumulated log-density beside it); every
// update is a Var op, so it runs on the state's device.
//
// Each step takes seven stages; the last is f at the new point, which is the next
// step's first (FSAL), so an accepted step costs six evaluations of f. The
// difference of the fifth- and fourth-order solutions estimates the step's error; per
// tensor its size is the RMS of error / (atol + rtol max(|y_n|, |y_n+1|)), and the
// step is accepted when the largest of those is <= 1. The next step size is
// h (0.9 / err^(1/5)), kept within [0.2 h, 10 h] (and not grown right after a
// rejection). The first step size is chosen from f(t0, y0) by the usual rule
// (Hairer, Norsett, Wanner, "Solving ODEs I", II.4), at the cost of one more evaluation.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "autodiff/ops.h"

namespace vdm {

// A point of the ODE's state space: a list of tensors, as Vars without gradient.
using OdeState = std::vector<Var>;
// dy/dt = f(t, y): a list of the state's shapes in, the same shapes out.
using OdeFunction = std::function<OdeState(double t, const OdeState& y)>;

struct OdeOptions {
    double rtol = 1e-5, atol = 1e-5;  // both > 0
    int64_t max_evaluations = 10000;  // of f; reaching it is an error
    // Called after each accepted step with the time reached and the evaluations so
    // far; may be empty.
    std::function<void(double t, int64_t evaluations)> progress;
};

struct OdeSolution {
    OdeState y;               // y(t1)
    int64_t evaluations = 0;  // calls of f
    int64_t accepted = 0, rejected = 0;
};

// y(t1) for y(t0) = y0. Errors (one line): a tolerance <= 0 or not finite, more than
// max_evaluations, a step size that shrinks to nothing (f not finite, say), or a
// non-finite y(t1).
OdeSolution solve_ode(const OdeFunction& f, double t0, double t1, const OdeState& y0,
                      const OdeOptions& options);

// One Dormand-Prince step of size h (negative to go back in time) from y at t,
// given k1 = f(t, y).
struct DormandPrinceStep {
    OdeState y;      // the fifth-order solution at t + h
    OdeState error;  // fifth- minus fourth-order solution: the local error estimate
    OdeState f_end;  // f(t + h, y): the next step's k1
};
DormandPrinceStep dormand_prince_step(const OdeFunction& f, double t, const OdeState& y,
                                      const OdeState& k1, double h);

}  // namespace vdm
