// Lossless compression with a trained VDM: bits-back coding of its discrete-time
// latent chain with rANS (docs/vdm.md#bits-back-coding). On the grid t_i = i / T:
//
//   encode x:  pop z_0 ~ q(z_0 | x); push x with p(x | z_0);
//              for i = 1..T: pop z_{t_i} ~ q(z_{t_i} | z_{t_{i-1}});
//                            push z_{t_{i-1}} with p(z_{t_{i-1}} | z_{t_i})
//              push z_1 with p(z_1) = N(0, I)
//   decode:    the same operations undone in the reverse order.
//
// Each latent is popped once and pushed once, so what an image costs is, in
// expectation, the discrete-time bound with T steps:
//   -log p(x | z_0) + sum_i [log q(z_t | z_s) - log p(z_s | z_t)] + log q(z_0 | x) - log p(z_1).
// Each latent z_{t_i} lives on its own uniform grid (codec/quantized.h) over
// [-range, range], with a bin of `bin` times the smaller standard deviation of the two
// Gaussians that code it, so every Gaussian spans the same few hundred bins whatever
// its scale. A latent's pixels are pushed in order 0..D-1 and popped in the reverse.
// The encoder's pops read the bits its previous pushes left, which are random only as
// far as the model fits; each of them is drawn from whitened bits (RansStack::whiten),
// else the draws drift off q and the code grows (docs/vdm.md#bits-back-coding).
// Every interval is computed in double from the network's output on
// one image at a time, the same way on both sides (computation_fingerprint checks).
#pragma once
#include <cstdint>
#include <vector>

#include "codec/quantized.h"
#include "vdm/model.h"

namespace vdm {

struct BitsBackOptions {
    int64_t T = 100;      // steps of the discrete-time chain
    double bin = 1.0 / 16;  // latent grid's bin width, relative to the latent's sigma
    double range = 8.0;     // latent grids cover [-range, range]
};

// One image's code, all in nats: what the stack grew by; the bound's three terms on
// the trajectory that was coded (the diffusion term as the exact Gaussian KLs given
// each z_t); and the trajectory's ideal code length (densities: no grid, no rounding).
struct ImageCode {
    double code_length = 0;
    double prior = 0, recon = 0, diffusion = 0;
    double trajectory = 0;
    double bound() const { return prior + recon + diffusion; }
};

class BitsBackCoder {
public:
    BitsBackCoder(const Vdm& model, const BitsBackOptions& options);

    // Pushes one image (D uint8 pixels) onto the stack.
    ImageCode encode(RansStack& stack, const uint8_t* pixels) const;
    // The same terms on a trajectory drawn from rng instead of popped from a stack (no
    // code_length): an unbiased estimate of the image's T-step bound. A code's pops read
    // bits the previous pushes left, not perfectly random ones, so its trajectories
    // are drawn slightly off q (docs/vdm.md#bits-back-coding); this is the yardstick.
    ImageCode sample_bound(const uint8_t* pixels, Rng& rng) const;
    // Pops the image on top of the stack.
    std::vector<uint8_t> decode(RansStack& stack) const;

    // The grid of latent z_{t_i}, i = 0..T.
    const LatentGrid& grid(int64_t i) const { return grids_[size_t(i)]; }

    // FNV-1a over what both sides compute: gamma on the grid, eps_hat and the decoder's
    // log-probabilities at a fixed input, quantized Gaussian CDFs. Another machine,
    // device or build may round differently, while a decoder must compute every
    // interval exactly as the encoder did: a file records the encoder's value and the
    // decoder compares.
    uint64_t computation_fingerprint() const;

private:
    // The encoder's order for one image: each latent drawn from its q (popped from the
    // stack, or drawn from rng when there is none) and coded with its p (pushed onto
    // the stack, if any); the terms summed on the way.
    ImageCode walk(const uint8_t* pixels, RansStack* stack, Rng* rng) const;
    // eps_hat(z_{t_i}; gamma(t_i)) of one image, on the model's device, as doubles.
    std::vector<double> eps_hat(const std::vector<double>& z_t, int64_t i) const;

    const Vdm& model_;
    BitsBackOptions options_;
    std::vector<double> gamma_;     // gamma(t_i), i = 0..T, as the schedule computes it
    std::vector<LatentGrid> grids_;  // of z_{t_i}, i = 0..T
};

// FNV-1a over the model's parameter names, shapes and values: which model coded a file.
uint64_t model_fingerprint(const Vdm& model);

}  // namespace vdm
