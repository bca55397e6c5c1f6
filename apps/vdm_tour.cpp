// vdm_tour: one test image through a trained VDM (its EMA weights).
//  1. The image's three bound terms in bits per dimension, computed exactly as
//     `vdm_eval --index K --seed S` computes them (evaluate_bpd on that image alone,
//     noise from Rng(S)), and the time t that one-sample estimate drew.
//  2. For each chosen time t: gamma(t), alpha_t, sigma_t, SNR, log SNR and the
//     diffusion integrand 0.5 gamma'(t) |eps - eps_hat|^2 (vdm/integrand.h) with the
//     bound's own eps, and its share of the diffusion term, which is the integral of
//     the integrand over t in [0, 1] (docs/vdm.md#continuous-time-loss); the integral
//     is estimated on a midpoint grid and shown next to the bound's one-sample value.
//  3. A PNG strip: top row x, then z_t at each time; bottom row x, then the network's
//     estimate x_hat = (z_t - sigma_t eps_hat) / alpha_t.
// Notes go to stderr; the last stdout line is JSON.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "apps/common/checkpoint_path.h"
#include "apps/common/device.h"
#include "apps/common/data_flags.h"
#include "apps/common/flags.h"
#include "datasets/png.h"
#include "tensor/parse_number.h"
#include "vdm/bpd.h"
#include "vdm/checkpoint.h"
#include "vdm/integrand.h"

using namespace vdm;

namespace {

// "0.05,0.2" -> {0.05, 0.2}, each in [0, 1].
std::vector<double> parse_times(const std::string& text) {
    std::vector<double> times;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        double t = 0.0;
        VDM_CHECK(parse_double(item, &t), "--times: '", item, "' is not a number");
        VDM_CHECK(t >= 0.0 && t <= 1.0, "--times: ", item, " is outside [0, 1]");
        times.push_back(t);
    }
    VDM_CHECK(!times.empty() && text.back() != ',', "--times: '", text,
              "' is not a comma-separated list of times");
    VDM_CHECK(times.size() <= 64, "--times: ", times.size(), " times, at most 64");
    return times;
}

// Values in the encoder's space to pixels: the encoder's inverse, v -> (v + 1) 128 - 0.5,
// rounded and clamped to 0..255 (so f(p) maps back to p; |v| > 1 saturates).
std::vector<uint8_t> to_pixels(const Tensor& values) {
    const std::vector<double> v = values.to_vector();
    std::vector<uint8_t> out(v.size());
    for (size_t k = 0; k < v.size(); ++k)
        out[k] = uint8_t(std::clamp(std::round((v[k] + 1.0) * 128.0 - 0.5), 0.0, 255.0));
    return out;
}

// Nearest-neighbour enlargement of an interleaved (height, width, channels) image.
std::vector<uint8_t> enlarge(const std::vector<uint8_t>& image, int64_t& width, int64_t& height,
                             int64_t channels, int64_t scale) {
    if (scale == 1) return image;
    std::vector<uint8_t> out(size_t(width * height * channels * scale * scale));
    for (int64_t r = 0; r < height * scale; ++r)
        for (int64_t c = 0; c < width * scale; ++c)
            for (int64_t k = 0; k < channels; ++k)
                out[size_t((r * width * scale + c) * channels + k)] =
                    image[size_t(((r / scale) * width + c / scale) * channels + k)];
    width *= scale;
    height *= scale;
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        std::string ckpt, split = "test", out = "tour.png";
        std::string times_flag = "0.05,0.2,0.4,0.6,0.8,0.95";
        int64_t index = 0, seed = 0, grid = 100, scale = 1;
        Flags flags("vdm_tour", "one image through a trained VDM: its bound, the diffusion "
                                "integrand at chosen times, and a PNG strip of x, z_t and x_hat");
        flags.group("input");
        flags.add("ckpt", &ckpt, "checkpoint file, or a run folder, written by train_mnist (required)");
        flags.add("index", &index, 0, INT64_MAX, "which image of the split");
        flags.add_choice("split", &split, {"test", "val"}, "test set, or the run's validation split");
        DataFlags data_flags(flags);
        flags.group("tour");
        flags.add("times", &times_flag, "comma-separated times in [0, 1] for the table and the strip");
        flags.add("seed", &seed, 0, INT64_MAX, "seed of the noise (the same as vdm_eval --index --seed)");
        flags.add("grid", &grid, 1, 100000, "midpoint-grid points for the integral of the integrand");
        flags.group("output");
        flags.add("out", &out, "the PNG strip to write");
        flags.add("scale", &scale, 1, 16, "enlarge the strip by this factor (nearest neighbour)");
        DeviceFlags device_flags(flags);
        if (!flags.parse(argc, argv)) return 0;
        VDM_CHECK(!ckpt.empty(), "--ckpt is required (see --help)");
        VDM_CHECK(!out.empty(), "--out: empty path");
        const std::vector<double> times = parse_times(times_flag);
        const Device device = device_flags.select();
        ckpt = resolve_checkpoint(ckpt);

        TrainedModel trained = load_ema_model(ckpt, device);
        const Vdm& model = *trained.model;
        const RunConfig& cfg = trained.config;
        const std::string dir = data_flags.resolve(cfg.train.dataset);
        Dataset data = load_split(dir, split == "test" ? Split::Test : Split::Train);
        VDM_CHECK(data.image_size() == model.image_size(), "the data's images have ",
                  data.image_size(), " values, the model's ", model.image_size());
        int64_t data_index = index;
        if (split == "test") {
            VDM_CHECK(index < data.n, "--index ", index, " is outside the ", data.n,
                      " images of the test split");
        } else {
            const std::vector<int64_t> val =
                train_val_split(data.n, cfg.train.val_fraction, split_seed(cfg.train.seed)).val;
            VDM_CHECK(index < int64_t(val.size()), "--index ", index, " is outside the ", val.size(),
                      " images of the val split");
            data_index = val[size_t(index)];
        }
        const int64_t D = model.image_size();
        std::vector<uint8_t> pixels(static_cast<size_t>(D));
        gather_images(data, {data_index}, pixels.data());
        std::fprintf(stderr, "%s: step %lld; image %lld of the %s split (data index %lld) of %s on %s\n",
                     ckpt.c_str(), (long long)trained.step, (long long)index, split.c_str(),
                     (long long)data_index, dir.c_str(), device_description(device).c_str());

        // 1. The bound, as vdm_eval --index computes it, and the time its estimate drew.
        const BpdEstimate e = evaluate_bpd(model, data, {data_index}, 1, uint64_t(seed));
        Rng noise_rng(static_cast<uint64_t>(seed));
        const double t_bound = model.draw_noise(1, noise_rng).t.to_vector()[0];
        const bool continuous = model.config.loss == "continuous";
        const double at_t_bound =
            nats_to_bpd(diffusion_integrand(model, pixels.data(), 1, {t_bound}, uint64_t(seed)).item(), D);

        // 2. The integrand on the grid and at the chosen times, with the bound's eps.
        std::fprintf(stderr, "integrand on a %lld-point grid ...\n", (long long)grid);
        const std::vector<double> grid_values =
            diffusion_integrand(model, pixels.data(), 1, midpoint_times(grid), uint64_t(seed)).to_vector();
        double grid_sum = 0.0;
        for (double v : grid_values) grid_sum += v;
        const double diffusion_grid = nats_to_bpd(grid_sum / double(grid), D);
        const Tensor eps = integrand_noise(model, 0, 1, uint64_t(seed));
        std::vector<DenoisedAt> at;
        for (double t : times) at.push_back(denoise_at(model, pixels.data(), 1, t, eps));

        std::printf("image %lld of the %s split (data index %lld), checkpoint step %lld, seed %lld\n",
                    (long long)index, split.c_str(), (long long)data_index, (long long)trained.step,
                    (long long)seed);
        std::printf("bound in bits/dim (as vdm_eval --index %lld --seed %lld): prior %.6f + recon %.6f "
                    "+ diffusion %.6f = %.6f\n",
                    (long long)index, (long long)seed, e.prior, e.recon, e.diffusion, e.bpd);
        if (continuous) {
            std::printf("its diffusion term is one sample: the integrand at t = %.6f, %.6f bits/dim\n",
                        t_bound, at_t_bound);
        } else {
            std::printf("its diffusion term is the discrete-time L_T (T = %lld) at one step; the "
                        "integrand below is the continuous-time one\n", (long long)model.discrete_steps());
        }
        std::printf("the diffusion term from a %lld-point midpoint grid of the integrand (same eps): "
                    "%.6f bits/dim\n\n", (long long)grid, diffusion_grid);
        std::printf("%6s %9s %9s %9s %10s %8s %12s %8s\n", "t", "gamma(t)", "alpha_t", "sigma_t",
                    "SNR", "log SNR", "integrand", "share");
        for (const DenoisedAt& a : at) {
            const ScheduleValues& s = a.schedule;
            const double integrand = nats_to_bpd(a.integrand.item(), D);
            std::printf("%6.3f %9.4f %9.6f %9.6f %10.4g %8.4f %12.6f %8.4f\n", s.t, s.gamma, s.alpha,
                        s.sigma, s.snr, s.log_snr, integrand, integrand / diffusion_grid);
        }
        std::printf("\nintegrand: 0.5 gamma'(t) |eps - eps_hat|^2 in bits/dim per unit t; share: "
                    "integrand / the grid's diffusion term (its mean over t is 1)\n");

        // 3. The strip: (2, 1 + times) cells, x at the left of both rows.
        const int64_t C = model.config.net.image_channels, H = model.config.net.height,
                      W = model.config.net.width, cols = 1 + int64_t(times.size());
        std::vector<uint8_t> cells(pixels);
        for (const DenoisedAt& a : at) {
            const std::vector<uint8_t> z = to_pixels(a.z_t);
            cells.insert(cells.end(), z.begin(), z.end());
        }
        cells.insert(cells.end(), pixels.begin(), pixels.end());
        for (const DenoisedAt& a : at) {
            const std::vector<uint8_t> x_hat = to_pixels(a.x_hat);
            cells.insert(cells.end(), x_hat.begin(), x_hat.end());
        }
        int64_t width = 0, height = 0;
        std::vector<uint8_t> strip =
            tile_images(cells.data(), 2 * cols, C, H, W, cols, 2, 128, width, height);
        strip = enlarge(strip, width, height, C, scale);
        write_png(out, strip.data(), width, height, int(C));
        std::fprintf(stderr, "wrote %s (%lldx%lld): top row x, z_t; bottom row x, x_hat\n",
                     out.c_str(), (long long)width, (long long)height);
        report_device_memory(device);

        std::printf("{\"index\": %lld, \"split\": \"%s\", \"data_index\": %lld, \"seed\": %lld, "
                    "\"step\": %lld, \"bpd\": %.6f, \"prior\": %.6f, \"recon\": %.6f, "
                    "\"diffusion\": %.6f, \"loss\": \"%s\", \"t_bound\": %.6f, "
                    "\"integrand_at_t_bound\": %.6f, \"grid\": %lld, \"diffusion_grid\": %.6f, "
                    "\"times\": [",
                    (long long)index, split.c_str(), (long long)data_index, (long long)seed,
                    (long long)trained.step, e.bpd, e.prior, e.recon, e.diffusion,
                    model.config.loss.c_str(), t_bound, at_t_bound, (long long)grid, diffusion_grid);
        for (size_t j = 0; j < at.size(); ++j) {
            const ScheduleValues& s = at[j].schedule;
            const double integrand = nats_to_bpd(at[j].integrand.item(), D);
            std::printf("%s{\"t\": %.6g, \"gamma\": %.6f, \"alpha\": %.6g, \"sigma\": %.6g, "
                        "\"snr\": %.6g, \"integrand\": %.6f, \"share\": %.6f}",
                        j ? ", " : "", s.t, s.gamma, s.alpha, s.sigma, s.snr, integrand,
                        integrand / diffusion_grid);
        }
        std::printf("], \"strip\": \"%s\", \"width\": %lld, \"height\": %lld, \"device\": \"%s\"}\n",
                    out.c_str(), (long long)width, (long long)height, device_name(device));
        return 0;
    });
}
