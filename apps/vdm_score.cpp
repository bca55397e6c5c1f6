// vdm_score: how good are N samples, as a classifier sees them
// (docs/vdm.md#sample-quality-a-classifier-frechet-distance). Reads N images from an
// IDX file (vdm_sample --save-idx writes one) and N test images, runs a classifier
// from train_classifier on both, and reports the Fréchet distance between Gaussians
// fitted to the two sets of features (a "classifier FID"), the share of samples the
// classifier calls with probability >= 0.9, and bootstrap standard errors of both.
// Deterministic for a seed. The last stdout line is JSON.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "apps/common/device.h"
#include "apps/common/data_flags.h"
#include "apps/common/flags.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "nn/classifier.h"
#include "vdm/sample_quality.h"

using namespace vdm;

namespace {

std::string shape_text(const std::vector<int64_t>& dims) {
    std::string s = "(";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + ")";
}

// Features (n, F) and probabilities (n, classes) of the first n images at `pixels`.
struct Judged {
    Matrix features, probabilities;
};
Judged judge(const Classifier& model, const uint8_t* pixels, int64_t n) {
    ClassifierOutputs out = classify(model, pixels, n);
    return {Matrix(n, model.config.features, std::move(out.features)),
            Matrix(n, model.config.classes, std::move(out.probabilities))};
}

}  // namespace

int main(int argc, char** argv) {
    return run_app([&] {
        std::string classifier_path, samples_path, dataset, reference = "first";
        int64_t n = 0, seed = 0, bootstrap = 100;
        Flags flags("vdm_score", "classifier Frechet distance and confident share of samples");
        flags.group("input");
        flags.add("classifier", &classifier_path, "classifier file written by train_classifier (required)");
        flags.add("samples", &samples_path, "IDX file of uint8 images (N, H, W) or (N, C, H, W) (required)");
        flags.add("dataset", &dataset, "test images to compare with, mnist or fashion-mnist (none: the classifier's dataset)");
        DataFlags data_flags(flags);
        flags.group("measure");
        flags.add("n", &n, 0, 10000000, "images of each set: the first N of --samples (0: all of them)");
        flags.add_choice("reference", &reference, {"first", "random"},
                         "which N test images: the first N, or N drawn without replacement by --seed");
        flags.add("seed", &seed, 0, INT64_MAX / 4, "seed of the bootstrap (and of --reference random)");
        flags.add("bootstrap", &bootstrap, 2, 100000, "bootstrap resamples for the standard errors");
        DeviceFlags device_flags(flags);
        if (!flags.parse(argc, argv)) return 0;
        VDM_CHECK(!classifier_path.empty(), "--classifier is required (see --help)");
        VDM_CHECK(!samples_path.empty(), "--samples is required (see --help)");
        const Device device = device_flags.select();
        auto start = std::chrono::steady_clock::now();

        LoadedClassifier loaded = load_classifier(classifier_path, device);
        const Classifier& model = *loaded.model;
        const ClassifierConfig& c = model.config;
        const std::string image_shape = std::to_string(c.image_channels) + "x" +
                                        std::to_string(c.height) + "x" + std::to_string(c.width);
        if (dataset.empty()) {
            auto it = loaded.metadata.find("dataset");
            VDM_CHECK(it != loaded.metadata.end(), classifier_path,
                      ": names no dataset; give --dataset");
            dataset = it->second;
        }

        IdxArray samples = read_idx(samples_path);
        const std::vector<int64_t>& dims = samples.dims;
        const bool fits = (dims.size() == 3 && c.image_channels == 1 && dims[1] == c.height &&
                           dims[2] == c.width) ||
                          (dims.size() == 4 && dims[1] == c.image_channels && dims[2] == c.height &&
                           dims[3] == c.width);
        VDM_CHECK(fits, samples_path, ": holds ", shape_text(dims), ", not (N, ", c.height, ", ",
                  c.width, ") images: the classifier takes ", image_shape);
        if (n == 0) n = dims[0];
        VDM_CHECK(n <= dims[0], "--n ", n, " exceeds the ", dims[0], " images in ", samples_path);
        VDM_CHECK(n >= 2, "--n ", n, ": a Gaussian needs at least 2 images");

        const std::string dir = data_flags.resolve(dataset);
        Dataset test = load_split(dir, Split::Test);
        VDM_CHECK(test.channels == c.image_channels && test.height == c.height && test.width == c.width,
                  "the test images of ", dir, " are ", test.channels, "x", test.height, "x", test.width,
                  ", the classifier (", classifier_path, ") was trained on ", image_shape);
        VDM_CHECK(n <= test.n, "--n ", n, " exceeds the ", test.n, " test images of ", dir);
        std::vector<int64_t> chosen(static_cast<size_t>(n));
        if (reference == "first") {
            for (int64_t i = 0; i < n; ++i) chosen[size_t(i)] = i;
        } else {  // the first batch of a seeded permutation: n distinct images
            std::vector<int64_t> all(size_t(test.n));
            for (int64_t i = 0; i < test.n; ++i) all[size_t(i)] = i;
            chosen = BatchSampler(all, n, reference_seed(seed)).next();
            std::sort(chosen.begin(), chosen.end());
        }
        std::vector<uint8_t> reference_pixels(size_t(n * test.image_size()));
        gather_images(test, chosen, reference_pixels.data());
        std::fprintf(stderr, "%s: classifier of %s (test accuracy %s); %lld samples of %s against %lld %s test images of %s on %s\n",
                     classifier_path.c_str(), dataset.c_str(),
                     loaded.metadata.count("test_accuracy") ? loaded.metadata.at("test_accuracy").c_str() : "?",
                     (long long)n, samples_path.c_str(), (long long)n, reference.c_str(), dir.c_str(),
                     device_description(device).c_str());

        const Judged judged_samples = judge(model, samples.data.data(), n);
        const Judged judged_reference = judge(model, reference_pixels.data(), n);
        const SampleQuality q = sample_quality(judged_samples.features, judged_samples.probabilities,
                                               judged_reference.features, bootstrap, seed);
        const double reference_share = confident_share(judged_reference.probabilities);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "classifier FID %.4f +- %.4f, confident share %.4f +- %.4f (test images: %.4f), "
                             "%lld bootstrap resamples\n",
                     q.fid, q.fid_stderr, q.confident_share, q.confident_share_stderr, reference_share,
                     (long long)q.bootstrap);
        if (q.clamped.count > 0)
            std::fprintf(stderr, "note: %lld eigenvalues below 0 by round-off (at most %.1e of the largest) "
                                 "were set to 0 before square roots\n",
                         (long long)q.clamped.count, q.clamped.worst_relative);
        std::printf("{\"fid\": %.6f, \"fid_stderr\": %.6f, \"confident_share\": %.6f, "
                    "\"confident_share_stderr\": %.6f, \"reference_confident_share\": %.6f, \"n\": %lld, "
                    "\"bootstrap\": %lld, \"seed\": %lld, \"reference\": \"%s\", \"dataset\": \"%s\", "
                    "\"clamped_eigenvalues\": %lld, \"seconds\": %.2f}\n",
                    q.fid, q.fid_stderr, q.confident_share, q.confident_share_stderr, reference_share,
                    (long long)n, (long long)q.bootstrap, (long long)seed, reference.c_str(),
                    dataset.c_str(), (long long)q.clamped.count, seconds);
        return 0;
    });
}
