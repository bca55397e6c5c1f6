// train_classifier: trains the small convolutional classifier of nn/classifier.h on
// MNIST or Fashion-MNIST (all 60000 training images), the judge that vdm_score uses
// to measure sample quality. AdamW with a cosine-decayed learning rate; the
// accuracy on the 10000 test images at the end goes into the file's metadata.
// Progress goes to stderr at most once per second; the last stdout line is JSON.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "apps/common/device.h"
#include "apps/common/data_flags.h"
#include "apps/common/flags.h"
#include "datasets/dataset.h"
#include "nn/adamw.h"
#include "nn/classifier.h"

using namespace vdm;

namespace {

// The share of images whose most probable class is their label.
double accuracy(const ClassifierOutputs& out, const std::vector<uint8_t>& labels, int64_t classes) {
    int64_t correct = 0;
    for (int64_t i = 0; i < out.n; ++i) {
        const double* p = out.probabilities.data() + i * classes;
        correct += std::max_element(p, p + classes) - p == labels[size_t(i)];
    }
    return double(correct) / double(out.n);
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        ClassifierConfig config;
        std::string dataset = "mnist", out;
        int64_t steps = 3000, batch = 128, seed = 0;
        double lr = 2e-3;
        Flags flags("train_classifier", "train the classifier that vdm_score judges samples with");
        flags.group("data");
        DataFlags data_flags(flags);
        flags.add_choice("dataset", &dataset, {"mnist", "fashion-mnist", "fashion"}, "which dataset");
        flags.group("model");
        flags.add("channels", &config.channels, 1, 1024, "channels of the first convolution (the second has twice as many)");
        flags.add("features", &config.features, 2, 65536, "width of the feature layer (what the Frechet distance compares)");
        flags.group("optimization");
        flags.add("steps", &steps, 1, 100000000, "training steps");
        flags.add("batch", &batch, 1, 4096, "images per step");
        flags.add("lr", &lr, 0.0, 1.0, "peak learning rate (AdamW), cosine-decayed to 0");
        flags.add("seed", &seed, 0, INT64_MAX, "random seed (initialization, batch order)");
        flags.group("output");
        flags.add("out", &out, "classifier file to write (default runs/classifier-<dataset>.safetensors)");
        DeviceFlags device_flags(flags);
        if (!flags.parse(argc, argv)) return 0;
        const Device device = device_flags.select();
        if (dataset == "fashion") dataset = "fashion-mnist";
        if (out.empty()) out = "runs/classifier-" + dataset + ".safetensors";

        const std::string dir = data_flags.resolve(dataset);
        Dataset train = load_split(dir, Split::Train), test = load_split(dir, Split::Test);
        config.image_channels = train.channels;
        config.height = train.height;
        config.width = train.width;
        config.classes = train.num_classes;
        Rng init(uint64_t(seed) * 2 + 1);
        Classifier model(config, DType::F32, init);
        model.to(device);
        AdamW optimizer(model.parameters(), AdamWConfig{});
        std::vector<int64_t> all(size_t(train.n));
        for (int64_t i = 0; i < train.n; ++i) all[size_t(i)] = i;
        BatchSampler sampler(all, batch, uint64_t(seed) * 2 + 2);
        std::fprintf(stderr,
                     "data: %s (%lld train, %lld test, %lldx%lldx%lld)\n"
                     "model: %lld parameters; channels %lld and %lld, features %lld, classes %lld\n"
                     "training: %lld steps, batch %lld, lr %g, on %s -> %s\n",
                     dir.c_str(), (long long)train.n, (long long)test.n, (long long)train.channels,
                     (long long)train.height, (long long)train.width, (long long)model.parameter_count(),
                     (long long)config.channels, (long long)(2 * config.channels),
                     (long long)config.features, (long long)config.classes, (long long)steps,
                     (long long)batch, lr, device_description(device).c_str(), out.c_str());

        const int64_t D = train.image_size();
        std::vector<uint8_t> pixels(size_t(batch * D));
        Tensor labels = Tensor::empty(Shape{batch}, DType::I32);
        auto start = std::chrono::steady_clock::now(), last_print = start;
        double window_loss = 0.0, last_loss = 0.0;
        int64_t window_steps = 0;
        const double pi = std::acos(-1.0);
        for (int64_t step = 1; step <= steps; ++step) {
            const std::vector<int64_t> idx = sampler.next();
            gather_images(train, idx, pixels.data());
            for (int64_t i = 0; i < batch; ++i) labels.data<int32_t>()[i] = train.labels[size_t(idx[size_t(i)])];
            Var x(classifier_input(pixels.data(), batch, config).to(device));
            Var loss = cross_entropy(model.logits(x), labels);
            loss.backward();
            require_finite(loss.value(), "training loss");
            const double loss_value = loss.item();
            // cosine decay from lr at step 1 to 0 after the last step
            const double step_lr = 0.5 * lr * (1.0 + std::cos(pi * double(step - 1) / double(steps)));
            optimizer.step(step_lr);
            window_loss += loss_value;
            ++window_steps;
            auto now = std::chrono::steady_clock::now();
            const double since_print = std::chrono::duration<double>(now - last_print).count();
            if (since_print >= 1.0 || step == steps) {
                const double elapsed = std::chrono::duration<double>(now - start).count();
                last_loss = window_loss / double(window_steps);
                std::fprintf(stderr, "step %6lld/%lld | loss %.4f | lr %.2e | %.0f ms/step %.0f img/s | ETA %.0fs\n",
                             (long long)step, (long long)steps, last_loss, step_lr,
                             1e3 * since_print / double(window_steps),
                             double(batch * window_steps) / since_print,
                             elapsed / double(step) * double(steps - step));
                window_loss = 0.0, window_steps = 0, last_print = now;
            }
        }

        const double test_accuracy = accuracy(classify(model, test.images.data(), test.n), test.labels,
                                              config.classes);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "test accuracy %.4f on %lld images after %lld steps (%.1f s)\n", test_accuracy,
                     (long long)test.n, (long long)steps, seconds);
        const std::filesystem::path parent = std::filesystem::path(out).parent_path();
        if (!parent.empty()) std::filesystem::create_directories(parent);
        char accuracy_text[32];
        std::snprintf(accuracy_text, sizeof accuracy_text, "%.6f", test_accuracy);
        save_classifier(out, model, {{"dataset", dataset}, {"test_accuracy", accuracy_text},
                                     {"steps", std::to_string(steps)}, {"batch", std::to_string(batch)},
                                     {"seed", std::to_string(seed)}});
        std::fprintf(stderr, "classifier: %s\n", out.c_str());
        std::printf("{\"test_accuracy\": %s, \"train_loss\": %.6f, \"steps\": %lld, \"dataset\": \"%s\", "
                    "\"out\": \"%s\", \"seconds\": %.1f}\n",
                    accuracy_text, last_loss, (long long)steps, dataset.c_str(), out.c_str(), seconds);
        return 0;
    });
}
