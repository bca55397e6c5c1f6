// Self-attention over the pixels of a feature map (the ScoreNet's middle block):
//   h = norm(x); q, k, v = 1x1 convs of h, split into `heads` heads of C/heads channels
//   out_i = sum_j softmax_j(q_i . k_j / sqrt(d)) v_j     for pixels i, j of one image
//   return x + proj(out)                                   (proj zero-initialized)
// The fused op (autodiff/ops.h attention) never stores the (B heads, HW, HW) weights:
// 784 x 784 per head for MNIST.
#pragma once
#include "nn/layers.h"

namespace vdm {

class AttentionBlock : public Module {
public:
    AttentionBlock(int64_t channels, int64_t heads, int64_t groups, DType dtype, Rng& rng);
    Var forward(const Var& x) const;  // (B, C, H, W) -> (B, C, H, W)

private:
    int64_t heads;
    GroupNorm norm;
    Conv2d query, key, value, proj;
};

}  // namespace vdm
