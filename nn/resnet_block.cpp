// ResNet block with time conditioning.
#include "nn/resnet_block.h"

namespace vdm {

ResnetBlock::ResnetBlock(int64_t in, int64_t out, int64_t emb_dim, int64_t groups,
                         double dropout_p, DType dtype, Rng& rng)
    : norm1(groups, in, dtype),
      conv1(in, out, 3, dtype, rng),
      emb_proj(emb_dim, out, dtype, rng),
      norm2(groups, out, dtype),
      dropout(dropout_p),
      conv2(out, out, 3, dtype, rng, /*init_scale=*/0.0) {
    add_child("norm1", norm1);
    add_child("conv1", conv1);
    add_child("emb_proj", emb_proj);
    add_child("norm2", norm2);
    add_child("conv2", conv2);
    if (in != out) {
        skip = std::make_unique<Conv2d>(in, out, 1, dtype, rng);
        add_child("skip", *skip);
    }
}

Var ResnetBlock::forward(const Var& x, const Var& emb, Rng* dropout_rng) const {
    Var h = conv1.forward(silu(norm1.forward(x)));  // (B, Cout, H, W)
    Var e = emb_proj.forward(emb);                  // (B, Cout)
    h = h + reshape(e, Shape{e.dim(0), e.dim(1), 1, 1});
    h = conv2.forward(dropout.forward(silu(norm2.forward(h)), dropout_rng));
    return (skip ? skip->forward(x) : x) + h;
}

}  // namespace vdm
