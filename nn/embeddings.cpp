// Fourier features and the sinusoidal time embedding.
#include "nn/embeddings.h"

#include <cmath>

namespace vdm {

Var fourier_features(const Var& z, int n_min, int n_max) {
    VDM_CHECK(z.ndim() == 4, "fourier_features: expected (B, C, H, W), got ", z.shape().str());
    VDM_CHECK(n_min <= n_max, "fourier_features: empty range ", n_min, "..", n_max);
    std::vector<Var> parts;
    for (int n = n_min; n <= n_max; ++n) {
        Var phase = z * (std::ldexp(M_PI, n));  // 2^n pi z
        parts.push_back(sin(phase));
        parts.push_back(cos(phase));
    }
    return concat(parts, 1);
}

Var timestep_embedding(const Var& t, int64_t dim) {
    VDM_CHECK(t.ndim() == 1, "timestep_embedding: expected (B), got ", t.shape().str());
    VDM_CHECK(dim >= 4 && dim % 2 == 0, "timestep_embedding: dim ", dim, " must be even and >= 4");
    const int64_t half = dim / 2;
    std::vector<double> freqs(static_cast<size_t>(half));  // 1000 w_k, the 1000 spreading t over [0, 1000]
    for (int64_t k = 0; k < half; ++k)
        freqs[size_t(k)] = 1000.0 * std::exp(-std::log(10000.0) * double(k) / double(half - 1));
    Var w(Tensor::from_vector(Shape{1, half}, freqs, t.dtype(), t.device()));
    Var phase = reshape(t, Shape{t.dim(0), 1}) * w;  // (B, half)
    return concat({sin(phase), cos(phase)}, 1);
}

}  // namespace vdm
