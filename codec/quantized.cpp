// The latent grid, and Gaussians on windows of it with an escape.
#include "codec/quantized.h"

#include <algorithm>
#include <cstring>

namespace vdm {

LatentGrid::LatentGrid(double bin_, double range) : bin(bin_), half(0) {
    VDM_CHECK(bin > 0 && range > 0 && std::isfinite(bin) && std::isfinite(range),
              "latent grid: bin ", bin, " and range ", range, " must be positive");
    const double half_bins = std::ceil(range / bin);
    // At most M / 4 symbols, so the quantization's share N / M stays small.
    VDM_CHECK(2.0 * half_bins + 1.0 <= double(kRansTotal / 4), "latent grid: range ", range, " / bin ",
              bin, " gives ", 2.0 * half_bins + 1.0, " values, more than ", kRansTotal / 4);
    half = int64_t(half_bins);
}

int64_t LatentGrid::nearest(double z) const {
    const double j = std::nearbyint(z / bin) + double(half);
    return int64_t(std::fmin(std::fmax(j, 0.0), double(size() - 1)));
}

GaussianWindow::GaussianWindow(const LatentGrid& grid_, double mean_, double sigma_)
    : grid(&grid_), mean(mean_), sigma(sigma_) {
    VDM_CHECK(sigma > 0 && std::isfinite(sigma) && std::isfinite(mean), "Gaussian window: mean ", mean,
              ", sigma ", sigma);
    const int64_t centre = grid_.nearest(mean);
    const int64_t reach = int64_t(std::fmin(std::ceil(kWindowSigmas * sigma / grid_.bin), double(grid_.size())));
    lo = std::max<int64_t>(0, centre - reach);
    width = std::min<int64_t>(grid_.size() - 1, centre + reach) - lo + 1;
    phi_lo = phi(0);
    tail_mass = std::fmax(1.0 - (phi(width) - phi_lo), 0.0);
    uint64_t bits;
    std::memcpy(&bits, &mean, sizeof bits);
    escape = has_escape() ? int64_t(mix64(bits) % uint64_t(width + 1)) : width;
}

// The escape's second part: the grid values outside the window, equally likely.
// (Values inside the window must not be reachable this way, or a pop of the escape
// could return a value whose push would take the window's symbol.)
namespace {
UniformSymbols outside(const LatentGrid& grid, const GaussianWindow& w) { return {grid.size() - w.width}; }
}  // namespace

void push_latent(RansStack& stack, const LatentGrid& grid, double mean, double sigma, int64_t j) {
    const GaussianWindow window(grid, mean, sigma);
    if (j >= window.lo && j < window.lo + window.width) return push_symbol(stack, window, window.position(j - window.lo));
    push_symbol(stack, outside(grid, window), j < window.lo ? j : j - window.width);
    push_symbol(stack, window, window.escape);
}

int64_t pop_latent(RansStack& stack, const LatentGrid& grid, double mean, double sigma) {
    const GaussianWindow window(grid, mean, sigma);
    const int64_t p = pop_symbol(stack, window);
    if (p != window.escape) return window.lo + (p < window.escape ? p : p - 1);
    const int64_t u = pop_symbol(stack, outside(grid, window));
    return u < window.lo ? u : u + window.width;
}

}  // namespace vdm
