// The ScoreNet's two input embeddings (docs/vdm.md#score-network):
// Fourier features of z_t, which let the network resolve the 256 pixel levels at
// low noise, and the sinusoidal embedding of the normalized log-SNR.
#pragma once
#include "autodiff/ops.h"

namespace vdm {

// sin(2^n pi z) and cos(2^n pi z) for n = n_min..n_max: z (B, C, H, W) ->
// (B, 2 C (n_max - n_min + 1), H, W), ordered [sin n_min, cos n_min, sin n_min+1, ...].
// With z in (-1, 1) and bins of width 2/256, n = 8 has a period of exactly one bin.
Var fourier_features(const Var& z, int n_min, int n_max);

// Transformer-style sinusoidal embedding of a scalar per example: t (B) -> (B, dim),
// [sin(1000 t w_k), cos(1000 t w_k)] with w_k = 10000^(-k / (dim/2 - 1)), k < dim/2.
// t is the normalized gamma in [0, 1]; dim must be even and at least 4.
Var timestep_embedding(const Var& t, int64_t dim);

}  // namespace vdm
