// Gradient check: compares reverse-mode gradients with central finite differences.
//
// f maps input Vars to an output Var of any shape. The check projects the output
// on fixed random weights w, L = sum(w * f(x)), and compares dL/dx from backward()
// with (L(x + h e_j) - L(x - h e_j)) / 2h, Richardson-extrapolated from steps h, h/2
// and h/4 so the truncation error is O(h^6). That lets h be large (2e-2), which keeps
// round-off small: it matters for gradient entries far smaller than the outputs (a
// 256-way log-softmax entry of 1e-6). The difference is taken element by element of
// the output before summing, so round-off stays at the size of the changed outputs.
// Run it in float64: in float32 the finite differences themselves are too coarse.
// Inputs must stay at least 3h away from any kink or domain edge (abs at 0, log at 0).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autodiff/variable.h"

namespace vdm {

struct GradCheckResult {
    double max_rel_error = 0.0;  // max over all input elements
    std::string worst;           // "input 1 element 7: analytic 0.5 numeric 0.25"
    bool passed = false;
};

using GradCheckFn = std::function<Var(const std::vector<Var>&)>;

// Relative error |a - n| / max(|a|, |n|, floor). The floor keeps an element whose
// true gradient is zero from dividing round-off by zero.
double relative_error(double analytic, double numeric, double floor = 1e-8);

// inputs: the F64 CPU values at which to check; every one gets a gradient.
GradCheckResult gradcheck(const GradCheckFn& f, const std::vector<Tensor>& inputs,
                          double tolerance = 1e-6, double step = 2e-2, uint64_t seed = 1234);

// The same check on leaves that already exist (a model's parameters): f is called
// with `leaves` and may reach them any way it likes (e.g. through the modules that
// hold them). Leaves must be F64 and require gradients; their values are perturbed
// in place and restored. elements_per_leaf > 0 checks that many elements of each
// leaf, chosen at random from the seed; 0 checks every element. error_floor is the
// relative_error floor: raise it above 1e-8 only when f's value is large enough that
// round-off in f (about 1e-16 |f| / step) exceeds 1e-8 for a gradient that is zero.
GradCheckResult gradcheck_leaves(const GradCheckFn& f, const std::vector<Var>& leaves,
                                 double tolerance = 1e-6, double step = 2e-2, uint64_t seed = 1234,
                                 int64_t elements_per_leaf = 0, double error_floor = 1e-8);

}  // namespace vdm
