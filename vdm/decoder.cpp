// Discretized decoder and the reconstruction term.
#include "vdm/decoder.h"

#include <algorithm>
#include <cmath>

#include "vdm/encoder.h"
#include "vdm/process.h"

namespace vdm {

Tensor pixel_centres(DType dtype, Device device) {
    std::vector<double> centres(kPixelValues);
    for (int v = 0; v < kPixelValues; ++v) centres[size_t(v)] = encode_pixel(v);
    return Tensor::from_vector(Shape{kPixelValues}, centres, dtype, device);
}

namespace {

// The logits' scale -0.5 exp(-gamma_0) = -0.5 SNR(0), of gamma_0's shape (1).
Var logit_scale(const Var& gamma_0) { return snr(gamma_0) * -0.5; }

}  // namespace

Var decoder_log_probs(const Var& z0, const Var& gamma_0) {
    VDM_CHECK(z0.ndim() == 2, "decoder: expected z0 (B, D), got ", z0.shape().str());
    Var f_v(pixel_centres(z0.dtype(), z0.device()).reshape(Shape{1, 1, kPixelValues}));
    Var x_est = reshape(z0 / alpha(gamma_0), Shape{z0.dim(0), z0.dim(1), 1});  // (B, D, 1)
    Var scale = reshape(logit_scale(gamma_0), Shape{1, 1, 1});
    return log_softmax(square(x_est - f_v) * scale);  // (B, D, 256)
}

// The same log-probabilities read at x, fused: no (B, D, 256) tensor is made.
Var reconstruction_loss(const Var& z0, const Tensor& x, const Var& gamma_0) {
    check_same_shape("reconstruction_loss", z0.value(), x);
    Var log_p = categorical_log_prob(z0 / alpha(gamma_0), pixel_centres(z0.dtype(), z0.device()),
                                     logit_scale(gamma_0), x);  // (B, D)
    return -sum(log_p, {1});                                    // (B)
}

// The logits are largest where (z0 / alpha_0 - f(v))^2 is smallest; f(v) is evenly
// spaced, so the nearest centre is a rounding (docs/vdm.md#decoder).
std::vector<uint8_t> decoder_mode(const Var& z0, const Var& gamma_0) {
    const std::vector<double> x_est = (z0 / alpha(gamma_0)).value().to_vector();
    std::vector<uint8_t> pixels(x_est.size());
    for (size_t k = 0; k < x_est.size(); ++k) {
        double v = std::round((x_est[k] + 1.0) * kPixelValues / 2.0 - 0.5);
        pixels[k] = uint8_t(std::clamp(v, 0.0, double(kPixelValues - 1)));
    }
    return pixels;
}

}  // namespace vdm
