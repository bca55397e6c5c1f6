// Multi-head self-attention block.
#include "nn/attention.h"

#include <cmath>

namespace vdm {

AttentionBlock::AttentionBlock(int64_t channels, int64_t heads_, int64_t groups, DType dtype,
                               Rng& rng)
    : heads(heads_),
      norm(groups, channels, dtype),
      query(channels, channels, 1, dtype, rng),
      key(channels, channels, 1, dtype, rng),
      value(channels, channels, 1, dtype, rng),
      proj(channels, channels, 1, dtype, rng, /*init_scale=*/0.0) {
    VDM_CHECK(heads > 0 && channels % heads == 0, "AttentionBlock: ", channels,
              " channels do not split into ", heads, " heads");
    add_child("norm", norm);
    add_child("query", query);
    add_child("key", key);
    add_child("value", value);
    add_child("proj", proj);
}

Var AttentionBlock::forward(const Var& x) const {
    VDM_CHECK(x.ndim() == 4, "AttentionBlock: expected (B, C, H, W), got ", x.shape().str());
    const int64_t B = x.dim(0), C = x.dim(1), N = x.dim(2) * x.dim(3), d = C / heads;
    Var h = norm.forward(x);
    // (B, C, H, W) is (B heads, d, N) in memory: each head's channels are contiguous.
    Shape per_head{B * heads, d, N};
    Var q = reshape(query.forward(h), per_head) * (1.0 / std::sqrt(double(d)));
    Var k = reshape(key.forward(h), per_head);
    Var v = reshape(value.forward(h), per_head);
    // out[c][i] = sum_j v[c][j] softmax_j(q_i . k_j): fused, the (N_i, N_j) weights never stored
    Var out = attention(q, k, v);  // (B heads, d, N_i)
    return x + proj.forward(reshape(out, x.shape()));
}

}  // namespace vdm
