// vdm_compress: lossless compression of images with a trained VDM, by bits-back
// coding of its discrete-time latent chain with rANS (docs/vdm.md#bits-back-coding).
// Reads --n images of an IDX file (raw or gzip; after the first --skip), writes a .vdmz file that
// vdm_decompress turns back into the same bytes, and reports the file's size in
// bits per dimension beside the discrete-time bound with the same T, measured on
// the very trajectories that were coded. The last stdout line is JSON.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "apps/common/checkpoint_path.h"
#include "apps/common/device.h"
#include "apps/common/flags.h"
#include "codec/vdmz_file.h"
#include "datasets/idx.h"
#include "vdm/bits_back.h"
#include "vdm/checkpoint.h"

using namespace vdm;

int main(int argc, char** argv) {
    return run_app([&] {
        std::string ckpt, in_path, out_path;
        int64_t n = 0, skip = 0, seed = 0;
        bool reference = false;
        BitsBackOptions options;
        Flags flags("vdm_compress", "lossless compression of images by bits-back coding with a trained VDM");
        flags.group("files");
        flags.add("ckpt", &ckpt, "checkpoint file, or a run folder, written by train_mnist (required)");
        flags.add("in", &in_path, "IDX file of uint8 images (N, H, W) or (N, C, H, W), raw or .gz (required)");
        flags.add("n", &n, 0, INT64_MAX, "images to compress: the first N after --skip (0: all of them)");
        flags.add("skip", &skip, 0, INT64_MAX, "images to pass over before those to compress");
        flags.add("out", &out_path, "the compressed file to write (required)");
        flags.group("code");
        flags.add("T", &options.T, 1, 100000, "steps of the discrete-time latent chain");
        flags.add("bin", &options.bin, 0.0, 1.0,
                  "bin width of each latent's grid, in units of the smaller sigma it is coded with");
        flags.add("range", &options.range, 0.0, 1e3, "the latent grid covers [-range, range]");
        flags.add("seed", &seed, 0, INT64_MAX, "seed of the initial bits the first image borrows");
        flags.add_switch("reference-bound", &reference,
                         "also estimate the T-step bound on trajectories drawn from independent random "
                         "numbers, the yardstick for the code (doubles the time)");
        // One thread by default: the network runs on one image at a time, and at batch 1
        // a second OpenMP thread only waits (8 times slower measured on 2 cores); two
        // processes on two halves of the images use two cores.
        DeviceFlags device_flags(flags, false, 1);
        if (!flags.parse(argc, argv)) return 0;
        flags.require({"ckpt", "in", "out"});
        const Device device = device_flags.select();
        ckpt = resolve_checkpoint(ckpt);
        const auto start = std::chrono::steady_clock::now();

        TrainedModel trained = load_ema_model(ckpt, device);
        const Vdm& model = *trained.model;
        const ScoreNetConfig& net = model.config.net;
        const IdxArray images = read_idx(in_path);
        const std::vector<int64_t>& dims = images.dims;
        const bool fits = (dims.size() == 3 && net.image_channels == 1 && dims[1] == net.height &&
                           dims[2] == net.width) ||
                          (dims.size() == 4 && dims[1] == net.image_channels && dims[2] == net.height &&
                           dims[3] == net.width);
        std::string shape;
        for (int64_t size : dims) shape += (shape.empty() ? "(" : ", ") + std::to_string(size);
        VDM_CHECK(fits, in_path, ": holds ", shape, "), not the ", net.image_channels, "x", net.height, "x",
                  net.width, " images the model codes");
        VDM_CHECK(skip < dims[0], "--skip ", skip, " leaves none of the ", dims[0], " images in ", in_path);
        if (n == 0) n = dims[0] - skip;
        VDM_CHECK(skip + n <= dims[0], "--skip ", skip, " and --n ", n, " exceed the ", dims[0], " images in ", in_path);
        const int64_t D = model.image_size();
        const uint8_t* pixels = images.data.data() + skip * D;

        const BitsBackCoder coder(model, options);
        std::fprintf(stderr, "%s: step %lld; compressing %lld images of %s on %s\n", ckpt.c_str(),
                     (long long)trained.step, (long long)n, in_path.c_str(), device_description(device).c_str());
        std::fprintf(stderr, "T = %lld steps; latent grids over [-%g, %g], bins of %g sigma: %lld values for z_0, %lld for z_1\n",
                     (long long)options.T, options.range, options.range, options.bin,
                     (long long)coder.grid(0).size(), (long long)coder.grid(options.T).size());

        RansStack stack{uint64_t(seed)};
        Rng reference_rng{uint64_t(seed)};
        ImageCode total;
        double bound_sq = 0, reference_sum = 0, reference_sq = 0;
        auto last = start;
        for (int64_t k = 0; k < n; ++k) {
            const ImageCode code = coder.encode(stack, pixels + k * D);
            total.code_length += code.code_length, total.trajectory += code.trajectory;
            total.prior += code.prior, total.recon += code.recon, total.diffusion += code.diffusion;
            bound_sq += code.bound() * code.bound();
            if (reference) {
                const double b = coder.sample_bound(pixels + k * D, reference_rng).bound();
                reference_sum += b, reference_sq += b * b;
            }
            const auto now = std::chrono::steady_clock::now();
            if (std::chrono::duration<double>(now - last).count() >= 1.0 || k + 1 == n) {
                last = now;
                const double elapsed = std::chrono::duration<double>(now - start).count();
                const double nats_per_bpd = double(k + 1) * double(D) * std::log(2.0);  // so far
                std::fprintf(stderr, "compressed %lld/%lld images: %.4f bpd coded, bound %.4f; %.2f img/s, ETA %.0fs\n",
                             (long long)k + 1, (long long)n, total.code_length / nats_per_bpd,
                             total.bound() / nats_per_bpd, double(k + 1) / elapsed,
                             elapsed / double(k + 1) * double(n - k - 1));
            }
        }

        VdmzFile file;
        file.model_fingerprint = model_fingerprint(model);
        file.computation_fingerprint = coder.computation_fingerprint();
        file.images = uint64_t(n);
        file.channels = uint32_t(net.image_channels), file.rows = uint32_t(net.height), file.cols = uint32_t(net.width);
        file.pixels_crc = crc32_of(pixels, size_t(n * D));
        file.T = uint64_t(options.T), file.bin = options.bin, file.range = options.range, file.seed = uint64_t(seed);
        file.state = stack.state(), file.initial_words_read = stack.initial_words_read(), file.words = stack.words();
        const uint64_t bytes = write_vdmz(out_path, file);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

        // bits per dimension: the file less the initial words it carries, the whole file, the bounds
        const double dims_total = double(n) * double(D), nats_per_bpd = double(D) * std::log(2.0);
        const double initial_bits = 32.0 * double(stack.initial_words_read());
        const double bpd = (8.0 * double(bytes) - initial_bits) / dims_total;
        auto mean_bpd = [&](double nats) { return nats / double(n) / nats_per_bpd; };
        auto stderr_bpd = [&](double sum, double sum_sq) {  // of the mean over images
            const double mean = sum / double(n);
            return n < 2 ? 0.0
                         : std::sqrt(std::fmax(sum_sq / double(n) - mean * mean, 0.0) / double(n - 1)) / nats_per_bpd;
        };
        const double bound = mean_bpd(total.bound());
        std::fprintf(stderr, "%s: %llu bytes, %.4f bpd (+ %.0f initial bits: %.4f bpd with them); bound on the coded "
                             "trajectories %.4f +- %.4f (prior %.5f + recon %.5f + diffusion %.4f), gap %+.2f%%\n",
                     out_path.c_str(), (unsigned long long)bytes, bpd, initial_bits, 8.0 * double(bytes) / dims_total,
                     bound, stderr_bpd(total.bound(), bound_sq), mean_bpd(total.prior), mean_bpd(total.recon),
                     mean_bpd(total.diffusion), 100.0 * (bpd / bound - 1.0));
        std::string reference_json;
        if (reference) {
            const double r = mean_bpd(reference_sum), r_stderr = stderr_bpd(reference_sum, reference_sq);
            std::fprintf(stderr, "reference bound (independent draws) %.4f +- %.4f, gap %+.2f%%\n", r, r_stderr,
                         100.0 * (bpd / r - 1.0));
            reference_json = "\"reference_bound_bpd\": " + std::to_string(r) + ", \"reference_bound_stderr\": " +
                             std::to_string(r_stderr) + ", \"reference_gap\": " + std::to_string(bpd / r - 1.0) + ", ";
        }
        std::printf("{\"images\": %lld, \"bytes\": %llu, \"bits_per_dim\": %.6f, \"bits_per_dim_with_initial\": %.6f, "
                    "\"initial_bits\": %.0f, \"bound_bpd\": %.6f, \"bound_bpd_stderr\": %.6f, \"prior\": %.6f, "
                    "\"recon\": %.6f, \"diffusion\": %.6f, \"coded_bpd\": %.6f, \"trajectory_bpd\": %.6f, "
                    "\"gap\": %.6f, %s\"T\": %lld, \"bin\": %g, \"range\": %g, \"images_per_s\": %.4f, \"seconds\": %.2f}\n",
                    (long long)n, (unsigned long long)bytes, bpd, 8.0 * double(bytes) / dims_total, initial_bits, bound,
                    stderr_bpd(total.bound(), bound_sq), mean_bpd(total.prior), mean_bpd(total.recon),
                    mean_bpd(total.diffusion), mean_bpd(total.code_length), mean_bpd(total.trajectory),
                    bpd / bound - 1.0, reference_json.c_str(), (long long)options.T, options.bin, options.range,
                    double(n) / seconds, seconds);
        return 0;
    });
}
