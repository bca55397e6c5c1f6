// The VDM ScoreNet: an epsilon-prediction U-Net at full resolution
// (docs/vdm.md#score-network). eps_hat = net(z_t, gamma_t).
//
//   input      z (B, C, H, W), with Fourier features of z appended on the channel axis
//   embedding  gamma -> normalized t -> sinusoidal (width) -> MLP -> (B, 4 width)
//   conv_in    3x3 to `width` channels
//   down       `blocks` ResNet blocks; every output kept for a skip connection
//   middle     ResNet, self-attention (optional), ResNet
//   up         `blocks + 1` ResNet blocks, each fed concat(h, the next skip)
//   out        GroupNorm, SiLU, 3x3 conv to C channels, zero-initialized
// No downsampling: VDM keeps full resolution for likelihood. The output is eps_hat
// itself (no "base measure" z added), so an untrained net predicts eps_hat = 0.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/attention.h"
#include "nn/resnet_block.h"

namespace vdm {

struct ScoreNetConfig {
    int64_t image_channels = 1, height = 28, width = 28;  // taken from the data
    int64_t channels = 32;  // feature width
    int64_t blocks = 2;     // ResNet blocks in the down stack (the up stack has one more)
    int64_t groups = 8;     // GroupNorm groups
    int64_t heads = 1;      // attention heads
    bool attention = true;
    bool fourier = true;
    int64_t fourier_min = 7, fourier_max = 8;  // Fourier features 2^n pi z for n in this range
    double dropout = 0.0;
    double gamma_min = -13.3, gamma_max = 5.0;  // maps gamma to t in [0, 1] for the embedding
};

// One row of the model's cost table: parameters and forward multiply-add FLOPs per
// image (2 per multiply-add, counted for convolutions and matrix products only;
// normalization and activations are a few percent more).
struct LayerCost {
    std::string name;
    int64_t params = 0;
    int64_t flops = 0;
};

class ScoreNet : public Module {
public:
    ScoreNet(const ScoreNetConfig& config, DType dtype, Rng& rng);
    // z (B, C, H, W), gamma (B) -> eps_hat (B, C, H, W). dropout_rng null: no dropout.
    Var forward(const Var& z, const Var& gamma, Rng* dropout_rng = nullptr) const;

    std::vector<LayerCost> layer_costs() const;  // in forward order
    int64_t flops_per_image() const;              // forward, sum of layer_costs()

    const ScoreNetConfig config;

private:
    int64_t input_channels() const;

    Linear emb1, emb2;
    Conv2d conv_in;
    std::vector<std::unique_ptr<ResnetBlock>> down, up;
    ResnetBlock mid1;
    std::unique_ptr<AttentionBlock> mid_attention;
    ResnetBlock mid2;
    GroupNorm norm_out;
    Conv2d conv_out;
};

}  // namespace vdm
