// The per-pixel categorical likelihood and its sampler.
#include "baselines/pixel_categorical.h"

#include <algorithm>
#include <cmath>

#include "vdm/encoder.h"

namespace vdm {

Var pixel_log_prob(const Var& logits, const uint8_t* pixels) {
    VDM_CHECK(logits.ndim() == 4 && logits.dim(1) % kPixelValues == 0,
              "pixel_log_prob: logits must be (B, 256 C, H, W), got ", logits.shape().str());
    const int64_t B = logits.dim(0), C = logits.dim(1) / kPixelValues, H = logits.dim(2),
                  W = logits.dim(3);
    // (B C, 256, H W) -> (B C, H W, 256): the values of a pixel along the last axis
    Var per_pixel = permute(reshape(logits, Shape{B * C, kPixelValues, H * W}), {0, 2, 1});
    const Tensor index = pixel_indices(pixels, Shape{B * C, H * W}).to(logits.device());
    Var log_p = gather_last(log_softmax(per_pixel), index);  // (B C, H W)
    return sum(reshape(log_p, Shape{B, C * H * W}), {1});
}

uint8_t draw_pixel(const double* logits, int64_t stride, double u) {
    double top = logits[0];
    for (int64_t v = 1; v < kPixelValues; ++v) top = std::max(top, logits[v * stride]);
    double total = 0.0;  // of exp(logit - max): no overflow
    for (int64_t v = 0; v < kPixelValues; ++v) total += std::exp(logits[v * stride] - top);
    double cumulative = 0.0;
    for (int64_t v = 0; v < kPixelValues - 1; ++v) {
        cumulative += std::exp(logits[v * stride] - top) / total;
        if (u < cumulative) return uint8_t(v);
    }
    return uint8_t(kPixelValues - 1);
}

}  // namespace vdm
