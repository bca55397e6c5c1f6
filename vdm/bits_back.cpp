// Bits-back coding of the discrete-time chain: the Gaussians of each step on the
// host in double, the network on the model's device.
#include "vdm/bits_back.h"

#include <cmath>

#include "vdm/decoder.h"
#include "vdm/diffusion_loss.h"
#include "vdm/encoder.h"
#include "vdm/parameterization.h"
#include "vdm/prior.h"
#include "vdm/process.h"

namespace vdm {

namespace {

constexpr double kLogSqrtTwoPi = 0.9189385332046728;

// Per-pixel N(mean_d, sigma^2) of one latent.
struct Gaussians {
    std::vector<double> mean;
    double sigma;
    // log of the density at the values z, summed over the pixels.
    double log_density(const std::vector<double>& z) const {
        double sum = 0;
        for (size_t d = 0; d < z.size(); ++d) {
            const double u = (z[d] - mean[d]) / sigma;
            sum -= 0.5 * u * u + std::log(sigma) + kLogSqrtTwoPi;
        }
        return sum;
    }
};

// One symbol per pixel, pushed in pixel order 0..D-1 and popped in the reverse, so
// each undoes the other.
template <typename PushOne>
void push_pixels(const std::vector<int64_t>& symbols, PushOne push_one) {
    for (size_t d = 0; d < symbols.size(); ++d) push_one(d, symbols[d]);
}
template <typename PopOne>
std::vector<int64_t> pop_pixels(size_t pixels, PopOne pop_one) {
    std::vector<int64_t> symbols(pixels, 0);
    for (size_t d = pixels; d-- > 0;) symbols[d] = pop_one(d);
    return symbols;
}

// A latent, pixel by pixel. The latents the encoder pops (the q's) are drawn from
// whitened bits (RansStack::whiten before each pop, and after each push that undoes
// one); the p's are not (docs/vdm.md#bits-back-coding).
enum class Whiten { No, Yes };
void push_latent(RansStack& stack, const LatentGrid& grid, const Gaussians& g, const std::vector<int64_t>& z,
                 Whiten whiten) {
    push_pixels(z, [&](size_t d, int64_t j) {
        push_latent(stack, grid, g.mean[d], g.sigma, j);
        if (whiten == Whiten::Yes) stack.whiten();
    });
}
std::vector<int64_t> pop_latent(RansStack& stack, const LatentGrid& grid, const Gaussians& g, Whiten whiten) {
    return pop_pixels(g.mean.size(), [&](size_t d) {
        if (whiten == Whiten::Yes) stack.whiten();
        return pop_latent(stack, grid, g.mean[d], g.sigma);
    });
}

Var host_var(const std::vector<double>& values, const Shape& shape) {
    return Var(Tensor::from_vector(shape, values, DType::F64));
}
Var host_scalar(double value) { return Var(Tensor::full(Shape{1}, value, DType::F64)); }

std::vector<double> grid_values(const LatentGrid& grid, const std::vector<int64_t>& symbols) {
    std::vector<double> z(symbols.size());
    for (size_t d = 0; d < z.size(); ++d) z[d] = grid.value(symbols[d]);
    return z;
}

// The decoder p(x | z_0) per pixel as cumulative probabilities (D x 257), and its
// log-probabilities (D x 256).
struct PixelCdfs {
    std::vector<double> log_p, cumulative;
    Categorical at(size_t d) const { return {&cumulative[d * (kPixelValues + 1)], kPixelValues}; }
};
PixelCdfs pixel_cdfs(const std::vector<double>& z0, double gamma_0) {
    const int64_t D = int64_t(z0.size());
    PixelCdfs p;
    p.log_p = decoder_log_probs(host_var(z0, Shape{1, D}), host_scalar(gamma_0)).value().to_vector();
    p.cumulative.assign(size_t(D) * (kPixelValues + 1), 0.0);
    for (int64_t d = 0; d < D; ++d) {
        double* c = &p.cumulative[size_t(d) * (kPixelValues + 1)];
        for (int v = 0; v < kPixelValues; ++v)
            c[v + 1] = std::fmin(c[v] + std::exp(p.log_p[size_t(d * kPixelValues + v)]), 1.0);
        c[kPixelValues] = 1.0;
    }
    return p;
}

double item(const Var& v) { return v.value().item(); }

// The three kinds of Gaussian in the chain (docs/vdm.md#bits-back-coding), from the
// process's own formulas (vdm/process.h) evaluated in double.
Gaussians marginal(const Var& x, double gamma_0) {  // q(z_0 | x)
    Var g = host_scalar(gamma_0);
    return {(alpha(g) * x).value().to_vector(), item(sigma(g))};
}
double transition_sigma(double gamma_s, double gamma_t) {
    return std::sqrt(item(transition_sigma_sq(host_scalar(gamma_s), host_scalar(gamma_t))));
}
double reverse_sigma(double gamma_s, double gamma_t) {
    return std::sqrt(item(posterior_sigma_sq(host_scalar(gamma_s), host_scalar(gamma_t))));
}
Gaussians transition(const std::vector<double>& z_s, const Shape& shape, double gamma_s,
                     double gamma_t) {  // q(z_t | z_s)
    Var gs = host_scalar(gamma_s), gt = host_scalar(gamma_t);
    return {(transition_alpha(gs, gt) * host_var(z_s, shape)).value().to_vector(),
            transition_sigma(gamma_s, gamma_t)};
}
Gaussians reverse(const Var& z_t, const Var& eps_hat, double gamma_s, double gamma_t) {  // p(z_s | z_t)
    Var gs = host_scalar(gamma_s), gt = host_scalar(gamma_t);
    Var x_hat = predicted_x(z_t, gt, eps_hat);
    return {posterior_mean(z_t, x_hat, gs, gt).value().to_vector(), reverse_sigma(gamma_s, gamma_t)};
}
Gaussians standard_normal(int64_t pixels) { return {std::vector<double>(size_t(pixels), 0.0), 1.0}; }

}  // namespace

BitsBackCoder::BitsBackCoder(const Vdm& model, const BitsBackOptions& options)
    : model_(model), options_(options) {
    const int64_t T = options.T;
    VDM_CHECK(T >= 1, "bits-back: T = ", T, " must be at least 1");
    std::vector<double> t(size_t(T + 1));
    for (int64_t i = 0; i <= T; ++i) t[size_t(i)] = double(i) / double(T);
    NoGradGuard no_grad;
    gamma_ = model.schedule->gamma(Tensor::from_vector(Shape{T + 1}, t, DType::F64)).value().to_vector();
    // z_{t_i} is popped with one Gaussian and pushed with another: its bin is `bin`
    // times the smaller of their sigmas.
    for (int64_t i = 0; i <= T; ++i) {
        const double popped = i == 0 ? item(sigma(host_scalar(gamma_[0])))
                                     : transition_sigma(gamma_[size_t(i - 1)], gamma_[size_t(i)]);
        const double pushed = i == T ? 1.0 : reverse_sigma(gamma_[size_t(i)], gamma_[size_t(i + 1)]);
        grids_.emplace_back(options.bin * std::fmin(popped, pushed), options.range);
    }
}

std::vector<double> BitsBackCoder::eps_hat(const std::vector<double>& z_t, int64_t i) const {
    const Device device = model_.device();
    Var z(Tensor::from_vector(model_.image_shape(1), z_t, model_.dtype, device));
    Var gamma(Tensor::full(Shape{1}, gamma_[size_t(i)], model_.dtype, device));
    return model_.net.forward(z, gamma).value().to_vector();
}

ImageCode BitsBackCoder::encode(RansStack& stack, const uint8_t* pixels) const {
    return walk(pixels, &stack, nullptr);
}

ImageCode BitsBackCoder::sample_bound(const uint8_t* pixels, Rng& rng) const { return walk(pixels, nullptr, &rng); }

ImageCode BitsBackCoder::walk(const uint8_t* pixels, RansStack* stack, Rng* rng) const {
    NoGradGuard no_grad;
    const Shape shape = model_.image_shape(1);
    const int64_t D = model_.image_size(), T = options_.T;
    const double start_bits = stack ? stack->net_bits() : 0.0;
    // A latent drawn from its q: popped from the stack, or drawn by the Rng and rounded
    // to the grid; one coded with its p: pushed onto the stack, if there is one.
    auto draw = [&](const LatentGrid& grid, const Gaussians& q) {
        if (stack) return pop_latent(*stack, grid, q, Whiten::Yes);
        std::vector<int64_t> z(size_t(D), 0);
        for (size_t d = 0; d < z.size(); ++d) z[d] = grid.nearest(q.mean[d] + q.sigma * rng->normal());
        return z;
    };
    auto code = [&](const LatentGrid& grid, const Gaussians& p, const std::vector<int64_t>& z) {
        if (stack) push_latent(*stack, grid, p, z, Whiten::No);
    };
    Var x(vdm::encode(pixels, shape, DType::F64));
    ImageCode terms;

    const Gaussians q0 = marginal(x, gamma_[0]);
    std::vector<int64_t> z = draw(grids_[0], q0);  // z_0 ~ q(z_0 | x)
    std::vector<double> z_value = grid_values(grids_[0], z);
    terms.trajectory += q0.log_density(z_value);

    const PixelCdfs decoder = pixel_cdfs(z_value, gamma_[0]);  // x with p(x | z_0)
    const std::vector<int64_t> x_symbols(pixels, pixels + D);
    if (stack) push_pixels(x_symbols, [&](size_t d, int64_t v) { push_symbol(*stack, decoder.at(d), v); });
    for (int64_t d = 0; d < D; ++d) terms.recon -= decoder.log_p[size_t(d * kPixelValues + x_symbols[size_t(d)])];
    terms.trajectory += terms.recon;

    for (int64_t i = 1; i <= T; ++i) {
        const double gamma_s = gamma_[size_t(i - 1)], gamma_t = gamma_[size_t(i)];
        const Gaussians q = transition(z_value, shape, gamma_s, gamma_t);
        const std::vector<int64_t> z_t = draw(grids_[size_t(i)], q);  // z_t ~ q(z_t | z_s)
        const std::vector<double> z_t_value = grid_values(grids_[size_t(i)], z_t);
        terms.trajectory += q.log_density(z_t_value);

        Var z_t_var = host_var(z_t_value, shape), eps = host_var(eps_hat(z_t_value, i), shape);
        const Gaussians p = reverse(z_t_var, eps, gamma_s, gamma_t);
        code(grids_[size_t(i - 1)], p, z);  // z_s with p(z_s | z_t)
        terms.trajectory -= p.log_density(z_value);
        // KL(q(z_s | z_t, x) || p(z_s | z_t)): the discrete term of one step (T = 1)
        Var gt = host_scalar(gamma_t);
        terms.diffusion += item(diffusion_loss_discrete(eps_from_x(z_t_var, gt, x), eps, gt, host_scalar(gamma_s), 1));
        z = z_t, z_value = z_t_value;
    }

    const Gaussians prior = standard_normal(D);
    code(grids_[size_t(T)], prior, z);  // z_1 with N(0, I)
    terms.trajectory -= prior.log_density(z_value);
    terms.prior = item(prior_kl(reshape(x, Shape{1, D}), host_scalar(gamma_[size_t(T)])));
    if (stack) terms.code_length = (stack->net_bits() - start_bits) * std::log(2.0);
    return terms;
}

std::vector<uint8_t> BitsBackCoder::decode(RansStack& stack) const {
    NoGradGuard no_grad;
    const Shape shape = model_.image_shape(1);
    const int64_t D = model_.image_size(), T = options_.T;

    std::vector<int64_t> z = pop_latent(stack, grids_[size_t(T)], standard_normal(D), Whiten::No);
    std::vector<double> z_value = grid_values(grids_[size_t(T)], z);
    for (int64_t i = T; i >= 1; --i) {
        const double gamma_s = gamma_[size_t(i - 1)], gamma_t = gamma_[size_t(i)];
        const Gaussians p = reverse(host_var(z_value, shape), host_var(eps_hat(z_value, i), shape), gamma_s, gamma_t);
        const std::vector<int64_t> z_s = pop_latent(stack, grids_[size_t(i - 1)], p, Whiten::No);
        const std::vector<double> z_s_value = grid_values(grids_[size_t(i - 1)], z_s);
        push_latent(stack, grids_[size_t(i)], transition(z_s_value, shape, gamma_s, gamma_t), z, Whiten::Yes);
        z = z_s, z_value = z_s_value;
    }

    const PixelCdfs decoder = pixel_cdfs(z_value, gamma_[0]);
    const std::vector<int64_t> x_symbols =
        pop_pixels(size_t(D), [&](size_t d) { return pop_symbol(stack, decoder.at(d)); });
    std::vector<uint8_t> pixels(x_symbols.begin(), x_symbols.end());
    push_latent(stack, grids_[0], marginal(Var(vdm::encode(pixels.data(), shape, DType::F64)), gamma_[0]), z,
                Whiten::Yes);
    return pixels;
}

namespace {

struct Fnv1a {
    uint64_t hash = 14695981039346656037ull;
    void bytes(const void* data, size_t size) {
        const auto* p = static_cast<const uint8_t*>(data);
        for (size_t k = 0; k < size; ++k) hash = (hash ^ p[k]) * 1099511628211ull;
    }
    void number(double v) { bytes(&v, sizeof v); }
    void numbers(const std::vector<double>& v) { bytes(v.data(), v.size() * sizeof(double)); }
};

}  // namespace

uint64_t model_fingerprint(const Vdm& model) {
    Fnv1a h;
    for (const Parameter& p : model.parameters()) {
        h.bytes(p.name.data(), p.name.size());
        for (int64_t k = 0; k < p.var.ndim(); ++k) h.number(double(p.var.dim(k)));
        h.numbers(p.var.value().to_vector());
    }
    return h.hash;
}

uint64_t BitsBackCoder::computation_fingerprint() const {
    NoGradGuard no_grad;
    const int64_t D = model_.image_size(), T = options_.T;
    std::vector<double> z(size_t(D), 0.0);
    for (int64_t d = 0; d < D; ++d) z[size_t(d)] = normal_at(0x5eedf00d, uint64_t(d));
    Fnv1a h;
    h.numbers(gamma_);
    h.numbers(eps_hat(z, (T + 1) / 2));
    h.numbers(pixel_cdfs(z, gamma_[0]).cumulative);
    for (int64_t d = 0; d < D; ++d) {  // Phi through erfc, quantized as the coder does
        const LatentGrid& grid = grids_[size_t(d % (T + 1))];
        const GaussianWindow window(grid, z[size_t(d)], grid.bin * double(1 + d % 97));
        h.number(double(quantized_cdf(window, window.width * (d % 13) / 12)));
    }
    return h.hash;
}

}  // namespace vdm
