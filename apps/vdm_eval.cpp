// vdm_eval: the full variational bound of a trained VDM (its EMA weights) in bits
// per dimension, on the test set (all 10000 images by default) or the validation
// split the training run held out, on the CPU or (--device cuda) the GPU, whichever
// device trained it. Each term is reported; the last stdout line is JSON.
// --index K evaluates image K of the split alone (a batch of one, its noise the first
// draws of Rng(seed)), so vdm_tour can reproduce that image's three terms.
#include <omp.h>

#include <chrono>
#include <cstdio>

#include "apps/common/checkpoint_path.h"
#include "apps/common/device.h"
#include "apps/common/flags.h"
#include "vdm/bpd.h"
#include "vdm/checkpoint.h"

using namespace vdm;

int main(int argc, char** argv) {
    return run_app([&] {
        std::string ckpt, data_dir, split = "test", device_flag = "cpu";
        int64_t n = 0, seed = 0, batch = 100, threads = 0, index = -1;
        Flags flags("vdm_eval", "bits per dimension of a trained VDM (prior + recon + diffusion)");
        flags.group("input");
        flags.add("ckpt", &ckpt, "checkpoint file, or a run folder, written by train_mnist (required)");
        flags.add("data", &data_dir, "folder with the four IDX files (else $VDM_DATA/<dataset>, else ./data/<dataset>)");
        flags.add_choice("split", &split, {"test", "val"}, "test set, or the run's validation split");
        flags.add("n", &n, 0, 1000000, "images to evaluate (0: the whole split)");
        flags.add("index", &index, -1, INT64_MAX,
                  "evaluate only image K of the split, alone, as vdm_tour does (-1: all images)");
        flags.group("estimate");
        flags.add("seed", &seed, 0, INT64_MAX, "seed of the noise and times of the estimate");
        flags.add("batch", &batch, 1, 10000, "images per forward pass");
        flags.group("device");
        flags.add("threads", &threads, 0, 1024, "OpenMP threads (0: all cores)");
        add_device_flags(flags, &device_flag);
        if (!flags.parse(argc, argv)) return 0;
        VDM_CHECK(!ckpt.empty(), "--ckpt is required (see --help)");
        if (threads > 0) omp_set_num_threads(int(threads));
        const Device device = select_device(device_flag);
        ckpt = resolve_checkpoint(ckpt);

        TrainedModel trained = load_ema_model(ckpt, device);
        const RunConfig& cfg = trained.config;
        const std::string dir = resolve_data_dir(data_dir, cfg.train.dataset);
        Dataset data = load_split(dir, split == "test" ? Split::Test : Split::Train);
        std::vector<int64_t> indices;
        if (split == "test") {
            for (int64_t i = 0; i < data.n; ++i) indices.push_back(i);
        } else {
            indices = train_val_split(data.n, cfg.train.val_fraction, split_seed(cfg.train.seed)).val;
        }
        if (index >= 0) {
            VDM_CHECK(!flags.given("n"), "--index and --n exclude each other");
            VDM_CHECK(index < int64_t(indices.size()), "--index ", index, " is outside the ",
                      indices.size(), " images of the ", split, " split");
            indices = {indices[size_t(index)]};
        }
        if (n > 0 && n < int64_t(indices.size())) indices.resize(size_t(n));
        std::fprintf(stderr, "%s: step %lld, %lld parameters; evaluating %lld %s images of %s on %s\n",
                     ckpt.c_str(), (long long)trained.step,
                     (long long)trained.model->parameter_count(), (long long)indices.size(),
                     split.c_str(), dir.c_str(), device_description(device).c_str());

        auto start = std::chrono::steady_clock::now(), last = start;
        BpdEstimate e = evaluate_bpd(*trained.model, data, indices, batch, uint64_t(seed),
                                     [&](int64_t done, int64_t total) {
            auto now = std::chrono::steady_clock::now();
            if (std::chrono::duration<double>(now - last).count() < 1.0 && done < total) return;
            last = now;
            double elapsed = std::chrono::duration<double>(now - start).count();
            std::fprintf(stderr, "evaluated %lld/%lld images, %.0f img/s, ETA %.0fs\n",
                         (long long)done, (long long)total, double(done) / elapsed,
                         elapsed / double(done) * double(total - done));
        });
        std::fprintf(stderr, "bpd %.4f +- %.4f = prior %.5f + recon %.5f + diffusion %.4f (%lld images)\n",
                     e.bpd, e.bpd_stderr, e.prior, e.recon, e.diffusion, (long long)e.n);
        report_device_memory(device);
        const std::string index_field =
            index >= 0 ? "\"index\": " + std::to_string(index) + ", " : std::string();
        std::printf("{%s\"bpd\": %.6f, \"bpd_stderr\": %.6f, \"prior\": %.6f, \"recon\": %.6f, "
                    "\"diffusion\": %.6f, \"n\": %lld, \"split\": \"%s\", \"step\": %lld, \"ckpt\": \"%s\", "
                    "\"device\": \"%s\"}\n",
                    index_field.c_str(), e.bpd, e.bpd_stderr, e.prior, e.recon, e.diffusion,
                    (long long)e.n, split.c_str(),
                    (long long)trained.step, ckpt.c_str(), device_name(device));
        return 0;
    });
}
