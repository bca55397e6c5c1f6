// Distributions as rANS intervals (docs/vdm.md#bits-back-coding). A CDF F over N
// symbols is quantized to integers out of M (codec/rans.h),
//   C(j) = floor(F(j) (M - N)) + j,   j = 0..N,   C(0) = 0, C(N) = M,
// so every symbol gets at least one slot and can be coded, and a symbol of
// probability p costs about log2(1 / p) - log2(1 - N / M) bits; the second part
// cancels when a pop and a push of the same variable use grids of the same size.
// F is computed in double by the same code on both sides, so an encoder and a
// decoder on the same machine agree on every interval bit for bit.
//
// A distribution here is any type with size() (N) and cdf(j) (F at the lower edge of
// symbol j, read for 0 < j < N only).
#pragma once
#include <cmath>
#include <cstdint>

#include "codec/rans.h"
#include "tensor/error.h"

namespace vdm {

template <typename Dist>
uint64_t quantized_cdf(const Dist& d, int64_t j) {
    const int64_t n = d.size();
    if (j <= 0) return 0;
    if (j >= n) return kRansTotal;
    const double f = std::fmin(std::fmax(d.cdf(j), 0.0), 1.0);
    return uint64_t(std::floor(f * double(kRansTotal - uint64_t(n)))) + uint64_t(j);
}

template <typename Dist>
RansInterval symbol_interval(const Dist& d, int64_t j) {
    const uint64_t lo = quantized_cdf(d, j), hi = quantized_cdf(d, j + 1);
    VDM_CHECK(hi > lo, "quantized CDF is not increasing at symbol ", j, " of ", d.size());
    return {lo, hi - lo};
}

template <typename Dist>
void push_symbol(RansStack& stack, const Dist& d, int64_t j) {
    VDM_CHECK(j >= 0 && j < d.size(), "symbol ", j, " is outside [0, ", d.size(), ")");
    stack.push(symbol_interval(d, j));
}

// The symbol whose interval holds the stack's slot (binary search over C), popped.
template <typename Dist>
int64_t pop_symbol(RansStack& stack, const Dist& d) {
    const uint64_t slot = stack.peek();
    int64_t lo = 0, hi = d.size();  // C(lo) <= slot < C(hi)
    uint64_t c_lo = 0, c_hi = kRansTotal;
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        const uint64_t c = quantized_cdf(d, mid);
        if (c <= slot) lo = mid, c_lo = c;
        else hi = mid, c_hi = c;
    }
    stack.pop({c_lo, c_hi - c_lo});
    return lo;
}

// A uniform grid of latent values z_j = (j - half) bin, j = 0..2 half, half = ceil(range / bin).
struct LatentGrid {
    LatentGrid(double bin, double range);
    int64_t size() const { return 2 * half + 1; }
    double value(int64_t j) const { return double(j - half) * bin; }
    int64_t nearest(double z) const;  // the index of the grid value nearest to z
    double bin;
    int64_t half;
};

// n symbols, equally likely.
struct UniformSymbols {
    int64_t n;
    int64_t size() const { return n; }
    double cdf(int64_t j) const { return double(j) / double(n); }
};

// N(mean, sigma^2) on a window of the grid, mean +- kWindowSigmas sigma, plus an
// escape: window value k is grid value lo + k and holds the mass of its bin, the
// escape holds the tails. A value outside the window is coded as the escape and then
// uniformly over the grid values outside the window. The window keeps the slots that
// every symbol must get (W of M) few, so a pop almost never lands in a far tail.
// In slot order the escape sits at `escape`, a position in 0..W that a hash of the
// mean picks, not at an end: a pushed escape leaves its slot in the stream, and a later
// pop that reads it should find an ordinary value of its own window there, not its own
// escape (with the escape last, escapes would breed escapes).
constexpr double kWindowSigmas = 8.0;
struct GaussianWindow {
    GaussianWindow(const LatentGrid& grid, double mean, double sigma);
    bool has_escape() const { return width < grid->size(); }  // none when the window is the grid
    // Symbols in slot order: positions 0..size()-1.
    int64_t size() const { return width + (has_escape() ? 1 : 0); }
    double cdf(int64_t p) const { return p <= escape ? phi(p) - phi_lo : phi(p - 1) - phi_lo + tail_mass; }
    int64_t position(int64_t k) const { return k < escape ? k : k + 1; }  // of window value k
    // Phi at the lower edge of window value k: erfc(-u / sqrt 2) / 2, accurate in both tails.
    double phi(int64_t k) const {
        const double u = (grid->value(lo + k) - 0.5 * grid->bin - mean) / sigma;
        return 0.5 * std::erfc(-u * 0.7071067811865476);
    }
    const LatentGrid* grid;
    double mean, sigma;
    int64_t lo, width;
    int64_t escape;  // its position in slot order (width when there is none: never reached)
    double phi_lo, tail_mass;
};

// Grid index j of a latent with N(mean, sigma^2): pushed as its window symbol, or as
// the escape after the index itself; popped in the reverse order.
void push_latent(RansStack& stack, const LatentGrid& grid, double mean, double sigma, int64_t j);
int64_t pop_latent(RansStack& stack, const LatentGrid& grid, double mean, double sigma);

// A categorical given its cumulative probabilities: cumulative[j] = P(symbol < j),
// n + 1 values from 0 to 1.
struct Categorical {
    const double* cumulative;
    int64_t n;
    int64_t size() const { return n; }
    double cdf(int64_t j) const { return cumulative[j]; }
};

}  // namespace vdm
