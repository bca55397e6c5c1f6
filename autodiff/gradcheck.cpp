#include "autodiff/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "tensor/backend.h"
#include "tensor/rng.h"

namespace vdm {

double relative_error(double analytic, double numeric, double floor) {
    double scale = std::max({std::abs(analytic), std::abs(numeric), floor});
    return std::abs(analytic - numeric) / scale;
}

namespace {

// sum_k w_k (f(x+)_k - f(x-)_k) / (2h) for input `which`, element `j`, step h.
double central_difference(const GradCheckFn& f, const std::vector<Var>& vars, size_t which, int64_t j,
                          double h, const std::vector<double>& w) {
    double* x = vars[which].data()->value.data<double>();
    const double saved = x[j];
    x[j] = saved + h;
    std::vector<double> plus = f(vars).value().to_vector();
    x[j] = saved - h;
    std::vector<double> minus = f(vars).value().to_vector();
    x[j] = saved;
    double acc = 0.0;
    for (size_t k = 0; k < w.size(); ++k) acc += w[k] * (plus[k] - minus[k]);
    return acc / (2.0 * h);
}

}  // namespace

GradCheckResult gradcheck(const GradCheckFn& f, const std::vector<Tensor>& inputs,
                          double tolerance, double step, uint64_t seed) {
    std::vector<Var> vars;
    for (const Tensor& t : inputs) vars.emplace_back(t.clone(), true);
    return gradcheck_leaves(f, vars, tolerance, step, seed);
}

GradCheckResult gradcheck_leaves(const GradCheckFn& f, const std::vector<Var>& vars,
                                 double tolerance, double step, uint64_t seed,
                                 int64_t elements_per_leaf, double error_floor) {
    for (const Var& v : vars)
        VDM_CHECK(v.dtype() == DType::F64 && v.device() == Device::CPU && v.requires_grad() &&
                      v.is_leaf(),
                  "gradcheck: inputs must be f64 CPU leaves that require grad, got ",
                  v.value().desc());
    for (const Var& v : vars) v.zero_grad();

    // Analytic: backward with seed w gives d(sum w * f)/dx.
    Var out = f(vars);
    Tensor w = Tensor::empty(out.shape(), DType::F64);
    backend_for(Device::CPU).fill_normal(w, seed, 0);
    out.backward(w);
    const std::vector<double> weights = w.to_vector();

    GradCheckResult result;
    NoGradGuard no_grad;
    Rng pick(seed + 1);
    for (size_t i = 0; i < vars.size(); ++i) {
        VDM_CHECK(vars[i].grad().defined(), "gradcheck: input ", i, " received no gradient");
        std::vector<double> analytic = vars[i].grad().to_vector();
        const int64_t n = vars[i].numel();
        std::vector<int64_t> elements;
        for (int64_t j = 0; j < n; ++j) elements.push_back(j);
        if (elements_per_leaf > 0 && elements_per_leaf < n) {
            elements = random_permutation(n, pick);
            elements.resize(size_t(elements_per_leaf));
        }
        for (int64_t j : elements) {
            // Richardson extrapolation over steps h, h/2, h/4: the central difference's
            // error is a series in h^2, h^4, ...; each level cancels the leading term.
            double d1 = central_difference(f, vars, i, j, step, weights);
            double d2 = central_difference(f, vars, i, j, step / 2, weights);
            double d4 = central_difference(f, vars, i, j, step / 4, weights);
            double r1 = (4.0 * d2 - d1) / 3.0, r2 = (4.0 * d4 - d2) / 3.0;  // O(h^4)
            double numeric = (16.0 * r2 - r1) / 15.0;                        // O(h^6)
            double err = relative_error(analytic[size_t(j)], numeric, error_floor);
            if (err > result.max_rel_error || std::isnan(err)) {
                result.max_rel_error = std::isnan(err) ? INFINITY : err;
                std::ostringstream os;
                os.precision(12);
                os << "input " << i << " element " << j << ": analytic " << analytic[size_t(j)]
                   << " numeric " << numeric;
                result.worst = os.str();
            }
        }
    }
    result.passed = result.max_rel_error <= tolerance;
    return result;
}

}  // namespace vdm
