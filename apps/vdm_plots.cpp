// vdm_plots: the figures of docs/vdm.md, as SVG files in --out.
//   schedule_gamma.svg  gamma(t) of each checkpoint's noise schedule (--ckpt, --ckpt2)
//   schedule_snr.svg    SNR(t) = exp(-gamma(t)) on a log axis (so the curve is log SNR)
//   bits.svg            where the bits come from: the diffusion integrand
//                       0.5 gamma'(t) |eps - eps_hat|^2 in bits per dimension per unit t,
//                       averaged over the first --n test images, on a --grid midpoint
//                       grid of t, for --ckpt. Its area is the diffusion term.
// A summary goes to stderr; the last stdout line is JSON.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "apps/common/checkpoint_path.h"
#include "apps/common/device.h"
#include "apps/common/data_flags.h"
#include "apps/common/flags.h"
#include "apps/common/run_plots.h"
#include "datasets/svg_plot.h"
#include "vdm/bpd.h"
#include "vdm/checkpoint.h"
#include "vdm/integrand.h"

using namespace vdm;

namespace {

// A JSON string literal (paths may hold quotes or backslashes).
std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        std::string ckpt, ckpt2, out = "figures";
        int64_t n = 200, grid = 100, seed = 0;
        Flags flags("vdm_plots", "the figures of docs/vdm.md: noise schedules and where the bits come from");
        flags.group("input");
        flags.add("ckpt", &ckpt, "checkpoint file, or a run folder, written by train_mnist (required): schedule and bits plots");
        flags.add("ckpt2", &ckpt2, "a second checkpoint (file, or a run folder) whose schedule is drawn beside the first");
        DataFlags data_flags(flags);
        flags.group("bits.svg");
        flags.add("n", &n, 1, 10000, "test images averaged in bits.svg");
        flags.add("grid", &grid, 2, 10000, "midpoint times t = (j + 0.5) / grid in bits.svg");
        flags.add("seed", &seed, 0, INT64_MAX, "seed of the noise eps (one eps per image, used at every t)");
        flags.group("output");
        flags.add("out", &out, "folder for the SVG files (created if missing)");
        DeviceFlags device_flags(flags);
        if (!flags.parse(argc, argv)) return 0;
        VDM_CHECK(!ckpt.empty(), "--ckpt is required (see --help)");
        VDM_CHECK(!out.empty(), "--out is empty");
        const Device device = device_flags.select();
        ckpt = resolve_checkpoint(ckpt);
        ckpt2 = resolve_checkpoint(ckpt2);

        TrainedModel first = load_ema_model(ckpt, device);
        TrainedModel second;
        if (!ckpt2.empty()) second = load_ema_model(ckpt2, device);
        const std::string dir = data_flags.resolve(first.config.train.dataset);
        Dataset data = load_split(dir, Split::Test);
        VDM_CHECK(n <= data.n, "--n ", n, " exceeds the ", data.n, " test images of ", dir);
        VDM_CHECK(data.image_size() == first.model->image_size(), dir, ": images of ", data.channels,
                  "x", data.height, "x", data.width, " do not fit the model of ", ckpt);
        std::error_code ec;
        VDM_CHECK(!std::filesystem::exists(out) || std::filesystem::is_directory(out), "--out ", out,
                  " is a file, not a folder");
        std::filesystem::create_directories(out, ec);
        VDM_CHECK(std::filesystem::is_directory(out), "--out ", out, ": cannot create the folder (",
                  ec.message(), ")");
        std::vector<std::string> written;
        auto path_of = [&](const std::string& name) { return (std::filesystem::path(out) / name).string(); };

        // --- the schedules
        std::vector<ScheduleCurve> curves;
        std::string label1 = first.config.model.schedule, label2;
        if (second.model) {
            label2 = second.config.model.schedule;
            if (label2 == label1) {  // two of a kind: tell them apart by step
                label1 += " (step " + std::to_string(first.step) + ")";
                label2 += " (step " + std::to_string(second.step) + ")";
            }
        }
        curves.push_back(schedule_curve(*first.model->schedule, label1, 201));
        if (second.model) curves.push_back(schedule_curve(*second.model->schedule, label2, 201));
        LinePlot gamma_plot, snr_plot;
        gamma_plot.title = "noise schedule \u03b3(t) = \u2212log SNR(t)";
        gamma_plot.x_label = "t";
        gamma_plot.y_label = "\u03b3(t)";
        snr_plot.title = "signal-to-noise ratio SNR(t) = exp(\u2212\u03b3(t))";
        snr_plot.x_label = "t";
        snr_plot.y_label = "SNR(t), log scale";
        snr_plot.log_y = true;
        for (const ScheduleCurve& c : curves) {
            gamma_plot.series.push_back({c.label, c.t, c.gamma});
            snr_plot.series.push_back({c.label, c.t, c.snr});
            std::fprintf(stderr, "schedule %-22s gamma(0) = %8.4f, gamma(1) = %8.4f, SNR from %.4g to %.4g\n",
                         c.label.c_str(), c.gamma.front(), c.gamma.back(), c.snr.front(), c.snr.back());
        }
        for (auto [name, plot] : {std::make_pair("schedule_gamma.svg", &gamma_plot),
                                  std::make_pair("schedule_snr.svg", &snr_plot)}) {
            write_svg_line_plot(path_of(name), *plot);
            written.push_back(path_of(name));
        }

        // --- where the bits come from: the integrand on a midpoint grid, mean over images
        const std::vector<double> times = midpoint_times(grid);
        const int64_t D = first.model->image_size();
        std::fprintf(stderr, "%s: step %lld; diffusion integrand of %lld test images at %lld times "
                     "(%lld forward passes) on %s\n", ckpt.c_str(), (long long)first.step,
                     (long long)n, (long long)grid, (long long)(n * grid),
                     device_description(device).c_str());
        auto start = std::chrono::steady_clock::now();
        const Tensor integrand = diffusion_integrand(*first.model, data.images.data(), n, times,
                                                     uint64_t(seed));  // (n, grid) nats
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double* v = integrand.data<double>();
        std::vector<double> mean_bpd(size_t(grid), 0.0);  // per unit t
        std::vector<double> per_image(size_t(n), 0.0);    // midpoint-rule integral, bpd
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < grid; ++j) {
                const double bpd = nats_to_bpd(v[i * grid + j], D);
                mean_bpd[size_t(j)] += bpd / double(n);
                per_image[size_t(i)] += bpd / double(grid);
            }
        double total = 0.0, spread = 0.0;
        for (double b : per_image) total += b / double(n);
        for (double b : per_image) spread += (b - total) * (b - total);
        const double stderr_bpd = n > 1 ? std::sqrt(spread / double(n - 1) / double(n)) : 0.0;

        LinePlot bits_plot;
        bits_plot.title = "where the bits come from (mean of " + std::to_string(n) + " test images)";
        bits_plot.x_label = "t";
        bits_plot.y_label = "\u00bd \u03b3\u2032(t) |\u03b5 \u2212 \u03b5\u0302|\u00b2 in bits/dim per unit t";
        bits_plot.y_from_zero = true;  // the area under the curve is the diffusion term
        bits_plot.series.push_back({first.config.model.schedule + ", step " + std::to_string(first.step),
                                    times, mean_bpd});
        write_svg_line_plot(path_of("bits.svg"), bits_plot);
        written.push_back(path_of("bits.svg"));

        // Summary: the estimate, the share of it in each quarter of [0, 1], the peak.
        std::fprintf(stderr, "diffusion term %.4f +- %.4f bpd (mean over %lld images of the "
                     "midpoint rule on %lld times; %.1f s)\n",
                     total, stderr_bpd, (long long)n, (long long)grid, seconds);
        double quarter[4] = {0, 0, 0, 0};
        for (int64_t j = 0; j < grid; ++j)
            quarter[std::min(3, int(4.0 * times[size_t(j)]))] += mean_bpd[size_t(j)] / double(grid);
        std::fprintf(stderr, "share of the diffusion term by t: [0, .25) %.1f%%, [.25, .5) %.1f%%, "
                     "[.5, .75) %.1f%%, [.75, 1] %.1f%%\n",
                     100 * quarter[0] / total, 100 * quarter[1] / total, 100 * quarter[2] / total,
                     100 * quarter[3] / total);
        const size_t peak = size_t(std::max_element(mean_bpd.begin(), mean_bpd.end()) - mean_bpd.begin());
        std::fprintf(stderr, "integrand peaks at t = %.3f: %.4f bpd per unit t\n", times[peak],
                     mean_bpd[peak]);
        for (const std::string& f : written) std::fprintf(stderr, "wrote %s\n", f.c_str());
        report_device_memory(device);

        std::string files;
        for (const std::string& f : written) files += (files.empty() ? "" : ", ") + json_string(f);
        std::printf("{\"files\": [%s], \"diffusion_bpd\": %.6f, \"diffusion_bpd_stderr\": %.6f, "
                    "\"peak_t\": %.4f, \"n\": %lld, \"grid\": %lld, \"seed\": %lld, \"step\": %lld, "
                    "\"ckpt\": %s, \"device\": \"%s\", \"seconds\": %.1f}\n",
                    files.c_str(), total, stderr_bpd, times[peak], (long long)n, (long long)grid,
                    (long long)seed, (long long)first.step, json_string(ckpt).c_str(),
                    device_name(device), seconds);
        return 0;
    });
}
