// vdm_sample: ancestral sampling from a trained VDM (its EMA weights), written as a
// PNG grid, on the CPU or (--device cuda) the GPU. The last stdout line is JSON.
#include <omp.h>

#include <chrono>
#include <cstdio>

#include "apps/common/checkpoint_path.h"
#include "apps/common/device.h"
#include "apps/common/flags.h"
#include "apps/common/sample_grid.h"
#include "vdm/checkpoint.h"

using namespace vdm;

int main(int argc, char** argv) {
    return run_app([&] {
        std::string ckpt, out, device_flag = "cpu";
        int64_t n = 64, steps = 1000, seed = 0, threads = 0;
        Flags flags("vdm_sample", "draw samples from a trained VDM into a PNG grid");
        flags.group("input");
        flags.add("ckpt", &ckpt, "checkpoint file, or a run folder, written by train_mnist (required)");
        flags.group("sampling");
        flags.add("n", &n, 1, 4096, "number of samples");
        flags.add("steps", &steps, 1, 1000000, "ancestral steps T (t = i/T, i = T..1)");
        flags.add("seed", &seed, 0, INT64_MAX, "random seed");
        flags.group("output");
        flags.add("out", &out, "PNG file to write (required)");
        flags.group("device");
        flags.add("threads", &threads, 0, 1024, "OpenMP threads (0: all cores)");
        add_device_flags(flags, &device_flag);
        if (!flags.parse(argc, argv)) return 0;
        VDM_CHECK(!ckpt.empty(), "--ckpt is required (see --help)");
        VDM_CHECK(!out.empty(), "--out is required (see --help)");
        if (threads > 0) omp_set_num_threads(int(threads));
        const Device device = select_device(device_flag);
        ckpt = resolve_checkpoint(ckpt);

        TrainedModel trained = load_ema_model(ckpt, device);
        std::fprintf(stderr, "%s: step %lld; drawing %lld samples with %lld steps on %s\n", ckpt.c_str(),
                     (long long)trained.step, (long long)n, (long long)steps,
                     device_description(device).c_str());
        auto start = std::chrono::steady_clock::now();
        write_sample_grid(*trained.model, n, steps, uint64_t(seed), out);
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "wrote %s\n", out.c_str());
        report_device_memory(device);
        std::printf("{\"out\": \"%s\", \"n\": %lld, \"steps\": %lld, \"seed\": %lld, \"step\": %lld, "
                    "\"seconds\": %.1f}\n",
                    out.c_str(), (long long)n, (long long)steps, (long long)seed,
                    (long long)trained.step, seconds);
        return 0;
    });
}
