// codec/: the rANS stack on known distributions, the quantized CDFs, Gaussians on
// windows of a latent grid with their escape, and the .vdmz file's checks.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

#include "codec/quantized.h"
#include "codec/vdmz_file.h"
#include "tensor/error.h"
#include "tensor/rng.h"

using namespace vdm;

namespace {

// A categorical from its probabilities.
struct Known {
    std::vector<double> cumulative;
    explicit Known(const std::vector<double>& p) : cumulative{0.0} {
        for (double q : p) cumulative.push_back(cumulative.back() + q);
        cumulative.back() = 1.0;
    }
    Categorical dist() const { return {cumulative.data(), int64_t(cumulative.size()) - 1}; }
};

double entropy_bits(const std::vector<double>& p) {
    double h = 0;
    for (double q : p) h -= q * std::log2(q);
    return h;
}

double log_normal_density(double z, double mean, double sigma) {
    const double u = (z - mean) / sigma;
    return -0.5 * u * u - std::log(sigma) - 0.5 * std::log(2 * M_PI);
}

}  // namespace

TEST_CASE("rANS: symbols drawn from p cost their entropy, and pop back in reverse") {
    const std::vector<double> p = {0.5, 0.25, 0.125, 0.0625, 0.0625};
    const Known known(p);
    Rng rng(1);
    RansStack stack(7);
    std::vector<int64_t> symbols;
    for (int k = 0; k < 100000; ++k) {
        const double u = rng.uniform();
        int64_t s = 0;
        while (u >= known.cumulative[size_t(s + 1)]) ++s;
        symbols.push_back(s);
        push_symbol(stack, known.dist(), s);
    }
    double ideal = 0;  // the sample's own code length under p
    for (int64_t s : symbols) ideal -= std::log2(p[size_t(s)]);
    CHECK(stack.net_bits() == doctest::Approx(ideal).epsilon(1e-4));
    CHECK(ideal / double(symbols.size()) == doctest::Approx(entropy_bits(p)).epsilon(0.01));
    for (auto s = symbols.rbegin(); s != symbols.rend(); ++s) REQUIRE(pop_symbol(stack, known.dist()) == *s);
    CHECK(stack.at_start());
    CHECK(stack.initial_words_read() == 0);
}

TEST_CASE("rANS: pops from an empty stack borrow initial words, and pushing back returns them") {
    const Known known({0.3, 0.3, 0.2, 0.1, 0.1});
    RansStack stack(11);
    std::vector<int64_t> drawn;
    for (int k = 0; k < 5000; ++k) drawn.push_back(pop_symbol(stack, known.dist()));
    CHECK(stack.initial_words_read() > 100);
    CHECK(stack.net_bits() < 0);
    CHECK_FALSE(stack.at_start());
    for (auto s = drawn.rbegin(); s != drawn.rend(); ++s) push_symbol(stack, known.dist(), *s);
    CHECK(stack.at_start());
    CHECK(stack.net_bits() == doctest::Approx(0.0).epsilon(1e-9));
    // A stack rebuilt from its parts (as a file stores them) behaves the same.
    RansStack copy(11, stack.state(), stack.words(), stack.initial_words_read());
    CHECK(copy.at_start());
    RansStack other_seed(12, stack.state(), stack.words(), stack.initial_words_read());
    CHECK_FALSE(other_seed.at_start());
}

TEST_CASE("rANS: whitening is its own inverse and keeps the code length") {
    const Known known({0.5, 0.3, 0.2});
    RansStack stack(4);
    Rng rng(6);
    for (int k = 0; k < 1000; ++k) push_symbol(stack, known.dist(), int64_t(rng.below(3)));
    const RansState before = stack.state();
    const double bits = stack.net_bits();
    stack.whiten();
    CHECK(stack.state() != before);
    CHECK((stack.state() >> kRansPrecision) == (before >> kRansPrecision));  // only the slot bits change
    CHECK(stack.net_bits() == doctest::Approx(bits).epsilon(1e-9));
    stack.whiten();
    CHECK(stack.state() == before);
}

TEST_CASE("rANS: pops from random bits draw symbols with the distribution's frequencies") {
    Rng rng(3);
    RansStack stack(5);
    const Known uniform_bytes(std::vector<double>(256, 1.0 / 256));
    for (int k = 0; k < 200000; ++k) push_symbol(stack, uniform_bytes.dist(), int64_t(rng.below(256)));
    const std::vector<double> p = {0.7, 0.2, 0.1};
    const Known known(p);
    std::vector<double> count(3, 0.0);
    const int n = 100000;
    for (int k = 0; k < n; ++k) count[size_t(pop_symbol(stack, known.dist()))] += 1;
    for (size_t s = 0; s < 3; ++s) CHECK(count[s] / n == doctest::Approx(p[s]).epsilon(0.02));
}

TEST_CASE("quantized CDF: every symbol gets a slot, the slots fill M, widths follow the masses") {
    const LatentGrid grid(0.01, 2.0);
    const GaussianWindow window(grid, 0.123, 0.05);
    REQUIRE(window.size() == window.width + 1);  // window values and the escape
    CHECK(window.width == 2 * int64_t(std::ceil(kWindowSigmas * 0.05 / 0.01)) + 1);
    uint64_t total = 0;
    for (int64_t p = 0; p < window.size(); ++p) {  // slot order
        const RansInterval s = symbol_interval(window, p);
        CHECK(s.freq >= 1);
        CHECK(s.start == total);
        total += s.freq;
    }
    CHECK(total == kRansTotal);
    for (int64_t k = 0; k < window.width; ++k) {
        const RansInterval s = symbol_interval(window, window.position(k));
        const double z = grid.value(window.lo + k);
        const double mass = 0.5 * (std::erfc(-(z + 0.005 - 0.123) / (0.05 * std::sqrt(2.0))) -
                                   std::erfc(-(z - 0.005 - 0.123) / (0.05 * std::sqrt(2.0))));
        if (mass > 1e-3) CHECK(double(s.freq) / double(kRansTotal) == doctest::Approx(mass).epsilon(1e-6));
    }
    CHECK(symbol_interval(window, window.escape).freq < 10);  // the tails beyond 8 sigma
    // The escape's place in slot order follows the mean, so escapes of different
    // Gaussians do not share slots.
    int at_end = 0;
    for (int m = 0; m < 20; ++m) at_end += GaussianWindow(grid, 0.01 * m, 0.05).escape == window.width;
    CHECK(at_end < 5);
}

TEST_CASE("a window at the grid's edge, and one that covers the whole grid, has no lost symbols") {
    const LatentGrid grid(0.1, 1.0);  // 21 values
    const GaussianWindow edge(grid, 0.95, 0.05);
    CHECK(edge.lo + edge.width == grid.size());
    const GaussianWindow whole(grid, 0.0, 1.0);
    CHECK(whole.width == grid.size());
    CHECK(whole.size() == grid.size());  // no escape: nothing lies outside
    CHECK(quantized_cdf(whole, whole.size()) == kRansTotal);
}

TEST_CASE("push_latent and pop_latent undo each other, escapes included") {
    Rng rng(9);
    std::vector<LatentGrid> grids;
    for (int g = 0; g < 3; ++g) grids.emplace_back(1e-3 * (g + 1), 4.0);
    int escapes = 0;
    for (int trial = 0; trial < 100; ++trial) {
        RansStack stack{uint64_t(trial)};
        struct Op {
            bool pop;
            int grid;
            double mean, sigma;
            int64_t j;
        };
        std::vector<Op> ops;
        for (int k = 0; k < 60; ++k) {
            Op op{rng.uniform() < 0.5, int(rng.below(3)), 3.0 * rng.normal(), 1e-3 * (1 + 50 * rng.uniform()), 0};
            const LatentGrid& grid = grids[size_t(op.grid)];
            if (op.pop) {
                op.j = pop_latent(stack, grid, op.mean, op.sigma);
            } else {  // every tenth value far outside its window: an escape
                const bool far = k % 10 == 0;
                op.j = grid.nearest(op.mean + op.sigma * (far ? 40.0 : rng.normal()));
                const GaussianWindow w(grid, op.mean, op.sigma);
                escapes += op.j < w.lo || op.j >= w.lo + w.width;
                push_latent(stack, grid, op.mean, op.sigma, op.j);
            }
            ops.push_back(op);
        }
        for (auto op = ops.rbegin(); op != ops.rend(); ++op) {
            const LatentGrid& grid = grids[size_t(op->grid)];
            if (op->pop) push_latent(stack, grid, op->mean, op->sigma, op->j);
            else REQUIRE(pop_latent(stack, grid, op->mean, op->sigma) == op->j);
        }
        REQUIRE(stack.at_start());
    }
    CHECK(escapes > 20);
}

TEST_CASE("pop_latent on random bits draws N(mean, sigma^2) on the grid") {
    Rng rng(4);
    RansStack stack(2);
    const Known bytes(std::vector<double>(256, 1.0 / 256));
    for (int k = 0; k < 100000; ++k) push_symbol(stack, bytes.dist(), int64_t(rng.below(256)));
    const LatentGrid grid(0.01 / 16, 8.0);
    double sum = 0, sum_sq = 0, tail = 0;
    const int n = 20000;
    for (int k = 0; k < n; ++k) {
        const double mean = rng.normal();
        const double u = (grid.value(pop_latent(stack, grid, mean, 0.01)) - mean) / 0.01;
        sum += u, sum_sq += u * u, tail += std::fabs(u) > 3;
    }
    CHECK(std::fabs(sum / n) < 0.03);
    CHECK(sum_sq / n == doctest::Approx(1.0).epsilon(0.03));
    CHECK(tail / n == doctest::Approx(0.0027).epsilon(0.5));
}

TEST_CASE("bits-back with the exact posterior codes a latent-variable model at -log p(x)") {
    // y ~ N(0, 1), x | y ~ N(y, s^2), so x ~ N(0, 1 + s^2) and q(y | x) = N(x / (1 + s^2),
    // s^2 / (1 + s^2)) is exact: the bound is -log p(x). Encode: pop y ~ q(y | x), push x
    // with p(x | y), push y with p(y); each image's pops read the bits the previous pushed.
    const double s = 0.1, v = 1 + s * s;
    const LatentGrid x_grid(s / 32, 8.0), y_grid(s / std::sqrt(v) / 32, 8.0);
    Rng rng(8);
    RansStack stack(3);
    std::vector<int64_t> xs;
    double ideal = 0;
    for (int k = 0; k < 3000; ++k) {
        const int64_t x = x_grid.nearest(std::sqrt(v) * rng.normal());
        const double xv = x_grid.value(x);
        xs.push_back(x);
        const int64_t y = pop_latent(stack, y_grid, xv / v, s / std::sqrt(v));
        push_latent(stack, x_grid, y_grid.value(y), s, x);
        push_latent(stack, y_grid, 0.0, 1.0, y);
        ideal -= (log_normal_density(xv, 0.0, std::sqrt(v)) + std::log(x_grid.bin)) / std::log(2.0);
    }
    // the first pops borrow initial words; with them counted as spent, the stack holds -log2 p(x)
    CHECK(stack.net_bits() == doctest::Approx(ideal).epsilon(0.005));
    for (auto x = xs.rbegin(); x != xs.rend(); ++x) {  // decode: the same operations undone
        const int64_t y = pop_latent(stack, y_grid, 0.0, 1.0);
        REQUIRE(pop_latent(stack, x_grid, y_grid.value(y), s) == *x);
        push_latent(stack, y_grid, x_grid.value(*x) / v, s / std::sqrt(v), y);
    }
    CHECK(stack.at_start());
}

TEST_CASE("vdmz file: written and read back equal; truncated, damaged, foreign files refused") {
    VdmzFile f;
    f.model_fingerprint = 0x1234567890abcdefull, f.computation_fingerprint = 42;
    f.images = 3, f.channels = 1, f.rows = 4, f.cols = 4, f.pixels_crc = 0xdeadbeef;
    f.T = 20, f.bin = 1.0 / 16, f.range = 8.0, f.seed = 5;
    f.state = (RansState(1) << 94) + 12345, f.initial_words_read = 2, f.words = {1, 2, 3, 0xffffffffu};
    const std::string path = "test_codec.vdmz";
    const uint64_t bytes = write_vdmz(path, f);
    const VdmzFile g = read_vdmz(path);
    CHECK(g.model_fingerprint == f.model_fingerprint);
    CHECK(g.computation_fingerprint == f.computation_fingerprint);
    CHECK((g.images == 3 && g.channels == 1 && g.rows == 4 && g.cols == 4 && g.pixels_crc == f.pixels_crc));
    CHECK((g.T == 20 && g.bin == f.bin && g.range == f.range && g.seed == 5));
    CHECK(g.state == f.state);
    CHECK(g.initial_words_read == 2);
    CHECK(g.words == f.words);

    const std::vector<uint8_t> good = vdmz_bytes(f);
    REQUIRE(good.size() == bytes);
    auto write = [&](const std::vector<uint8_t>& b) {
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    };
    auto error_of = [&](const std::vector<uint8_t>& b) {
        write(b);
        try {
            read_vdmz(path);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of(std::vector<uint8_t>(good.begin(), good.end() - 5)).find("truncated") != std::string::npos);
    CHECK(error_of(std::vector<uint8_t>(good.begin(), good.begin() + 20)).find("truncated") != std::string::npos);
    for (size_t at : {size_t(9), size_t(60), good.size() - 10}) {  // a flipped bit anywhere
        std::vector<uint8_t> bad = good;
        bad[at] ^= 0x10;
        CHECK(error_of(bad).find("checksum") != std::string::npos);
    }
    std::vector<uint8_t> longer = good;
    longer.push_back(0);
    CHECK(error_of(longer).find("implies") != std::string::npos);
    std::vector<uint8_t> foreign = good;
    foreign[0] = 'X';
    CHECK(error_of(foreign).find("not a vdm_compress file") != std::string::npos);
    std::vector<uint8_t> newer = good;
    newer[4] = 9;
    CHECK(error_of(newer).find("version 9") != std::string::npos);
    std::remove(path.c_str());
}
