// The ScoreNet's ResNet block with time conditioning (docs/vdm.md#score-network):
//   h = conv1(silu(norm1(x))) + proj(emb)     (emb broadcast over H, W)
//   h = conv2(dropout(silu(norm2(h))))         (conv2 zero-initialized)
//   out = skip(x) + h                          (skip: 1x1 conv when Cin != Cout)
// A freshly built block is therefore the identity (or a 1x1 projection).
#pragma once
#include <memory>

#include "nn/layers.h"

namespace vdm {

class ResnetBlock : public Module {
public:
    ResnetBlock(int64_t in, int64_t out, int64_t emb_dim, int64_t groups, double dropout,
                DType dtype, Rng& rng);
    // x (B, Cin, H, W), emb (B, emb_dim) -> (B, Cout, H, W). dropout_rng null: no dropout.
    Var forward(const Var& x, const Var& emb, Rng* dropout_rng) const;

private:
    GroupNorm norm1;
    Conv2d conv1;
    Linear emb_proj;
    GroupNorm norm2;
    Dropout dropout;
    Conv2d conv2;
    std::unique_ptr<Conv2d> skip;
};

}  // namespace vdm
