// A small convolutional image classifier: the judge of the sample-quality measure
// (vdm/sample_quality.h, docs/vdm.md#sample-quality-a-classifier-frechet-distance).
//
//   x (B, C, H, W), pixels mapped to [-1, 1]
//   conv1  3x3, C -> c1, SiLU, 2x2 average pool        (B, c1, H/2, W/2)
//   conv2  3x3, c1 -> c2, SiLU, 2x2 average pool       (B, c2, H/4, W/4)
//   hidden linear c2 H/4 W/4 -> F, SiLU                (B, F)   the features
//   output linear F -> classes                          (B, classes) the logits
//
// The features, the last activations before the logits, are what the Fréchet
// distance compares; the softmax of the logits is what the confident share reads.
// The file holds the parameters and, as metadata, the sizes, the dataset and the
// test accuracy; loading refuses a file that is not a classifier with one line.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace vdm {

struct ClassifierConfig {
    int64_t image_channels = 1, height = 28, width = 28;  // taken from the data
    int64_t channels = 16;  // conv1 width; conv2 has twice as many
    int64_t features = 128;
    int64_t classes = 10;
};

class Classifier : public Module {
public:
    // height and width must be multiples of 4 (two 2x2 poolings).
    Classifier(const ClassifierConfig& config, DType dtype, Rng& rng);
    Var features(const Var& x) const;     // (B, C, H, W) -> (B, features)
    Var head(const Var& features) const;  // (B, features) -> logits (B, classes)
    Var logits(const Var& x) const;       // (B, C, H, W) -> (B, classes): head(features(x))

    const ClassifierConfig config;

private:
    Conv2d conv1, conv2;
    Linear hidden, output;
};

// 2x2 average pooling, composed of ops: (B, C, H, W) viewed as (B C H/2, 2, W/2, 2),
// averaged over axes 1 and 3. H and W must be even.
Var average_pool_2x2(const Var& x);

// Mean over the batch of -log softmax(logits)[label]: logits (B, K), labels I32 (B).
Var cross_entropy(const Var& logits, const Tensor& labels);

// The network's input for n uint8 images of shape (C, H, W): 2 p / 255 - 1, (n, C, H, W).
Tensor classifier_input(const uint8_t* pixels, int64_t n, const ClassifierConfig& config,
                        DType dtype = DType::F32);

// The features and class probabilities (softmax of the logits) of n images, on the
// host in double, row-major: features (n, F), probabilities (n, classes).
struct ClassifierOutputs {
    int64_t n = 0;
    std::vector<double> features, probabilities;
};
ClassifierOutputs classify(const Classifier& model, const uint8_t* pixels, int64_t n,
                           int64_t batch = 250);

// Writes the parameters (host copies) and metadata: the config, plus `extra` (the
// dataset, the test accuracy, ...). Atomic, like every safetensors file.
void save_classifier(const std::string& path, const Classifier& model,
                     const std::map<std::string, std::string>& extra);

// A classifier read back from its file, moved to `device`, with all its metadata.
struct LoadedClassifier {
    std::unique_ptr<Classifier> model;
    std::map<std::string, std::string> metadata;
};
LoadedClassifier load_classifier(const std::string& path, Device device = Device::CPU);

}  // namespace vdm
