// vdm_eval: how many bits per dimension a trained VDM (its EMA weights) needs for the
// test set (all 10000 images by default) or the validation split the training run
// held out, on the CPU or (--device cuda) the GPU, whichever device trained it. Two
// measures, side by side and never mixed (--method vlb|ode|both):
//   vlb  the full variational bound, each of its three terms reported
//        (docs/vdm.md#bits-per-dimension);
//   ode  the probability-flow ODE's density of uniformly dequantized images, a bound of
//        another kind (docs/vdm.md#the-dequantized-bound), on the first --ode-images
//        images, with its standard error and the ODE's drift evaluations.
// The last stdout line is JSON. --index K evaluates image K of the split alone (a batch
// of one, its noise the first draws of Rng(seed)), so vdm_tour can reproduce that
// image's three terms.
// Under `mpirun -np N` (an MPI build) the processes split the bound's batches and add
// up the sums (vdm/bpd.h); rank 0 alone prints. The ODE's bound is one process's work.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "apps/common/checkpoint_path.h"
#include "apps/common/device.h"
#include "apps/common/data_flags.h"
#include "apps/common/flags.h"
#include "vdm/bpd.h"
#include "vdm/checkpoint.h"

using namespace vdm;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        std::string ckpt, split = "test", method = "vlb",
                                    divergence = "hutchinson";
        int64_t n = 0, seed = 0, batch = 100, index = -1;
        int64_t ode_images = 256, probes = 1, max_evals = OdeOptions().max_evaluations;
        double rtol = OdeOptions().rtol, atol = OdeOptions().atol;
        Flags flags("vdm_eval", "bits per dimension of a trained VDM: the variational bound "
                                "(prior + recon + diffusion) and/or the probability-flow ODE's");
        flags.group("input");
        flags.add("ckpt", &ckpt, "checkpoint file, or a run folder, written by train_mnist (required)");
        DataFlags data_flags(flags);
        flags.add_choice("split", &split, {"test", "val"}, "test set, or the run's validation split");
        flags.add("n", &n, 0, 1000000, "images to evaluate (0: the whole split)");
        flags.add("index", &index, -1, INT64_MAX,
                  "evaluate only image K of the split, alone, as vdm_tour does (-1: all images)");
        flags.group("estimate");
        flags.add_choice("method", &method, {"vlb", "ode", "both"},
                         "the variational bound, the ODE's dequantized bound, or both side by side");
        flags.add("seed", &seed, 0, INT64_MAX, "seed of the noise and times of the estimate");
        flags.add("batch", &batch, 1, 10000, "images per forward pass (the ODE: per integration)");
        flags.group("probability-flow ODE (--method ode|both)");
        flags.add("ode-images", &ode_images, 1, 1000000,
                  "images for the ODE's bound: the first N of those evaluated");
        flags.add("rtol", &rtol, 0.0, 1.0, "relative tolerance of the ODE solver");
        flags.add("atol", &atol, 0.0, 1.0, "absolute tolerance of the ODE solver");
        flags.add("max-evals", &max_evals, 1, INT64_MAX,
                  "drift evaluations allowed per batch's integration (more is an error)");
        flags.add("probes", &probes, 1, 1000,
                  "Rademacher probes per image of Hutchinson's divergence estimate");
        flags.add_choice("divergence", &divergence, {"hutchinson", "exact"},
                         "div eps_hat by Hutchinson's estimator, or exactly with D "
                         "vector-Jacobian products per evaluation (tiny images only)");
        DeviceFlags device_flags(flags);
        Communicator& comm = world();
        flags.add("mpi-timeout", &comm.timeout_seconds, 1.0, 1e6,
                  "under mpirun: seconds a process waits for the others before stopping the run");
        if (!flags.parse(argc, argv)) return 0;
        VDM_CHECK(comm.size() == 1 || method == "vlb", "--method ", method, " runs in one process: the ODE's "
                  "bound is not split across processes (mpirun -np 1, or --method vlb)");
        VDM_CHECK(!ckpt.empty(), "--ckpt is required (see --help)");
        const bool vlb = method != "ode", ode = method != "vlb";
        for (const char* ode_flag : {"ode-images", "rtol", "atol", "max-evals", "probes", "divergence"})
            VDM_CHECK(ode || !flags.given(ode_flag), "--", ode_flag, " needs --method ode or both");
        const Device device = device_flags.select();
        ckpt = resolve_checkpoint(ckpt);

        TrainedModel trained = load_ema_model(ckpt, device);
        const RunConfig& cfg = trained.config;
        const std::string dir = data_flags.resolve(cfg.train.dataset, comm);
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
        const std::vector<int64_t> ode_indices(
            indices.begin(), indices.begin() + std::min<int64_t>(ode_images, int64_t(indices.size())));
        if (comm.root())
            std::fprintf(stderr, "%s: step %lld, %lld parameters; evaluating %lld %s images of %s on %s%s\n",
                     ckpt.c_str(), (long long)trained.step,
                     (long long)trained.model->parameter_count(),
                     (long long)(vlb ? indices : ode_indices).size(), split.c_str(), dir.c_str(),
                     device_description(device).c_str(),
                     comm.size() > 1 ? (" x " + std::to_string(comm.size()) + " processes").c_str() : "");

        BpdEstimate e;
        if (vlb) {
            auto start = std::chrono::steady_clock::now(), last = start;
            e = evaluate_bpd(*trained.model, data, indices, batch, uint64_t(seed),
                             [&](int64_t done, int64_t total) {
                if (!comm.root() || (seconds_since(last) < 1.0 && done < total)) return;
                last = std::chrono::steady_clock::now();
                const double elapsed = seconds_since(start);
                std::fprintf(stderr, "evaluated %lld/%lld images, %.0f img/s, ETA %.0fs\n",
                             (long long)done, (long long)total, double(done) / elapsed,
                             elapsed / double(done) * double(total - done));
            }, comm);
            if (comm.root())
                std::fprintf(stderr, "bpd %.4f +- %.4f = prior %.5f + recon %.5f + diffusion %.4f (%lld images)\n",
                         e.bpd, e.bpd_stderr, e.prior, e.recon, e.diffusion, (long long)e.n);
        }

        OdeBpdEstimate o;
        double ode_seconds = 0.0;
        if (ode) {
            const std::string divergence_text = divergence == "exact"
                                                    ? "exact divergence"
                                                    : std::to_string(probes) + " Rademacher probe(s)";
            std::fprintf(stderr, "probability-flow ODE bound of %lld images (rtol %g, atol %g, %s)\n",
                         (long long)ode_indices.size(), rtol, atol, divergence_text.c_str());
            OdeBpdOptions options;
            options.ode.rtol = rtol;
            options.ode.atol = atol;
            options.ode.max_evaluations = max_evals;
            options.probes = probes;
            options.exact_divergence = divergence == "exact";
            auto start = std::chrono::steady_clock::now(), last = start;
            const int64_t total = int64_t(ode_indices.size());
            int64_t images_done = 0;  // before the batch being integrated
            options.ode.progress = [&](double t, int64_t evaluations) {
                if (seconds_since(last) < 1.0) return;
                last = std::chrono::steady_clock::now();
                std::fprintf(stderr, "ode: images %lld-%lld of %lld at t = %.3f, %lld drift evaluations, %.0fs\n",
                             (long long)images_done + 1, (long long)std::min(images_done + batch, total),
                             (long long)total, t, (long long)evaluations, seconds_since(start));
            };
            o = evaluate_ode_bpd(*trained.model, data, ode_indices, batch, uint64_t(seed), options,
                                 [&](int64_t done, int64_t total) {
                images_done = done;
                const double elapsed = seconds_since(start);
                std::fprintf(stderr, "ode: %lld/%lld images, %.0fs, ETA %.0fs\n", (long long)done,
                             (long long)total, elapsed, elapsed / double(done) * double(total - done));
            });
            ode_seconds = seconds_since(start);
            std::fprintf(stderr, "ode bpd %.4f +- %.4f (%lld images, %.0f drift evaluations per batch, %.1fs; "
                         "a dequantized bound, not the variational bound)\n",
                         o.bpd, o.bpd_stderr, (long long)o.n, o.network_evaluations, ode_seconds);
        }
        if (!comm.root()) return 0;
        report_device_memory(device);

        std::printf("{");
        if (index >= 0) std::printf("\"index\": %lld, ", (long long)index);
        if (vlb)
            std::printf("\"bpd\": %.6f, \"bpd_stderr\": %.6f, \"prior\": %.6f, \"recon\": %.6f, "
                        "\"diffusion\": %.6f, \"n\": %lld, ",
                        e.bpd, e.bpd_stderr, e.prior, e.recon, e.diffusion, (long long)e.n);
        if (ode)
            std::printf("\"ode_bpd\": %.6f, \"ode_bpd_stderr\": %.6f, \"ode_images\": %lld, "
                        "\"ode_network_evals\": %.1f, \"ode_seconds\": %.2f, ",
                        o.bpd, o.bpd_stderr, (long long)o.n, o.network_evaluations, ode_seconds);
        std::printf("\"split\": \"%s\", \"step\": %lld, \"ckpt\": \"%s\", \"device\": \"%s\"}\n",
                    split.c_str(), (long long)trained.step, ckpt.c_str(), device_name(device));
        return 0;
    });
}
