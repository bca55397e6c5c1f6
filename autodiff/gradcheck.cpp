#include "autodiff/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "tensor/backend.h"

namespace vdm {

double relative_error(double analytic, double numeric, double floor) {
    double scale = std::max({std::abs(analytic), std::abs(numeric), floor});
    return std::abs(analytic - numeric) / scale;
}

namespace {

// sum_k w_k (f(x+)_k - f(x-)_k) / (2h) for input `which`, element `j`, step h.
double central_difference(const GradCheckFn& f, std::vector<Var>& vars, size_t which, int64_t j,
                          double h, const std::vector<double>& w) {
    double* x = vars[which].value().data<double>();
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
    for (const Tensor& t : inputs) {
        VDM_CHECK(t.dtype() == DType::F64 && t.device() == Device::CPU,
                  "gradcheck: inputs must be f64 CPU tensors, got ", t.desc());
        vars.emplace_back(t.clone(), true);
    }

    // Analytic: backward with seed w gives d(sum w * f)/dx.
    Var out = f(vars);
    Tensor w = Tensor::empty(out.shape(), DType::F64);
    backend_for(Device::CPU).fill_normal(w, seed, 0);
    out.backward(w);
    const std::vector<double> weights = w.to_vector();

    GradCheckResult result;
    NoGradGuard no_grad;
    for (size_t i = 0; i < vars.size(); ++i) {
        VDM_CHECK(vars[i].grad().defined(), "gradcheck: input ", i, " received no gradient");
        std::vector<double> analytic = vars[i].grad().to_vector();
        for (int64_t j = 0; j < vars[i].numel(); ++j) {
            // Richardson extrapolation over steps h, h/2, h/4: the central difference's
            // error is a series in h^2, h^4, ...; each level cancels the leading term.
            double d1 = central_difference(f, vars, i, j, step, weights);
            double d2 = central_difference(f, vars, i, j, step / 2, weights);
            double d4 = central_difference(f, vars, i, j, step / 4, weights);
            double r1 = (4.0 * d2 - d1) / 3.0, r2 = (4.0 * d4 - d2) / 3.0;  // O(h^4)
            double numeric = (16.0 * r2 - r1) / 15.0;                        // O(h^6)
            double err = relative_error(analytic[size_t(j)], numeric);
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
