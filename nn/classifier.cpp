// The sample-quality classifier, its batched evaluation and its file.
#include "nn/classifier.h"

#include <algorithm>

#include "nn/safetensors.h"
#include "tensor/parse_number.h"

namespace vdm {

namespace {

const char* kFormat = "vdm.cpp classifier v1";

// The config's keys in the file's metadata, with a pointer to each field.
std::vector<std::pair<std::string, int64_t ClassifierConfig::*>> config_fields() {
    return {{"image_channels", &ClassifierConfig::image_channels},
            {"height", &ClassifierConfig::height},
            {"width", &ClassifierConfig::width},
            {"channels", &ClassifierConfig::channels},
            {"features", &ClassifierConfig::features},
            {"classes", &ClassifierConfig::classes}};
}

}  // namespace

Classifier::Classifier(const ClassifierConfig& c, DType dtype, Rng& rng)
    : config(c),
      conv1(c.image_channels, c.channels, 3, dtype, rng),
      conv2(c.channels, 2 * c.channels, 3, dtype, rng),
      hidden(2 * c.channels * (c.height / 4) * (c.width / 4), c.features, dtype, rng),
      output(c.features, c.classes, dtype, rng) {
    VDM_CHECK(c.height % 4 == 0 && c.width % 4 == 0 && c.height > 0 && c.width > 0,
              "Classifier: images of ", c.height, "x", c.width,
              " do not pool twice by 2 (height and width must be multiples of 4)");
    add_child("conv1", conv1);
    add_child("conv2", conv2);
    add_child("hidden", hidden);
    add_child("output", output);
}

Var Classifier::features(const Var& x) const {
    const ClassifierConfig& c = config;
    VDM_CHECK(x.ndim() == 4 && x.dim(1) == c.image_channels && x.dim(2) == c.height &&
                  x.dim(3) == c.width,
              "Classifier: expected (B, ", c.image_channels, ", ", c.height, ", ", c.width,
              "), got ", x.shape().str());
    Var h = average_pool_2x2(silu(conv1.forward(x)));  // (B, c1, H/2, W/2)
    h = average_pool_2x2(silu(conv2.forward(h)));       // (B, c2, H/4, W/4)
    h = reshape(h, Shape{x.dim(0), h.numel() / x.dim(0)});
    return silu(hidden.forward(h));                     // (B, F)
}

Var Classifier::head(const Var& features) const { return output.forward(features); }

Var Classifier::logits(const Var& x) const { return head(features(x)); }

Var average_pool_2x2(const Var& x) {
    VDM_CHECK(x.ndim() == 4 && x.dim(2) % 2 == 0 && x.dim(3) % 2 == 0,
              "average_pool_2x2: expected (B, C, H, W) with H and W even, got ", x.shape().str());
    const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    // element (b, c, 2i + di, 2j + dj) sits at (b C H/2 + c H/2 + i, di, j, dj)
    Var pairs = reshape(x, Shape{B * C * H / 2, 2, W / 2, 2});
    return reshape(mean(pairs, {1, 3}), Shape{B, C, H / 2, W / 2});
}

Var cross_entropy(const Var& logits, const Tensor& labels) {
    return -mean(gather_last(log_softmax(logits), labels.to(logits.device())));
}

Tensor classifier_input(const uint8_t* pixels, int64_t n, const ClassifierConfig& c,
                        DType dtype) {
    Tensor x = Tensor::empty(Shape{n, c.image_channels, c.height, c.width}, DType::F64);
    double* px = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) px[i] = 2.0 * double(pixels[i]) / 255.0 - 1.0;
    return x.to(dtype);
}

ClassifierOutputs classify(const Classifier& model, const uint8_t* pixels, int64_t n,
                           int64_t batch) {
    NoGradGuard no_grad;
    const ClassifierConfig& c = model.config;
    const int64_t D = c.image_channels * c.height * c.width;
    ClassifierOutputs out;
    out.n = n;
    for (int64_t first = 0; first < n; first += batch) {
        const int64_t b = std::min(batch, n - first);
        Var x(classifier_input(pixels + first * D, b, c).to(model.device()));
        Var features = model.features(x);
        Var probabilities = softmax(model.head(features));
        for (double v : features.value().to_vector()) out.features.push_back(v);
        for (double v : probabilities.value().to_vector()) out.probabilities.push_back(v);
    }
    return out;
}

void save_classifier(const std::string& path, const Classifier& model,
                     const std::map<std::string, std::string>& extra) {
    std::map<std::string, std::string> metadata = extra;
    metadata["format"] = kFormat;
    for (const auto& field : config_fields())
        metadata[field.first] = std::to_string(model.config.*field.second);
    std::vector<NamedTensor> tensors;
    for (const Parameter& p : model.parameters())
        tensors.push_back({p.name, p.var.value().to(Device::CPU)});
    save_safetensors(path, tensors, metadata);
}

LoadedClassifier load_classifier(const std::string& path, Device device) {
    SafetensorsFile file = load_safetensors(path);
    auto text = [&](const std::string& key) -> const std::string& {
        auto it = file.metadata.find(key);
        VDM_CHECK(it != file.metadata.end(), path, ": metadata has no '", key, "'");
        return it->second;
    };
    VDM_CHECK(file.metadata.count("format") && text("format") == kFormat, path, ": not a ",
              kFormat, " file (a classifier written by train_classifier)");
    ClassifierConfig config;
    for (const auto& field : config_fields()) {
        int64_t value = 0;
        VDM_CHECK(parse_int64(text(field.first), &value) && value > 0, path, ": metadata '",
                  field.first, "' = '", text(field.first), "' is not a positive integer");
        config.*field.second = value;
    }
    Rng unused(0);  // the initial values are overwritten by the file's
    LoadedClassifier loaded{std::make_unique<Classifier>(config, DType::F32, unused), file.metadata};
    const std::vector<Parameter> params = loaded.model->parameters();
    VDM_CHECK(file.tensors.size() == params.size(), path, ": has ", file.tensors.size(),
              " tensors, a classifier of this config has ", params.size());
    for (const Parameter& p : params) {
        auto it = std::find_if(file.tensors.begin(), file.tensors.end(),
                               [&](const NamedTensor& t) { return t.name == p.name; });
        VDM_CHECK(it != file.tensors.end(), path, ": has no tensor '", p.name, "'");
        const Tensor& stored = it->tensor;
        Tensor& value = p.var.data()->value;
        VDM_CHECK(stored.shape() == value.shape() && stored.dtype() == value.dtype(), path,
                  ": tensor '", p.name, "' is ", dtype_name(stored.dtype()), " ",
                  stored.shape().str(), ", the config needs ", dtype_name(value.dtype()), " ",
                  value.shape().str());
        value.copy_from(stored);
    }
    loaded.model->to(device);
    return loaded;
}

}  // namespace vdm
