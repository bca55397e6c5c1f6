// demo_mnist: the whole stack end to end until the VDM trainer lands (issue #3).
// Loads MNIST (or Fashion-MNIST) through the IDX reader, trains a two-layer MLP
// classifier with the autodiff ops (matmul, SiLU, log-softmax + gather) and plain
// SGD, and reports test accuracy. Last stdout line: one JSON object.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "apps/common/flags.h"
#include "autodiff/ops.h"
#include "datasets/dataset.h"
#include "tensor/rng.h"

using namespace vdm;

namespace {

// Pixels (B, 784) scaled to [0, 1] and labels as an i32 index tensor.
void make_batch(const Dataset& data, const std::vector<int64_t>& idx, Tensor& x, Tensor& y) {
    const int64_t D = data.image_size();
    std::vector<uint8_t> pixels(idx.size() * size_t(D));
    gather_images(data, idx, pixels.data());
    x = Tensor::empty(Shape{int64_t(idx.size()), D});
    y = Tensor::empty(Shape{int64_t(idx.size())}, DType::I32);
    for (size_t i = 0; i < pixels.size(); ++i) x.data<float>()[i] = float(pixels[i]) / 255.0f;
    for (size_t i = 0; i < idx.size(); ++i) y.data<int32_t>()[i] = data.labels[size_t(idx[i])];
}

// He-initialized weight (out, in) and zero bias.
Var weight(int64_t out, int64_t in, Rng& rng) {
    Tensor w = Tensor::empty(Shape{out, in});
    backend_for(Device::CPU).fill_normal(w, rng.seed, rng.take(uint64_t(w.numel())));
    backend_for(Device::CPU).affine(w, std::sqrt(2.0 / double(in)), 0.0, w);
    return Var(w, true);
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        std::string data_dir, dataset = "mnist";
        int64_t steps = 3000, batch = 128, hidden = 128, seed = 0, threads = 0;
        double lr = 0.1;
        Flags flags("demo_mnist", "train a small MLP classifier with vdm.cpp's autodiff");
        flags.add("data", &data_dir, "folder with the four IDX files (else $VDM_DATA/<dataset>, else ./data/<dataset>)");
        flags.add_choice("dataset", &dataset, {"mnist", "fashion"}, "which dataset");
        flags.add("steps", &steps, 1, 10000000, "SGD steps");
        flags.add("batch", &batch, 1, 60000, "batch size");
        flags.add("hidden", &hidden, 1, 100000, "hidden units");
        flags.add("lr", &lr, 0.0, 100.0, "learning rate");
        flags.add("seed", &seed, 0, INT64_MAX, "random seed");
        flags.add("threads", &threads, 0, 1024, "OpenMP threads (0: all cores)");
        if (!flags.parse(argc, argv)) return 0;
        if (threads > 0) omp_set_num_threads(int(threads));

        const std::string dir = resolve_data_dir(data_dir, dataset);
        Dataset train = load_split(dir, Split::Train), test = load_split(dir, Split::Test);
        std::printf("data: %s (%lld train, %lld test, %lldx%lldx%lld)\n", dir.c_str(),
                    (long long)train.n, (long long)test.n, (long long)train.channels,
                    (long long)train.height, (long long)train.width);

        Rng rng{uint64_t(seed)};
        const int64_t D = train.image_size();
        std::vector<Var> params = {weight(hidden, D, rng), Var(Tensor::zeros(Shape{hidden}), true),
                                   weight(10, hidden, rng), Var(Tensor::zeros(Shape{10}), true)};
        auto logits = [&](const Tensor& x) {
            Var h = silu(matmul(Var(x), params[0], false, true) + params[1]);
            return matmul(h, params[2], false, true) + params[3];
        };

        std::vector<int64_t> all(size_t(train.n));
        for (int64_t i = 0; i < train.n; ++i) all[size_t(i)] = i;
        BatchSampler sampler(all, batch, uint64_t(seed));
        auto start = std::chrono::steady_clock::now(), last_print = start;
        double window_loss = 0.0;
        int64_t window = 0;
        double last_loss = 0.0;
        for (int64_t step = 1; step <= steps; ++step) {
            Tensor x, y;
            make_batch(train, sampler.next(), x, y);
            Var loss = -mean(gather_last(log_softmax(logits(x)), y));  // cross-entropy
            loss.backward();
            require_finite(loss.value(), "training loss");
            for (Var& p : params) {  // p -= lr * grad
                Tensor step_t = Tensor::empty(p.shape());
                backend_for(Device::CPU).affine(p.grad(), -lr, 0.0, step_t);
                backend_for(Device::CPU).accumulate(p.value(), step_t);
                p.zero_grad();
            }
            window_loss += loss.item();
            ++window;
            auto now = std::chrono::steady_clock::now();
            double since_print = std::chrono::duration<double>(now - last_print).count();
            if (since_print >= 1.0 || step == steps) {
                double elapsed = std::chrono::duration<double>(now - start).count();
                last_loss = window_loss / double(window);
                std::printf("step %6lld/%lld  loss %.4f  %.1f steps/s  ETA %.0fs\n", (long long)step,
                            (long long)steps, last_loss, double(step) / elapsed,
                            double(steps - step) * elapsed / double(step));
                std::fflush(stdout);
                window_loss = 0.0, window = 0, last_print = now;
            }
        }

        NoGradGuard no_grad;
        int64_t correct = 0;
        for (int64_t first = 0; first < test.n; first += 1000) {
            std::vector<int64_t> idx;
            for (int64_t i = first; i < std::min(first + 1000, test.n); ++i) idx.push_back(i);
            Tensor x, y;
            make_batch(test, idx, x, y);
            Tensor out = logits(x).value();
            for (int64_t r = 0; r < int64_t(idx.size()); ++r) {
                int64_t best = 0;
                for (int64_t c = 1; c < 10; ++c)
                    if (out.at(r * 10 + c) > out.at(r * 10 + best)) best = c;
                correct += best == y.data<int32_t>()[r];
            }
        }
        double accuracy = double(correct) / double(test.n);
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("test accuracy %.4f after %lld steps (%.1f s)\n", accuracy, (long long)steps, seconds);
        std::printf("{\"steps\": %lld, \"train_loss\": %.6f, \"test_accuracy\": %.6f, \"seconds\": %.3f}\n",
                    (long long)steps, last_loss, accuracy, seconds);
        return 0;
    });
}
