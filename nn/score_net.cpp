// The ScoreNet U-Net.
#include "nn/score_net.h"

#include "nn/embeddings.h"

namespace vdm {

int64_t ScoreNet::input_channels() const {
    const int64_t c = config.image_channels;
    return config.fourier ? c + 2 * c * (config.fourier_max - config.fourier_min + 1) : c;
}

ScoreNet::ScoreNet(const ScoreNetConfig& cfg, DType dtype, Rng& rng)
    : config(cfg),
      emb1(cfg.channels, 4 * cfg.channels, dtype, rng),
      emb2(4 * cfg.channels, 4 * cfg.channels, dtype, rng),
      conv_in(input_channels(), cfg.channels, 3, dtype, rng),
      mid1(cfg.channels, cfg.channels, 4 * cfg.channels, cfg.groups, cfg.dropout, dtype, rng),
      mid2(cfg.channels, cfg.channels, 4 * cfg.channels, cfg.groups, cfg.dropout, dtype, rng),
      norm_out(cfg.groups, cfg.channels, dtype),
      conv_out(cfg.channels, cfg.image_channels, 3, dtype, rng, /*init_scale=*/0.0) {
    VDM_CHECK(cfg.channels >= 2 && cfg.channels % 2 == 0, "ScoreNet: channels ", cfg.channels,
              " must be even");
    VDM_CHECK(cfg.blocks >= 0, "ScoreNet: blocks ", cfg.blocks, " is negative");
    VDM_CHECK(cfg.gamma_max > cfg.gamma_min, "ScoreNet: gamma_max must exceed gamma_min");
    const int64_t C = cfg.channels, E = 4 * cfg.channels;
    add_child("emb1", emb1);
    add_child("emb2", emb2);
    add_child("conv_in", conv_in);
    for (int64_t i = 0; i < cfg.blocks; ++i) {
        down.push_back(std::make_unique<ResnetBlock>(C, C, E, cfg.groups, cfg.dropout, dtype, rng));
        add_child("down." + std::to_string(i), *down.back());
    }
    add_child("mid1", mid1);
    if (cfg.attention) {
        mid_attention = std::make_unique<AttentionBlock>(C, cfg.heads, cfg.groups, dtype, rng);
        add_child("mid_attention", *mid_attention);
    }
    add_child("mid2", mid2);
    for (int64_t i = 0; i <= cfg.blocks; ++i) {
        up.push_back(std::make_unique<ResnetBlock>(2 * C, C, E, cfg.groups, cfg.dropout, dtype, rng));
        add_child("up." + std::to_string(i), *up.back());
    }
    add_child("norm_out", norm_out);
    add_child("conv_out", conv_out);
}

Var ScoreNet::forward(const Var& z, const Var& gamma, Rng* dropout_rng) const {
    const ScoreNetConfig& c = config;
    VDM_CHECK(z.ndim() == 4 && z.dim(1) == c.image_channels && z.dim(2) == c.height &&
                  z.dim(3) == c.width,
              "ScoreNet: expected z of shape (B, ", c.image_channels, ", ", c.height, ", ",
              c.width, "), got ", z.shape().str());
    VDM_CHECK(gamma.ndim() == 1 && gamma.dim(0) == z.dim(0), "ScoreNet: expected gamma (",
              z.dim(0), "), got ", gamma.shape().str());
    // conditioning: t = (gamma - gamma_min) / (gamma_max - gamma_min), then an MLP
    Var t = affine(gamma, 1.0 / (c.gamma_max - c.gamma_min), -c.gamma_min / (c.gamma_max - c.gamma_min));
    Var emb = timestep_embedding(t, c.channels);      // (B, C)
    emb = silu(emb2.forward(silu(emb1.forward(emb))));  // (B, 4C)

    Var h = c.fourier ? concat({z, fourier_features(z, int(c.fourier_min), int(c.fourier_max))}, 1) : z;
    h = conv_in.forward(h);  // (B, C, H, W)
    std::vector<Var> skips{h};
    for (const auto& block : down) {
        h = block->forward(h, emb, dropout_rng);
        skips.push_back(h);
    }
    h = mid1.forward(h, emb, dropout_rng);
    if (mid_attention) h = mid_attention->forward(h);
    h = mid2.forward(h, emb, dropout_rng);
    for (const auto& block : up) {
        h = block->forward(concat({h, skips.back()}, 1), emb, dropout_rng);  // (B, 2C, H, W) in
        skips.pop_back();
    }
    return conv_out.forward(silu(norm_out.forward(h)));  // (B, image_channels, H, W)
}

std::vector<LayerCost> ScoreNet::layer_costs() const {
    const int64_t HW = config.height * config.width, C = config.channels, E = 4 * C;
    auto conv = [&](int64_t in, int64_t out, int64_t k) { return 2 * HW * in * out * k * k; };
    auto block = [&](int64_t in, int64_t out) {  // two 3x3 convs, emb projection, 1x1 skip
        return conv(in, out, 3) + conv(out, out, 3) + 2 * E * out + (in != out ? conv(in, out, 1) : 0);
    };
    std::vector<LayerCost> rows;
    rows.push_back({"embedding MLP", emb1.parameter_count() + emb2.parameter_count(),
                    2 * C * E + 2 * E * E});
    rows.push_back({"conv_in", conv_in.parameter_count(), conv(input_channels(), C, 3)});
    for (size_t i = 0; i < down.size(); ++i)
        rows.push_back({"down." + std::to_string(i), down[i]->parameter_count(), block(C, C)});
    rows.push_back({"mid1", mid1.parameter_count(), block(C, C)});
    if (mid_attention)  // q, k, v, proj 1x1 convs; scores and weighted sum, HW x HW x C each
        rows.push_back({"mid_attention", mid_attention->parameter_count(),
                        4 * conv(C, C, 1) + 2 * (2 * HW * HW * C)});
    rows.push_back({"mid2", mid2.parameter_count(), block(C, C)});
    for (size_t i = 0; i < up.size(); ++i)
        rows.push_back({"up." + std::to_string(i), up[i]->parameter_count(), block(2 * C, C)});
    rows.push_back({"norm_out, conv_out", norm_out.parameter_count() + conv_out.parameter_count(),
                    conv(C, config.image_channels, 3)});
    return rows;
}

int64_t ScoreNet::flops_per_image() const {
    int64_t total = 0;
    for (const LayerCost& row : layer_costs()) total += row.flops;
    return total;
}

}  // namespace vdm
