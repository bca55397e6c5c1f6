// The CUDA test harness: skipping cleanly without a GPU, and comparing two backends
// kernel by kernel on the same inputs (tests/test_cuda_parity.cpp, test_cuda_model.cpp).
//
// compare_backends(name, bound, run, reference, candidate) calls run(backend, device)
// once per side. run copies the same CPU inputs to its device (input_on), allocates
// its outputs poisoned with NaN (poisoned), calls the kernel and returns the outputs
// by name. Each output is then measured as
//     rel = ||candidate - reference|| / ||reference||      (over elements finite on both)
// and must stay within `bound`, with no element finite on one side and not on the
// other: a NaN left on the candidate is an element its kernel never wrote, a finite
// value where the reference kept the poison is a write outside the output's slice.
// The two sides are any two backends, so a deliberately wrong CPU backend shows that
// the harness catches a wrong kernel (tests/test_cuda_parity.cpp, "parity harness").
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace vdm::test {

// Whether the CUDA tests can run here. The first time the answer is no it prints the
// one line "CUDA tests skipped: <why>" (so `make test` says why they are skipped).
// The CUDA test cases are declared `* test::needs_gpu()` (below) and their
// names start with "cuda", so `run_tests -tc='cuda*'` selects all of them.
inline bool gpu_ready() {
    static const bool ready = [] {
        std::string why;
        const bool ok = cuda_available(&why);
        if (!ok) {
            std::printf("CUDA tests skipped: %s\n", why.c_str());
            std::fflush(stdout);
        }
        return ok;
    }();
    return ready;
}

// The decorator of every CUDA test case: skipped, and counted as skipped, without a GPU.
inline doctest::skip needs_gpu() { return doctest::skip(!gpu_ready()); }

// One side of a comparison: the backend that runs the kernels, and the device its
// inputs and outputs live on.
struct BackendOn {
    Backend& backend;
    Device device;
};

// An output of one run, named for the failure message ("dx", "mean").
struct Output {
    std::string name;
    Tensor value;
};
using Outputs = std::vector<Output>;
using ParityRun = std::function<Outputs(Backend&, Device)>;

// A copy of a CPU input on `device`; always a copy, so a kernel that updates its
// arguments in place (accumulate, adamw_update) starts from the same values on both sides.
inline Tensor input_on(const Tensor& t, Device device) {
    return device == t.device() ? t.clone() : t.to(device);
}

// The value a fresh output holds before the kernel runs: NaN, or for I32 the most
// negative integer (no conversion in the tests produces it).
inline double poison_value(DType dtype) {
    return dtype == DType::I32 ? double(std::numeric_limits<int32_t>::min())
                               : std::numeric_limits<double>::quiet_NaN();
}

// An output buffer on `device`, poisoned on the host and copied over, so the poison
// does not depend on the fill kernel under test.
inline Tensor poisoned(const Shape& shape, DType dtype, Device device) {
    return Tensor::full(shape, poison_value(dtype), dtype, Device::CPU).to(device);
}

// The error of one output (see the file comment).
struct OutputError {
    std::string name;
    double rel = 0.0;
    double reference_norm = 0.0;
    int64_t numel = 0;
    // Elements finite on one side only, and the first of them.
    int64_t finite_mismatches = 0;
    int64_t first_mismatch = -1;
    double reference_at_first = 0.0, candidate_at_first = 0.0;
    std::string problem;  // set when the outputs cannot be compared (shape, dtype)
};

inline OutputError measure_output(const Output& reference, const Output& candidate) {
    OutputError e;
    e.name = reference.name;
    const Tensor &ref = reference.value, &cand = candidate.value;
    if (reference.name != candidate.name || ref.shape() != cand.shape() ||
        ref.dtype() != cand.dtype()) {
        e.problem = "reference " + reference.name + " " + ref.desc() + " vs candidate " +
                    candidate.name + " " + cand.desc();
        return e;
    }
    const std::vector<double> r = ref.to_vector(), c = cand.to_vector();
    const bool is_int = ref.dtype() == DType::I32;
    const double poison = poison_value(DType::I32);
    e.numel = int64_t(r.size());
    double diff_sq = 0.0, ref_sq = 0.0;
    for (size_t i = 0; i < r.size(); ++i) {
        // An I32 element is "non-finite" when it still holds the poison.
        const bool rf = is_int ? r[i] != poison : std::isfinite(r[i]);
        const bool cf = is_int ? c[i] != poison : std::isfinite(c[i]);
        if (rf != cf) {
            if (e.finite_mismatches++ == 0) {
                e.first_mismatch = int64_t(i);
                e.reference_at_first = r[i];
                e.candidate_at_first = c[i];
            }
            continue;
        }
        if (!rf) continue;  // poison kept on both sides (outside a slice), or a true NaN
        diff_sq += (c[i] - r[i]) * (c[i] - r[i]);
        ref_sq += r[i] * r[i];
    }
    e.reference_norm = std::sqrt(ref_sq);
    // An all-zero reference (a gradient that vanishes) is measured absolutely.
    e.rel = ref_sq > 0.0 ? std::sqrt(diff_sq / ref_sq) : std::sqrt(diff_sq);
    return e;
}

// The outcome of one comparison: every output's error against one bound.
struct ParityReport {
    std::string name;
    double bound = 0.0;
    std::vector<OutputError> outputs;
    std::string problem;  // the runs returned different outputs

    static bool ok(const OutputError& e, double bound) {
        return e.problem.empty() && e.finite_mismatches == 0 && e.rel <= bound;
    }
    bool passed() const {
        if (!problem.empty()) return false;
        for (const OutputError& e : outputs)
            if (!ok(e, bound)) return false;
        return true;
    }
    // The output that fails (or comes closest to failing): failures first, then the
    // largest rel.
    const OutputError* worst() const {
        const OutputError* w = nullptr;
        auto badness = [&](const OutputError& e) { return std::make_pair(!ok(e, bound), e.rel); };
        for (const OutputError& e : outputs)
            if (!w || badness(e) > badness(*w)) w = &e;
        return w;
    }
    // "sum_to_shape f32 (3, 17) -> (1, 17): out rel 2.1e-08 (bound 1e-05), ..."
    std::string summary() const {
        std::ostringstream s;
        s << name << ": ";
        if (!problem.empty()) return s.str() + problem;
        const OutputError* w = worst();
        if (!w) return s.str() + "no outputs";
        s.precision(3);
        s << (passed() ? "worst output " : "FAILED at output ") << w->name;
        if (!w->problem.empty()) return s.str() + ": " + w->problem;
        s << " rel " << w->rel << " (bound " << bound << ", |reference| " << w->reference_norm
          << ", " << w->numel << " elements)";
        if (w->finite_mismatches > 0)
            s << "; " << w->finite_mismatches << " elements finite on one side only, first at "
              << w->first_mismatch << ": reference " << w->reference_at_first << ", candidate "
              << w->candidate_at_first << " (NaN on the candidate: never written)";
        return s.str();
    }
};

// Runs `run` on both sides and measures every output of the candidate against the
// reference's.
inline ParityReport compare_backends(const std::string& name, double bound, const ParityRun& run,
                                     BackendOn reference, BackendOn candidate) {
    ParityReport report;
    report.name = name;
    report.bound = bound;
    const Outputs ref = run(reference.backend, reference.device);
    const Outputs cand = run(candidate.backend, candidate.device);
    if (ref.size() != cand.size()) {
        report.problem = "reference returned " + std::to_string(ref.size()) +
                         " outputs, candidate " + std::to_string(cand.size());
        return report;
    }
    for (size_t i = 0; i < ref.size(); ++i)
        report.outputs.push_back(measure_output(ref[i], cand[i]));
    return report;
}

// The CUDA backend against the CPU backend (needs a GPU).
inline ParityReport compare_cuda_to_cpu(const std::string& name, double bound,
                                        const ParityRun& run) {
    return compare_backends(name, bound, run, {backend_for(Device::CPU), Device::CPU},
                            {backend_for(Device::CUDA), Device::CUDA});
}

// Checks each report of one test case and, at the end, prints the case that came
// closest to its bound (the margin a real GPU leaves).
class ParityTally {
public:
    explicit ParityTally(std::string family) : family_(std::move(family)) {}

    void check(const ParityReport& report) {
        CHECK_MESSAGE(report.passed(), report.summary());
        ++cases_;
        const OutputError* w = report.worst();
        // rel / bound; an exact comparison that is off at all counts as infinitely close.
        double margin = 0.0;
        if (w && w->rel > 0.0)
            margin = report.bound > 0.0 ? w->rel / report.bound
                                        : std::numeric_limits<double>::infinity();
        if (cases_ == 1 || margin > closest_margin_) {
            closest_margin_ = margin;
            closest_ = report.summary();
        }
    }
    void expect(const std::string& name, double bound, const ParityRun& run) {
        check(compare_cuda_to_cpu(name, bound, run));
    }
    void print_closest() const {
        MESSAGE(family_ << ": " << cases_ << " comparisons; closest to its bound: " << closest_);
    }

private:
    std::string family_;
    int cases_ = 0;
    double closest_margin_ = 0.0;
    std::string closest_;
};

// --- bounds on rel, by where the two backends may legitimately differ
// Bit-identical: copies, fills, conversions, counter-based random bits, one IEEE add.
constexpr double kExact = 0.0;
// A few roundings per element: libm versus CUDA's math library (exp, log, sin: within
// 2 ulp), and nvcc contracting a * b + c into one fused multiply-add where g++ does not.
inline double elementwise_bound(DType dtype) { return dtype == DType::F32 ? 1e-6 : 1e-14; }
// A sum of n terms accumulated in the working precision (matrix products, conv): each
// side's rounding error grows like eps sqrt(n) for terms of random sign, and the two
// sides add in different orders (cuBLAS tiles vs the CPU's packed panels), so
//     bound = max(1e-5 f32 / 1e-12 f64, 4 eps sqrt(n)),
// e.g. 5.3e-5 for a conv weight gradient summed over 64 * 784 pixels in f32 (naive
// sequential sums on both sides would differ by ~0.3 eps sqrt(n)).
inline double sum_bound(DType dtype, int64_t n) {
    const double eps = dtype == DType::F32 ? 0x1p-24 : 0x1p-53;
    return std::max(dtype == DType::F32 ? 1e-5 : 1e-12, 4.0 * eps * std::sqrt(double(n)));
}
// A reduction along an axis (sum_to_shape, group norm statistics, softmax sums): the
// CPU accumulates in double, the GPU in a fixed tree whose partial sums may be in the
// working precision (rounding ~ eps log2(n)); the spec's default bound covers both.
inline double reduction_bound(DType dtype) { return dtype == DType::F32 ? 1e-5 : 1e-12; }

}  // namespace vdm::test
