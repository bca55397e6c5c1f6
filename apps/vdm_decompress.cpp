// vdm_decompress: the inverse of vdm_compress. Reads a .vdmz file, checks that the
// checkpoint is the one that coded it and that this machine computes the coder's
// intervals exactly as the encoder did, undoes the bits-back code image by image
// (last image first: the code is a stack), and writes the images as a raw IDX file.
// Decoding must end on the initial bits and on the images' checksum; anything else
// is an error, never a wrong image. The last stdout line is JSON.
#include <chrono>
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
        Flags flags("vdm_decompress", "images back from a vdm_compress file, byte for byte");
        flags.group("files");
        flags.add("ckpt", &ckpt, "the checkpoint the file was compressed with (required)");
        flags.add("in", &in_path, "file written by vdm_compress (required)");
        flags.add("out", &out_path, "IDX file of the images to write, raw (required)");
        // One thread by default: the network runs on one image at a time, and at batch 1
        // a second OpenMP thread only waits (8 times slower measured on 2 cores); two
        // processes on two halves of the images use two cores.
        DeviceFlags device_flags(flags, false, 1);
        if (!flags.parse(argc, argv)) return 0;
        flags.require({"ckpt", "in", "out"});
        const Device device = device_flags.select();
        ckpt = resolve_checkpoint(ckpt);
        const auto start = std::chrono::steady_clock::now();

        const VdmzFile file = read_vdmz(in_path);
        TrainedModel trained = load_ema_model(ckpt, device);
        const Vdm& model = *trained.model;
        const ScoreNetConfig& net = model.config.net;
        VDM_CHECK(file.channels == uint64_t(net.image_channels) && file.rows == uint64_t(net.height) &&
                      file.cols == uint64_t(net.width),
                  in_path, ": holds ", file.channels, "x", file.rows, "x", file.cols, " images, ", ckpt, " models ",
                  net.image_channels, "x", net.height, "x", net.width);
        VDM_CHECK(file.model_fingerprint == model_fingerprint(model), in_path,
                  ": was compressed with another model than ", ckpt);
        const BitsBackOptions options{int64_t(file.T), file.bin, file.range};
        const BitsBackCoder coder(model, options);
        VDM_CHECK(file.computation_fingerprint == coder.computation_fingerprint(), in_path,
                  ": this build, device or machine rounds the model's computations differently from the one "
                  "that compressed it, so decoding would go wrong (decode where it was encoded)");

        const int64_t n = int64_t(file.images), D = model.image_size();
        std::fprintf(stderr, "%s: %lld images, T = %lld, bin %g; decoding with %s (step %lld) on %s\n",
                     in_path.c_str(), (long long)n, (long long)file.T, file.bin, ckpt.c_str(),
                     (long long)trained.step, device_description(device).c_str());
        RansStack stack(file.seed, file.state, file.words, file.initial_words_read);
        std::vector<uint8_t> pixels(size_t(n * D));
        auto last = start;
        for (int64_t k = n - 1; k >= 0; --k) {  // the last image coded is on top
            const std::vector<uint8_t> image = coder.decode(stack);
            std::copy(image.begin(), image.end(), pixels.begin() + k * D);
            const auto now = std::chrono::steady_clock::now();
            if (std::chrono::duration<double>(now - last).count() >= 1.0 || k == 0) {
                last = now;
                const double elapsed = std::chrono::duration<double>(now - start).count();
                const int64_t done = n - k;
                std::fprintf(stderr, "decompressed %lld/%lld images, %.2f img/s, ETA %.0fs\n", (long long)done,
                             (long long)n, double(done) / elapsed, elapsed / double(done) * double(n - done));
            }
        }
        VDM_CHECK(stack.at_start() && crc32_of(pixels.data(), pixels.size()) == file.pixels_crc, in_path,
                  ": decoding did not end where encoding began: the images would be wrong");

        IdxArray out;
        out.dims = net.image_channels == 1 ? std::vector<int64_t>{n, net.height, net.width}
                                           : std::vector<int64_t>{n, net.image_channels, net.height, net.width};
        out.data = std::move(pixels);
        write_idx(out_path, out);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const uint64_t bytes = vdmz_bytes(file).size();
        std::fprintf(stderr, "wrote %s\n", out_path.c_str());
        std::printf("{\"images\": %lld, \"bytes\": %llu, \"bits_per_dim\": %.6f, \"images_per_s\": %.4f, "
                    "\"seconds\": %.2f}\n",
                    (long long)n, (unsigned long long)bytes,
                    (8.0 * double(bytes) - 32.0 * double(file.initial_words_read)) / (double(n) * double(D)),
                    double(n) / seconds, seconds);
        return 0;
    });
}
