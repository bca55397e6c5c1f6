// PixelCNN (van den Oord et al. 2016): the autoregressive baseline of the results
// table. Pixels in raster order, each a 256-way categorical given the ones before it,
//   log p(x) = sum_i log p(x_i | x_<i)     (exact, nats per image),
// the conditioning enforced by masked convolutions: a kernel's weights at and after
// its centre (type A, the first layer) or after its centre (type B, the later ones)
// are zero, so output pixel i sees input pixels < i only. One image channel.
//
//   x (B, 1, H, W) in (-1, 1)
//   masked conv 7x7 type A 1 -> c
//   blocks x: h + conv 1x1 (SiLU(masked conv 3x3 type B (SiLU(h))))   (residual)
//   SiLU, conv 1x1 c -> c, SiLU, conv 1x1 c -> 256          logits (B, 256, H, W)
//
// Sampling draws the pixels one at a time in raster order: H W network evaluations.
// (docs/vdm.md#baselines-vae-iwae-and-pixelcnn)
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "nn/layers.h"

namespace vdm {

enum class MaskType { A, B };

// A square convolution whose kernel is multiplied by a fixed causal mask each forward.
class MaskedConv2d : public Module {
public:
    MaskedConv2d(int64_t in, int64_t out, int64_t kernel, MaskType type, DType dtype, Rng& rng);
    Var forward(const Var& x) const;  // conv2d(x, weight * mask, bias)

    Var weight, bias;
    Tensor mask;  // (1, 1, k, k): 1 where the kernel may look
};

struct PixelCnnConfig {
    int64_t height = 28, width = 28;  // taken from the data (one channel)
    int64_t channels = 64;
    int64_t blocks = 5;
};

class PixelCnn : public Module {
public:
    PixelCnn(const PixelCnnConfig& config, DType dtype, Rng& rng);
    Var logits(const Var& x) const;  // x (B, 1, H, W) in (-1, 1) -> (B, 256, H, W)

    const PixelCnnConfig config;

private:
    MaskedConv2d input;
    std::vector<std::unique_ptr<MaskedConv2d>> block_masked;
    std::vector<std::unique_ptr<Conv2d>> block_out;
    Conv2d head1, head2;
};

// log p(x) per image (nats): pixels (B, 1, H, W) uint8 on the host -> (B).
Var pixelcnn_log_prob(const PixelCnn& model, const uint8_t* pixels, int64_t batch);

// n images drawn pixel by pixel (n, 1, H, W), the uniforms from rng.
std::vector<uint8_t> pixelcnn_sample(const PixelCnn& model, int64_t n, Rng& rng);

}  // namespace vdm
