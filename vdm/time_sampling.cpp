// Antithetic times and their discrete steps.
#include "vdm/time_sampling.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace vdm {

Tensor antithetic_times(const BatchShare& share, double u) {
    VDM_CHECK(share.batch >= 1 && share.rows >= 1 && share.begin >= 0 && share.begin + share.rows <= share.batch,
              "antithetic_times: rows ", share.begin, "..", share.begin + share.rows, " of a batch of ",
              share.batch);
    Tensor t = Tensor::empty(Shape{share.rows}, DType::F64);
    for (int64_t k = 0; k < share.rows; ++k)
        t.data<double>()[k] = std::fmod(u + double(share.begin + k) / double(share.batch), 1.0);
    return t;
}

DiscreteTimes discretize_times(const Tensor& t, int64_t T) {
    VDM_CHECK(T >= 1, "discretize_times: T = ", T, " must be at least 1");
    // B numbers: computed on the host, returned on the times' device.
    const std::vector<double> times = t.to_vector();
    Tensor step_t = Tensor::empty(t.shape(), DType::F64), step_s = Tensor::empty(t.shape(), DType::F64);
    for (int64_t k = 0; k < t.numel(); ++k) {
        int64_t i = std::min<int64_t>(int64_t(std::floor(times[size_t(k)] * double(T))) + 1, T);
        step_t.data<double>()[k] = double(i) / double(T);
        step_s.data<double>()[k] = double(i - 1) / double(T);
    }
    return {step_t.to(t.device()), step_s.to(t.device())};
}

}  // namespace vdm
