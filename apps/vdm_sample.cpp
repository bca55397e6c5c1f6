// vdm_sample: draws samples from a trained VDM (its EMA weights) with one of the
// samplers (apps/common/sample_grid.h: ancestral, ddim, langevin, pc), written as a
// PNG grid and optionally a raw IDX file, on the CPU or (--device cuda) the GPU;
// --trajectory DIR adds one strip per sample of how it formed (vdm/trajectory.h). The
// last stdout line is JSON, with the number of ScoreNet forward passes per batch.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "apps/common/checkpoint_path.h"
#include "apps/common/device.h"
#include "apps/common/flags.h"
#include "apps/common/sample_grid.h"
#include "vdm/checkpoint.h"

using namespace vdm;

int main(int argc, char** argv) {
    return run_app([&] {
        std::string ckpt, out, save_idx, trajectory_dir;
        int64_t n = 64, seed = 0;
        SamplerOptions opt;
        Flags flags("vdm_sample", "draw samples from a trained VDM into a PNG grid");
        flags.group("input");
        flags.add("ckpt", &ckpt, "checkpoint file, or a run folder, written by train_mnist (required)");
        flags.group("sampling");
        flags.add("n", &n, 1, 4096, "number of samples");
        flags.add_choice("sampler", &opt.sampler, sampler_names(), "how to run the reverse process");
        flags.add("steps", &opt.steps, 1, 1000000, "steps N of the time grid t = i/N, i = N..1 (langevin: noise levels)");
        flags.add("eta", &opt.eta, 0.0, 1.0, "ddim: noise of each step, 0 deterministic .. 1 the ancestral step's", true);
        flags.add("langevin-iters", &opt.langevin_iters, 1, 100000, "langevin, pc: Langevin iterations per level");
        flags.add("langevin-snr", &opt.langevin_snr, 0.0, 100.0,
                  "langevin, pc: target signal-to-noise ratio r, step size 2 (r |xi| / |score|)^2 "
                  "(0: 0.5 for langevin, 0.16 for pc)", true);
        flags.add("rtol", &opt.rtol, 0.0, 1.0, "ode: relative tolerance of the adaptive solver");
        flags.add("atol", &opt.atol, 0.0, 1.0, "ode: absolute tolerance of the adaptive solver");
        flags.add("seed", &seed, 0, INT64_MAX, "random seed");
        flags.group("output");
        flags.add("out", &out, "PNG file to write (required)");
        flags.add("save-idx", &save_idx, "also write the samples as a raw IDX file (n, H, W)");
        flags.add("trajectory", &trajectory_dir,
                  "folder for one PNG strip per sample: z_t (top) and x_hat (below) at 8 times t = 1..0 "
                  "(fixed-grid samplers; 8 more network evaluations)");
        DeviceFlags device_flags(flags);
        if (!flags.parse(argc, argv)) return 0;
        VDM_CHECK(!ckpt.empty(), "--ckpt is required (see --help)");
        VDM_CHECK(!out.empty(), "--out is required (see --help)");
        VDM_CHECK(!flags.given("eta") || opt.sampler == "ddim", "--eta applies to --sampler ddim only");
        for (const char* flag : {"langevin-iters", "langevin-snr"})
            VDM_CHECK(!flags.given(flag) || opt.sampler == "langevin" || opt.sampler == "pc", "--", flag,
                      " applies to --sampler langevin or pc only");
        for (const char* flag : {"rtol", "atol"})
            VDM_CHECK(!flags.given(flag) || opt.sampler == "ode", "--", flag, " applies to --sampler ode only");
        VDM_CHECK(!flags.given("steps") || opt.sampler != "ode", "--steps does not apply to --sampler ode (adaptive: --rtol, --atol)");
        VDM_CHECK(trajectory_dir.empty() || opt.sampler != "ode", "--trajectory needs a fixed-grid sampler, not ode");
        const Device device = device_flags.select();
        ckpt = resolve_checkpoint(ckpt);

        TrainedModel trained = load_ema_model(ckpt, device);
        std::string details;
        if (opt.sampler == "ddim") details = ", eta " + std::to_string(opt.eta);
        if (opt.sampler == "ode") details = ", rtol " + std::to_string(opt.rtol) + ", atol " + std::to_string(opt.atol);
        if (opt.sampler == "langevin" || opt.sampler == "pc")
            details = ", " + std::to_string(opt.langevin_iters) + " Langevin iterations per level at r = " +
                      std::to_string(langevin_snr(opt));
        const std::string grid = opt.sampler == "ode" ? "adaptive steps" : std::to_string(opt.steps) + " steps";
        std::fprintf(stderr, "%s: step %lld; drawing %lld samples with %s, %s%s, on %s\n", ckpt.c_str(),
                     (long long)trained.step, (long long)n, opt.sampler.c_str(), grid.c_str(), details.c_str(),
                     device_description(device).c_str());
        Trajectory trajectory;
        if (!trajectory_dir.empty()) {
            std::error_code ec;
            std::filesystem::create_directories(trajectory_dir, ec);
            VDM_CHECK(std::filesystem::is_directory(trajectory_dir), "--trajectory ", trajectory_dir,
                      ": cannot create the folder (", ec.message(), ")");
            opt.observe = trajectory_observer(trajectory, 8);
        }
        auto start = std::chrono::steady_clock::now();
        Samples samples = draw_samples(*trained.model, n, uint64_t(seed), opt);
        finish_work(device);
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        write_png_grid(image_dims(*trained.model), samples.images, n, out);
        std::fprintf(stderr, "wrote %s\n", out.c_str());
        if (!save_idx.empty()) {
            write_idx_images(image_dims(*trained.model), samples.images, n, save_idx);
            std::fprintf(stderr, "wrote %s\n", save_idx.c_str());
        }
        if (!trajectory_dir.empty()) {
            const int64_t frames = int64_t(trajectory.times.size());
            for (int64_t i = 0; i < n; ++i)
                write_png_grid(image_dims(*trained.model),
                               trajectory_strip(trajectory, i, trained.model->image_size()), 2 * frames,
                               trajectory_dir + "/sample_" + std::to_string(i) + ".png", frames);
            std::string times;
            for (double t : trajectory.times) times += (times.empty() ? "" : " ") + std::to_string(t).substr(0, 5);
            std::fprintf(stderr, "wrote %lld strips to %s (z_t above x_hat at t = %s)\n", (long long)n,
                         trajectory_dir.c_str(), times.c_str());
        }
        report_device_memory(device);
        const std::string steps_json = opt.sampler == "ode" ? "null" : std::to_string(opt.steps);  // ode: adaptive
        std::printf("{\"out\": \"%s\", \"idx\": \"%s\", \"n\": %lld, \"sampler\": \"%s\", \"steps\": %s, "
                    "\"network_evals\": %lld, \"seed\": %lld, \"step\": %lld, \"seconds\": %.1f}\n",
                    out.c_str(), save_idx.c_str(), (long long)n, opt.sampler.c_str(), steps_json.c_str(),
                    (long long)samples.network_evals, (long long)seed, (long long)trained.step, seconds);
        return 0;
    });
}
