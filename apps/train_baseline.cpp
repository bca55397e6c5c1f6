// train_baseline: trains one of the results table's baselines (baselines/) on MNIST or
// Fashion-MNIST and measures it on the test set in the bits per dimension every row
// of the table uses (baselines/evaluate.h):
//   --model vae       a VAE: the -ELBO on the test images, and the importance-weighted
//                     bound IWAE_K on the first --iwae-n of them;
//   --model pixelcnn  a PixelCNN: its exact -log p(x).
// AdamW with linear warmup and gradient clipping on the objective in bpd (the -ELBO,
// or -log p(x)), batches from all 60000 training images. Writes into --out (default
// runs/<dataset>-<model>): checkpoint.safetensors (parameters and config), samples.png
// and samples.idx (what vdm_score reads). Progress goes to stderr at most once per
// second; the last stdout line is JSON.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "apps/common/data_flags.h"
#include "apps/common/device.h"
#include "apps/common/flags.h"
#include "apps/common/image_files.h"
#include "baselines/evaluate.h"
#include "baselines/pixel_categorical.h"
#include "nn/adamw.h"
#include "nn/safetensors.h"
#include "vdm/bpd.h"

using namespace vdm;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string json_number(double x) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
}

// What the loop needs of a baseline: its module, the training objective of a batch
// (per image nats, to be minimized), the test-set figures, and samples.
struct Baseline {
    std::unique_ptr<Module> module;
    std::function<Var(const uint8_t* pixels, int64_t batch, Rng& rng)> nats;
    std::function<std::string(const Dataset& test, const std::vector<int64_t>& indices)> evaluate;
    std::function<std::vector<uint8_t>(int64_t n, Rng& rng)> sample;
    std::map<std::string, std::string> config;  // for the checkpoint's metadata
};

Baseline make_vae(const VaeConfig& c, Rng& init, int64_t iwae_k, int64_t iwae_n) {
    auto model = std::make_unique<Vae>(c, DType::F32, init);
    const Vae& vae = *model;
    Baseline b;
    b.nats = [&vae](const uint8_t* pixels, int64_t batch, Rng& rng) {
        Tensor eps = Tensor::empty(Shape{batch, vae.config.latent}, DType::F32);
        backend_for(Device::CPU).fill_normal(eps, rng.seed, rng.take(uint64_t(eps.numel())));
        return vae_terms(vae, pixels, batch, eps).total();
    };
    b.evaluate = [&vae, iwae_k, iwae_n](const Dataset& test, const std::vector<int64_t>& indices) {
        const BaselineEstimate elbo = evaluate_vae_elbo(vae, test, indices, 100, 1);
        std::fprintf(stderr, "test -ELBO: %.4f +- %.4f bpd = KL %.4f + recon %.4f (%lld images)\n", elbo.bpd,
                     elbo.bpd_stderr, elbo.kl, elbo.recon, (long long)elbo.n);
        std::string json = "\"test_bpd\": " + json_number(elbo.bpd) + ", \"test_bpd_stderr\": " +
                           json_number(elbo.bpd_stderr) + ", \"test_n\": " + std::to_string(elbo.n) +
                           ", \"kl\": " + json_number(elbo.kl) + ", \"recon\": " + json_number(elbo.recon);
        if (iwae_n > 0 && iwae_k > 0) {
            const auto start = std::chrono::steady_clock::now();
            const std::vector<int64_t> first(indices.begin(),
                                             indices.begin() + std::min<int64_t>(iwae_n, int64_t(indices.size())));
            auto progress = [&](int64_t done, int64_t total) {
                const double elapsed = seconds_since(start);
                std::fprintf(stderr, "IWAE_%lld: %lld/%lld images, %.0f s, ETA %.0f s\n", (long long)iwae_k,
                             (long long)done, (long long)total, elapsed,
                             elapsed / double(done) * double(total - done));
            };
            const BaselineEstimate iwae = evaluate_vae_iwae(vae, test, first, iwae_k, 2, progress);
            std::fprintf(stderr, "test -IWAE_%lld: %.4f +- %.4f bpd (%lld images, %.0f s)\n", (long long)iwae_k,
                         iwae.bpd, iwae.bpd_stderr, (long long)iwae.n, seconds_since(start));
            json += ", \"iwae_bpd\": " + json_number(iwae.bpd) + ", \"iwae_bpd_stderr\": " +
                    json_number(iwae.bpd_stderr) + ", \"iwae_k\": " + std::to_string(iwae_k) +
                    ", \"iwae_n\": " + std::to_string(iwae.n);
        }
        return json;
    };
    b.sample = [&vae](int64_t n, Rng& rng) {
        NoGradGuard no_grad;
        const VaeConfig& c = vae.config;
        Tensor z = Tensor::empty(Shape{n, c.latent}, DType::F32);
        backend_for(Device::CPU).fill_normal(z, rng.seed, rng.take(uint64_t(z.numel())));
        const Tensor logits = vae.decode(Var(z.to(vae.device()))).value().to(Device::CPU).to(DType::F64);
        const int64_t D = c.image_channels * c.height * c.width, HW = c.height * c.width;
        std::vector<uint8_t> images(size_t(n * D));
        for (int64_t b = 0; b < n; ++b)  // every pixel independently given z
            for (int64_t ch = 0; ch < c.image_channels; ++ch)
                for (int64_t p = 0; p < HW; ++p)
                    images[size_t(b * D + ch * HW + p)] = draw_pixel(
                        logits.data<double>() + (b * c.image_channels + ch) * kPixelValues * HW + p, HW,
                        rng.uniform());
        return images;
    };
    b.config = {{"model", "vae"}, {"channels", std::to_string(c.channels)}, {"latent", std::to_string(c.latent)}};
    b.module = std::move(model);
    return b;
}

Baseline make_pixelcnn(const PixelCnnConfig& c, Rng& init) {
    auto model = std::make_unique<PixelCnn>(c, DType::F32, init);
    const PixelCnn& net = *model;
    Baseline b;
    b.nats = [&net](const uint8_t* pixels, int64_t batch, Rng&) { return -pixelcnn_log_prob(net, pixels, batch); };
    b.evaluate = [&net](const Dataset& test, const std::vector<int64_t>& indices) {
        const BaselineEstimate e = evaluate_pixelcnn(net, test, indices, 100);
        std::fprintf(stderr, "test -log p(x): %.4f +- %.4f bpd (exact, %lld images)\n", e.bpd, e.bpd_stderr,
                     (long long)e.n);
        return "\"test_bpd\": " + json_number(e.bpd) + ", \"test_bpd_stderr\": " + json_number(e.bpd_stderr) +
               ", \"test_n\": " + std::to_string(e.n);
    };
    b.sample = [&net](int64_t n, Rng& rng) { return pixelcnn_sample(net, n, rng); };
    b.config = {{"model", "pixelcnn"}, {"channels", std::to_string(c.channels)}, {"blocks", std::to_string(c.blocks)}};
    b.module = std::move(model);
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        std::string model_name, dataset = "mnist", out_dir;
        int64_t channels = 0, latent = 32, blocks = 5;
        int64_t steps = 2000, batch = 64, warmup = 100, seed = 0;
        int64_t test_n = 0, iwae_k = 1000, iwae_n = 1000, sample_n = 64;
        double lr = 1e-3, clip = 1.0;
        Flags flags("train_baseline", "train a VAE or a PixelCNN and report test bits per dimension");
        flags.group("data");
        DataFlags data_flags(flags);
        flags.add_choice("dataset", &dataset, {"mnist", "fashion"}, "which dataset");
        flags.group("model");
        flags.add_choice("model", &model_name, {"vae", "pixelcnn"}, "which baseline (required)");
        flags.add("channels", &channels, 0, 1024, "width (0: 32 for vae, 64 for pixelcnn)");
        flags.add("latent", &latent, 1, 4096, "vae: latent dimensions");
        flags.add("blocks", &blocks, 0, 64, "pixelcnn: residual blocks of masked 3x3 convolutions");
        flags.group("optimization");
        flags.add("steps", &steps, 1, 100000000, "training steps");
        flags.add("batch", &batch, 1, 4096, "images per step");
        flags.add("lr", &lr, 0.0, 1.0, "peak learning rate (AdamW)");
        flags.add("warmup", &warmup, 0, 100000000, "linear learning-rate warmup steps");
        flags.add("clip", &clip, 0.0, 1e9, "max global gradient norm");
        flags.add("seed", &seed, 0, INT64_MAX / 8, "random seed (init, batches, draws)");
        flags.group("evaluation");
        flags.add("test-n", &test_n, 0, 1000000, "test images to evaluate (0: all)");
        flags.add("iwae-k", &iwae_k, 1, 1000000, "vae: importance samples of the IWAE bound");
        flags.add("iwae-n", &iwae_n, 0, 1000000, "vae: test images of the IWAE bound, the first N evaluated (0: none)");
        flags.group("output");
        flags.add("out", &out_dir, "output folder (default runs/<dataset>-<model>)");
        flags.add("sample-n", &sample_n, 0, 1024, "samples in samples.png and samples.idx (0: none)");
        DeviceFlags device_flags(flags);
        if (!flags.parse(argc, argv)) return 0;
        flags.require({"model"});
        const Device device = device_flags.select();

        const std::string dir = data_flags.resolve(dataset);
        Dataset train = load_split(dir, Split::Train), test = load_split(dir, Split::Test);
        Rng init(uint64_t(seed) * 4 + 1), draws(uint64_t(seed) * 4 + 2), sampling(uint64_t(seed) * 4 + 3);
        Baseline baseline;
        if (model_name == "vae") {
            VaeConfig c;
            c.image_channels = train.channels, c.height = train.height, c.width = train.width;
            c.channels = channels > 0 ? channels : 32;
            c.latent = latent;
            baseline = make_vae(c, init, iwae_k, iwae_n);
        } else {
            VDM_CHECK(train.channels == 1, "--model pixelcnn: images of ", train.channels,
                      " channels (this PixelCNN orders the pixels of one channel)");
            PixelCnnConfig c;
            c.height = train.height, c.width = train.width;
            c.channels = channels > 0 ? channels : 64;
            c.blocks = blocks;
            baseline = make_pixelcnn(c, init);
        }
        Module& model = *baseline.module;
        model.to(device);
        const std::vector<Parameter> params = model.parameters();
        AdamW optimizer(params, AdamWConfig{});
        std::vector<int64_t> all(size_t(train.n));
        for (int64_t i = 0; i < train.n; ++i) all[size_t(i)] = i;
        BatchSampler sampler(all, batch, uint64_t(seed) * 4 + 4);
        if (out_dir.empty()) out_dir = "runs/" + dataset + "-" + model_name;
        std::filesystem::create_directories(out_dir);
        std::fprintf(stderr,
                     "data: %s (%lld train, %lld test, %lldx%lldx%lld)\n"
                     "model: %s, %lld parameters\ntraining: %lld steps, batch %lld, lr %g, on %s -> %s\n",
                     dir.c_str(), (long long)train.n, (long long)test.n, (long long)train.channels,
                     (long long)train.height, (long long)train.width, model_name.c_str(),
                     (long long)model.parameter_count(), (long long)steps, (long long)batch, lr,
                     device_description(device).c_str(), out_dir.c_str());

        const int64_t D = train.image_size();
        const double to_bpd = 1.0 / (double(D) * std::log(2.0));
        std::vector<uint8_t> pixels(size_t(batch * D));
        auto start = std::chrono::steady_clock::now(), last_print = start;
        double window = 0.0, last_bpd = 0.0;
        int64_t window_steps = 0;
        for (int64_t step = 1; step <= steps; ++step) {
            gather_images(train, sampler.next(), pixels.data());
            Var loss = mean(baseline.nats(pixels.data(), batch, draws)) * to_bpd;
            require_finite(loss.value(), "training loss");
            loss.backward();
            clip_grad_norm(params, clip);
            optimizer.step(warmup_lr(lr, step, warmup));
            window += loss.item();
            ++window_steps;
            const double since = seconds_since(last_print);
            if (since >= 1.0 || step == steps) {
                last_bpd = window / double(window_steps);
                std::fprintf(stderr, "step %6lld/%lld | train bpd %.4f | %.0f ms/step %.0f img/s | ETA %.0fs\n",
                             (long long)step, (long long)steps, last_bpd, 1e3 * since / double(window_steps),
                             double(batch * window_steps) / since,
                             seconds_since(start) / double(step) * double(steps - step));
                window = 0.0, window_steps = 0, last_print = std::chrono::steady_clock::now();
            }
        }
        const double train_seconds = seconds_since(start);

        std::vector<NamedTensor> tensors;
        for (const Parameter& p : params) tensors.push_back({p.name, p.var.value().to(Device::CPU)});
        std::map<std::string, std::string> meta = baseline.config;
        meta["dataset"] = dataset;
        meta["steps"] = std::to_string(steps);
        meta["batch"] = std::to_string(batch);
        meta["seed"] = std::to_string(seed);
        const std::string ckpt = out_dir + "/checkpoint.safetensors";
        save_safetensors(ckpt, tensors, meta);

        std::vector<int64_t> indices(size_t(test_n > 0 ? std::min(test_n, test.n) : test.n));
        for (size_t i = 0; i < indices.size(); ++i) indices[i] = int64_t(i);
        const auto eval_start = std::chrono::steady_clock::now();
        const std::string test_json = baseline.evaluate(test, indices);
        const double eval_seconds = seconds_since(eval_start);

        std::string samples_png, samples_idx;
        double sample_seconds = 0.0;
        if (sample_n > 0) {
            const auto sample_start = std::chrono::steady_clock::now();
            const std::vector<uint8_t> images = baseline.sample(sample_n, sampling);
            sample_seconds = seconds_since(sample_start);
            const ImageDims dims{train.channels, train.height, train.width};
            samples_png = out_dir + "/samples.png";
            samples_idx = out_dir + "/samples.idx";
            write_png_grid(dims, images, sample_n, samples_png);
            write_idx_images(dims, images, sample_n, samples_idx);
            std::fprintf(stderr, "samples: %s, %s (%lld, %.1f s)\n", samples_png.c_str(), samples_idx.c_str(),
                         (long long)sample_n, sample_seconds);
        }
        std::printf("{\"model\": \"%s\", \"dataset\": \"%s\", \"parameters\": %lld, \"steps\": %lld, \"batch\": %lld, "
                    "\"train_bpd\": %s, %s, \"train_seconds\": %.1f, \"eval_seconds\": %.1f, \"sample_seconds\": %.1f, "
                    "\"checkpoint\": \"%s\", \"samples\": \"%s\", \"samples_idx\": \"%s\"}\n",
                    model_name.c_str(), dataset.c_str(), (long long)model.parameter_count(), (long long)steps,
                    (long long)batch, json_number(last_bpd).c_str(), test_json.c_str(), train_seconds, eval_seconds,
                    sample_seconds, ckpt.c_str(), samples_png.c_str(), samples_idx.c_str());
        return 0;
    });
}
