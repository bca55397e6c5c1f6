// train_mnist: trains a Variational Diffusion Model on MNIST (or Fashion-MNIST) and
// reports bits per dimension. With no flags it trains the default config from the
// default data folder and writes into runs/<dataset>-<schedule>-<loss>[-<objective>]/:
//   checkpoint.safetensors   parameters, EMA, optimizer, config, step, RNG state
//   metrics.jsonl            one line per --log-every steps and per evaluation
//   samples.png              a grid of EMA samples at the end
//   curves.svg, schedule.svg the run's bpd curves and its noise schedule (EMA), redrawn
//                            at each evaluation (apps/common/run_plots.h)
// Progress goes to stderr at most once per second; the last stdout line is JSON.
// SIGINT/SIGTERM: the current step finishes, the checkpoint is written, exit 130 (a
// second signal exits at once); a failed write is one line of error
// (apps/common/signals.h). A step with NaN/Inf is skipped (vdm/trainer.h) and
// reported; --max-nonfinite of them in a row stop the run, naming the op.
// Under `mpirun -np N` (an MPI build) the N processes share each batch of --batch
// images (distributed/communicator.h); rank 0 alone writes files and progress.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/common/device.h"
#include "apps/common/data_flags.h"
#include "apps/common/flags.h"
#include "apps/common/run_plots.h"
#include "apps/common/signals.h"
#include "apps/common/sample_grid.h"
#include "vdm/bpd.h"
#include "vdm/checkpoint.h"

using namespace vdm;

namespace {

std::string json_number(double x) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
}

// Mean of StepStats over a window of steps; skipped steps are only counted.
struct Window {
    StepStats sum;
    int64_t count = 0, skipped = 0;
    void add(const StepStats& s) {
        if (s.skipped) {
            ++skipped;
            return;
        }
        sum.bpd += s.bpd, sum.prior += s.prior, sum.recon += s.recon, sum.diffusion += s.diffusion;
        sum.loss += s.loss, sum.grad_norm += s.grad_norm, sum.lr = s.lr;
        ++count;
    }
    StepStats mean() const {
        StepStats m = sum;
        double n = double(std::max<int64_t>(count, 1));
        m.bpd /= n, m.prior /= n, m.recon /= n, m.diffusion /= n, m.loss /= n, m.grad_norm /= n;
        return m;
    }
};

// The bound's terms at the training draws; with another objective than the bound, also
// the loss that training minimized ("train_loss", in the same units).
std::string terms_json(const StepStats& s, const std::string& objective) {
    return "\"train_bpd\": " + json_number(s.bpd) + ", \"prior\": " + json_number(s.prior) +
           ", \"recon\": " + json_number(s.recon) + ", \"diffusion\": " + json_number(s.diffusion) +
           (objective == "vlb" ? "" : ", \"train_loss\": " + json_number(s.loss));
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        RunConfig cfg;
        TrainConfig& tc = cfg.train;
        VdmConfig& mc = cfg.model;
        std::string out_dir, resume, attention = "on", fourier = "on";
        int64_t steps = 2000, eval_every = 500, log_every = 50, val_n = 2000;
        int64_t sample_n = 64, sample_steps = 200, max_nonfinite = 5;
        std::string inject_nan;
        Communicator& comm = world();
        const bool writer = comm.root();  // the one process that writes files and progress
        Flags flags("train_mnist", "train a Variational Diffusion Model and report bits per dimension");
        flags.group("data");
        DataFlags data_flags(flags);
        flags.add_choice("dataset", &tc.dataset, {"mnist", "fashion"}, "which dataset");
        flags.add("val-n", &val_n, 1, 60000, "validation images per evaluation");
        flags.group("model");
        flags.add("channels", &mc.net.channels, 8, 1024, "ScoreNet width (a multiple of --groups)");
        flags.add("blocks", &mc.net.blocks, 0, 64, "ResNet blocks in the down stack");
        flags.add_choice("attention", &attention, {"on", "off"}, "self-attention in the middle block");
        flags.add_choice("fourier", &fourier, {"on", "off"}, "Fourier features of z_t as extra inputs");
        flags.add("dropout", &mc.net.dropout, 0.0, 0.9, "dropout in the ResNet blocks", true);
        flags.group("schedule and loss");
        flags.add_choice("schedule", &mc.schedule, {"linear", "learned", "ddpm"},
                         "noise schedule gamma(t) (ddpm: DDPM's T linear betas 1e-4..0.02)");
        flags.add("gamma-min", &mc.gamma_min, -30.0, 30.0, "gamma(0) (learned: its start; not for ddpm)");
        flags.add("gamma-max", &mc.gamma_max, -30.0, 30.0, "gamma(1) (learned: its start; not for ddpm)");
        flags.add_choice("loss", &mc.loss, {"continuous", "discrete"}, "diffusion loss: T -> infinity, or T steps");
        flags.add("T", &mc.T, 1, 1000000, "steps of the discrete-time loss and bound (ddpm: its betas, T - 1 steps)");
        flags.add_choice("objective", &mc.objective, {"vlb", "simple"},
                         "what training minimizes: the bound, or DDPM's unweighted eps-MSE (discrete loss); "
                         "evaluation always reports the bound");
        flags.group("optimization");
        flags.add("steps", &steps, 1, 100000000, "total training steps (with --resume: continue up to this step)");
        flags.add("batch", &tc.batch, 1, 4096, "images per step");
        flags.add("lr", &tc.lr, 0.0, 1.0, "peak learning rate (AdamW)");
        flags.add("warmup", &tc.warmup, 0, 100000000, "linear learning-rate warmup steps");
        flags.add("clip", &tc.clip, 0.0, 1e9, "max global gradient norm");
        flags.add("ema", &tc.ema_decay, 0.0, 0.999999, "EMA decay of the weights used for eval and samples", true);
        flags.add("seed", &tc.seed, 0, INT64_MAX / 8, "random seed (init, noise, batches, validation split)");
        flags.add("max-nonfinite", &max_nonfinite, 1, 1000000,
                  "steps in a row with NaN/Inf (each skipped) that stop the run");
        flags.add("inject-nan", &inject_nan,
                  "OP:STEP: from step STEP on, op OP outputs NaN (to test the non-finite guard)");
        flags.group("output");
        flags.add("out", &out_dir, "output folder (default runs/<dataset>-<schedule>-<loss>)");
        flags.add("resume", &resume, "checkpoint to continue from (its config is used)");
        flags.add("eval-every", &eval_every, 0, 100000000, "steps between validation evaluations and checkpoints (0: only at the end)");
        flags.add("log-every", &log_every, 1, 100000000, "steps per metrics.jsonl line");
        flags.add("sample-n", &sample_n, 0, 1024, "samples in the final grid (0: none)");
        flags.add("sample-steps", &sample_steps, 1, 100000, "ancestral steps for the final grid");
        DeviceFlags device_flags(flags, true);
        flags.add("mpi-timeout", &comm.timeout_seconds, 1.0, 1e6,
                  "under mpirun: seconds a process waits for the others before stopping the run");
        if (!flags.parse(argc, argv)) return 0;
        const Device device = device_flags.select();  // before any data is read
        std::string inject_op;
        int64_t inject_step = 0;
        if (!inject_nan.empty()) {
            const size_t colon = inject_nan.rfind(':');
            VDM_CHECK(colon != std::string::npos && colon > 0,
                      "--inject-nan '", inject_nan, "' must be OP:STEP (e.g. conv2d:10)");
            inject_op = inject_nan.substr(0, colon);
            VDM_CHECK(parse_int64(inject_nan.substr(colon + 1), &inject_step) && inject_step >= 1,
                      "--inject-nan '", inject_nan, "': STEP must be an integer of at least 1");
        }
        mc.net.attention = attention == "on";
        mc.net.fourier = fourier == "on";
        mc.net.gamma_min = mc.gamma_min;
        mc.net.gamma_max = mc.gamma_max;
        VDM_CHECK(mc.gamma_max > mc.gamma_min, "--gamma-max ", mc.gamma_max, " must exceed --gamma-min ", mc.gamma_min);
        if (mc.schedule == "ddpm") {  // its gammas come from the betas and T
            VDM_CHECK(!flags.given("gamma-min") && !flags.given("gamma-max"),
                      "--gamma-min/--gamma-max do not apply to --schedule ddpm (its betas set gamma)");
            VDM_CHECK(mc.T >= 2, "--schedule ddpm needs --T of at least 2 (x_1 is z_0, x_T is z_1)");
        }
        VDM_CHECK(mc.objective == "vlb" || mc.loss == "discrete",
                  "--objective simple needs --loss discrete (DDPM's unweighted eps-MSE at its T steps)");
        VDM_CHECK(mc.objective == "vlb" || mc.schedule != "learned",
                  "--objective simple cannot train --schedule learned (it is not a bound); use linear or ddpm");
        mc = with_schedule_range(mc);
        VDM_CHECK(mc.net.channels % mc.net.groups == 0, "--channels ", mc.net.channels,
                  " must be a multiple of ", mc.net.groups, " (the GroupNorm groups)");

        if (!resume.empty()) {  // the checkpoint's config wins; a given flag must agree with it
            RunConfig saved = read_checkpoint_config(resume);
            auto ours = config_to_metadata(cfg), theirs = config_to_metadata(saved);
            for (const std::string& flag : flags.given_flags()) {
                std::string key = flag;
                std::replace(key.begin(), key.end(), '-', '_');
                auto it = ours.find(key);
                if (it != ours.end() && it->second != theirs.at(key))
                    fail("--", flag, " ", it->second, " differs from the checkpoint's ", theirs.at(key),
                         " (", resume, " was trained with another config)");
            }
            cfg = saved;
        }

        const std::string dir = data_flags.resolve(tc.dataset, comm);
        Dataset train = load_split(dir, Split::Train);
        if (resume.empty()) {
            mc.net.image_channels = train.channels;
            mc.net.height = train.height;
            mc.net.width = train.width;
        }
        SplitIndices split = train_val_split(train.n, cfg.train.val_fraction, split_seed(cfg.train.seed));
        Trainer trainer(cfg, train, split.train, device);
        if (!resume.empty()) load_checkpoint(trainer, resume);
        VDM_CHECK(steps > trainer.steps_done, "--steps ", steps, " must exceed the checkpoint's step ",
                  trainer.steps_done);
        std::vector<int64_t> val(split.val.begin(), split.val.begin() + std::min<size_t>(split.val.size(), size_t(val_n)));

        if (out_dir.empty())
            out_dir = "runs/" + tc.dataset + "-" + cfg.model.schedule + "-" + cfg.model.loss +
                      (cfg.model.objective == "vlb" ? "" : "-" + cfg.model.objective);
        const std::string ckpt_path = out_dir + "/checkpoint.safetensors";
        const std::string metrics_path = out_dir + "/metrics.jsonl";
        std::ofstream metrics;  // rank 0's; the other processes write nothing
        if (writer) {
            std::filesystem::create_directories(out_dir);
            metrics.open(metrics_path, resume.empty() ? std::ios::trunc : std::ios::app);
            VDM_CHECK(metrics.good(), metrics_path, ": cannot open for writing");
        }

        const ScoreNet& net = trainer.model->net;
        const double flops_per_step = 3.0 * double(net.flops_per_image()) * double(cfg.train.batch);
        const std::string processes =
            comm.size() > 1 ? " x " + std::to_string(comm.size()) + " processes (mpirun)" : "";
        if (writer)
            std::fprintf(stderr,
                     "data: %s (%lld train, %lld val, %lldx%lldx%lld)\n"
                     "model: %lld parameters, %.0f MFLOP/image forward; channels %lld, blocks %lld, attention %s, "
                     "fourier %s; schedule %s, loss %s%s, objective %s\n"
                     "training: steps %lld..%lld, batch %lld, lr %g, on %s%s, %s products -> %s\n",
                     dir.c_str(), (long long)split.train.size(), (long long)split.val.size(),
                     (long long)train.channels, (long long)train.height, (long long)train.width,
                     (long long)trainer.model->parameter_count(), double(net.flops_per_image()) / 1e6,
                     (long long)cfg.model.net.channels, (long long)cfg.model.net.blocks,
                     cfg.model.net.attention ? "on" : "off", cfg.model.net.fourier ? "on" : "off",
                     cfg.model.schedule.c_str(), cfg.model.loss.c_str(),
                     cfg.model.loss == "discrete" ? (" T=" + std::to_string(cfg.model.T)).c_str() : "",
                     cfg.model.objective.c_str(),
                     (long long)trainer.steps_done + 1, (long long)steps, (long long)cfg.train.batch,
                     cfg.train.lr, device_description(device).c_str(), processes.c_str(),
                     device_flags.precision.c_str(), out_dir.c_str());

        auto evaluate = [&] {
            trainer.ema->swap(trainer.params);  // evaluate the EMA weights
            BpdEstimate e = evaluate_bpd(*trainer.model, train, val, 100, 1, {}, comm);
            trainer.ema->swap(trainer.params);
            if (!writer) return e;
            std::fprintf(stderr, "step %lld: val bpd %.4f +- %.4f (prior %.4f, recon %.4f, diffusion %.4f) on %lld images\n",
                         (long long)trainer.steps_done, e.bpd, e.bpd_stderr, e.prior, e.recon,
                         e.diffusion, (long long)e.n);
            metrics << "{\"step\": " << trainer.steps_done << ", \"val_bpd\": " << json_number(e.bpd)
                    << ", \"val_bpd_stderr\": " << json_number(e.bpd_stderr) << ", \"val_prior\": "
                    << json_number(e.prior) << ", \"val_recon\": " << json_number(e.recon)
                    << ", \"val_diffusion\": " << json_number(e.diffusion) << ", \"val_n\": " << e.n << "}\n";
            metrics.flush();
            return e;
        };

        // The checkpoint, then the pictures (rank 0's files).
        auto save = [&](bool pictures) {
            if (!writer) return;
            save_checkpoint(trainer, ckpt_path);
            if (!pictures) return;
            write_curves_svg(out_dir + "/curves.svg", metrics_path);
            trainer.ema->swap(trainer.params);
            write_schedule_svg(out_dir + "/schedule.svg", *trainer.model, cfg.model);
            trainer.ema->swap(trainer.params);
        };
        // A signal may reach the processes at different steps: they stop together,
        // at the first step after any of them got one.
        auto interrupted = [&] {
            std::vector<double> requests = {interrupt_requested() ? 1.0 : 0.0};
            comm.sum(requests);
            return requests[0] > 0.0;
        };

        auto start = std::chrono::steady_clock::now(), last_print = start;
        Window log_window, print_window;
        StepStats last_logged;
        BpdEstimate last_eval;
        std::string first_nonfinite_op;  // of the current run of skipped steps
        install_signal_handlers();
        while (trainer.steps_done < steps) {
            if (!inject_op.empty() && trainer.steps_done + 1 >= inject_step) set_nan_injection(inject_op);
            StepStats s = trainer.step();
            set_nan_injection("");  // only the training steps, never an evaluation
            log_window.add(s);
            print_window.add(s);
            const int64_t step = trainer.steps_done;
            VDM_CHECK(inject_op.empty() || step < inject_step || s.skipped, "--inject-nan: no op named '",
                      inject_op, "' ran at step ", step, " (op names: the first argument of record() in autodiff/)");
            if (s.skipped) {
                if (trainer.skipped_in_a_row == 1) first_nonfinite_op = s.nonfinite_op;
                if (writer)
                    std::fprintf(stderr, "step %lld: NaN/Inf (%s); update skipped (%lld in a row, %lld in all)\n",
                             (long long)step, s.nonfinite_op.c_str(), (long long)trainer.skipped_in_a_row,
                             (long long)trainer.skipped_total);
                VDM_CHECK(trainer.skipped_in_a_row < max_nonfinite, "stopping at step ", step, ": ",
                          max_nonfinite, " steps in a row had NaN/Inf; the first came from ", first_nonfinite_op);
            }
            if (writer && (step % log_every == 0 || step == steps)) {
                metrics << "{\"step\": " << step;
                if (log_window.count > 0) {
                    last_logged = log_window.mean();
                    metrics << ", " << terms_json(last_logged, cfg.model.objective)
                            << ", \"grad_norm\": " << json_number(last_logged.grad_norm)
                            << ", \"lr\": " << json_number(last_logged.lr);
                }
                if (log_window.skipped > 0) metrics << ", \"skipped\": " << log_window.skipped;
                metrics << "}\n";
                metrics.flush();
                log_window = Window();
            }
            auto now = std::chrono::steady_clock::now();
            if (writer && print_window.count > 0 &&
                (std::chrono::duration<double>(now - last_print).count() >= 1.0 || step == steps)) {
                // speed over this print window only (evaluations excluded, see below)
                const double per_step = std::chrono::duration<double>(now - last_print).count() /
                                        double(print_window.count + print_window.skipped);
                StepStats m = print_window.mean();
                std::fprintf(stderr,
                             "step %6lld/%lld | bpd %.4f (prior %.4f recon %.4f diff %.4f) | grad %.3f | lr %.2e | "
                             "%.2f steps/s %.0f ms/step %.0f img/s %.1f GFLOP/s | ETA %.0fs\n",
                             (long long)step, (long long)steps, m.bpd, m.prior, m.recon, m.diffusion,
                             m.grad_norm, m.lr, 1.0 / per_step, 1e3 * per_step, double(cfg.train.batch) / per_step,
                             flops_per_step / per_step / 1e9, per_step * double(steps - step));
                print_window = Window();
                last_print = now;
            }
            const bool stop = interrupted();
            if (eval_every > 0 && step % eval_every == 0 && step != steps && !stop) {
                last_eval = evaluate();
                save(true);
                last_print = std::chrono::steady_clock::now();  // keep it out of the step speed
            }
            if (stop) {
                save(false);
                if (writer)
                    std::fprintf(stderr, "interrupted at step %lld: checkpoint %s (continue with --resume %s)\n",
                             (long long)step, ckpt_path.c_str(), ckpt_path.c_str());
                return 130;
            }
        }
        last_eval = evaluate();
        save(true);
        if (!writer) return 0;  // the samples and the report are rank 0's
        std::fprintf(stderr, "checkpoint: %s (curves.svg, schedule.svg beside it)\n", ckpt_path.c_str());
        std::string samples_path;
        if (sample_n > 0) {
            samples_path = out_dir + "/samples.png";
            trainer.ema->swap(trainer.params);
            SamplerOptions ancestral;
            ancestral.steps = sample_steps;
            write_sample_grid(*trainer.model, sample_n, 7, ancestral, samples_path);
            trainer.ema->swap(trainer.params);
            std::fprintf(stderr, "samples: %s (%lld EMA samples, %lld steps)\n", samples_path.c_str(),
                         (long long)sample_n, (long long)sample_steps);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        report_device_memory(device);
        std::string device_json = "\"device\": \"" + std::string(device_name(device)) + "\"";
        if (device == Device::CUDA) {
            const DeviceMemoryStats m = cuda_memory_stats();
            device_json += ", \"peak_device_mib\": " + json_number(mebibytes(m.peak_bytes)) +
                           ", \"device_mallocs\": " + std::to_string(m.mallocs);
        }
        std::printf("{\"step\": %lld, %s, \"val_bpd\": %s, \"val_bpd_stderr\": %s, \"checkpoint\": \"%s\", "
                    "\"samples\": \"%s\", \"metrics\": \"%s\", %s, \"parameters\": %lld, \"processes\": %d, "
                    "\"seconds\": %.1f}\n",
                    (long long)trainer.steps_done, terms_json(last_logged, cfg.model.objective).c_str(),
                    json_number(last_eval.bpd).c_str(), json_number(last_eval.bpd_stderr).c_str(),
                    ckpt_path.c_str(), samples_path.c_str(), metrics_path.c_str(), device_json.c_str(),
                    (long long)trainer.model->parameter_count(), comm.size(), seconds);
        return 0;
    });
}
