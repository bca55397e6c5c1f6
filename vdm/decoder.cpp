// Discretized decoder and the reconstruction term.
#include "vdm/decoder.h"

#include "vdm/encoder.h"
#include "vdm/process.h"

namespace vdm {

Var decoder_log_probs(const Var& z0, const Var& gamma_0) {
    VDM_CHECK(z0.ndim() == 2, "decoder: expected z0 (B, D), got ", z0.shape().str());
    std::vector<double> centres(kPixelValues);
    for (int v = 0; v < kPixelValues; ++v) centres[size_t(v)] = encode_pixel(v);
    Var f_v(Tensor::from_vector(Shape{1, 1, kPixelValues}, centres, z0.dtype(), z0.device()));
    Var x_est = reshape(z0 / alpha(gamma_0), Shape{z0.dim(0), z0.dim(1), 1});  // (B, D, 1)
    Var precision = reshape(snr(gamma_0), Shape{1, 1, 1}) * -0.5;             // -0.5 exp(-gamma_0)
    return log_softmax(square(x_est - f_v) * precision);                      // (B, D, 256)
}

Var reconstruction_loss(const Var& z0, const Tensor& x, const Var& gamma_0) {
    check_same_shape("reconstruction_loss", z0.value(), x);
    return -sum(gather_last(decoder_log_probs(z0, gamma_0), x), {1});  // (B)
}

}  // namespace vdm
