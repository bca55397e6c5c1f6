// Gradient check: compares reverse-mode gradients with central finite differences.
//
// f maps input Vars to an output Var of any shape. The check projects the output
// on fixed random weights w, L = sum(w * f(x)), and compares dL/dx from backward()
// with (L(x + h e_j) - L(x - h e_j)) / 2h, Richardson-extrapolated from steps h and
// h/2 so the truncation error is O(h^4). The difference is taken element by element
// of the output before summing, so round-off stays at the size of the changed outputs.
// Run it in float64: in float32 the finite differences themselves are too coarse.
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
                          double tolerance = 1e-6, double step = 3e-3, uint64_t seed = 1234);

}  // namespace vdm
