// Datasets: locating and loading MNIST-style IDX splits, and the seeded index
// bookkeeping (train/validation split, shuffled batches) that training runs on.
#include "datasets/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "datasets/idx.h"
#include "tensor/error.h"
#include "tensor/rng.h"

namespace vdm {
namespace fs = std::filesystem;
namespace {

// The split and the sampler draw from separate Philox keys derived from the user's
// seed, so one seed can drive both without their shuffles being related.
constexpr uint64_t kSplitStream = 1;
constexpr uint64_t kSamplerStream = 2;

// SplitMix64's finalizer (Steele et al. 2014) over seed and stream tag.
uint64_t stream_key(uint64_t seed, uint64_t stream) {
    uint64_t z = seed + stream * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::string canonical_dataset_name(const std::string& name) {
    if (name == "mnist") return "mnist";
    if (name == "fashion-mnist" || name == "fashion") return "fashion-mnist";
    fail("unknown dataset '", name, "': expected mnist or fashion-mnist (alias fashion)");
}

const char* const kIdxFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

// dir/base.gz if it exists, else dir/base, else "".
std::string existing_idx_file(const std::string& dir, const std::string& base) {
    std::error_code ec;
    fs::path gz = fs::path(dir) / (base + ".gz");
    if (fs::exists(gz, ec)) return gz.string();
    fs::path raw = fs::path(dir) / base;
    if (fs::exists(raw, ec)) return raw.string();
    return "";
}

std::string find_idx_file(const std::string& dir, const std::string& base) {
    std::string path = existing_idx_file(dir, base);
    if (path.empty())
        fail(dir, ": missing ", base, ".gz (or uncompressed ", base,
             "); get the data with bash scripts/download_data.sh");
    return path;
}

}  // namespace

std::string resolve_data_dir(const std::string& flag_dir, const std::string& dataset_name) {
    std::string name = canonical_dataset_name(dataset_name);
    std::string dir, source;
    const char* root = std::getenv("VDM_DATA");
    if (!flag_dir.empty()) {
        dir = flag_dir;
        source = "--data";
    } else if (root && *root) {
        dir = (fs::path(root) / name).string();
        source = "$VDM_DATA/" + name;
    } else {
        dir = default_data_dir(name);
        source = "the default " + dir;
    }
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        fail("data folder ", dir, " (from ", source, ") does not exist: download ", name,
             " with 'bash scripts/download_data.sh ", name,
             "', or point --data or VDM_DATA at the files");
    return dir;
}

std::string default_data_dir(const std::string& dataset_name) {
    return "./data/" + canonical_dataset_name(dataset_name);
}

bool has_dataset_files(const std::string& dir) {
    for (const char* base : kIdxFiles)
        if (existing_idx_file(dir, base).empty()) return false;
    return true;
}

Dataset load_split(const std::string& dir, Split split) {
    std::string prefix = split == Split::Train ? "train" : "t10k";
    std::string images_path = find_idx_file(dir, prefix + "-images-idx3-ubyte");
    std::string labels_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
    IdxArray images = read_idx(images_path);
    IdxArray labels = read_idx(labels_path);

    const std::vector<int64_t>& dims = images.dims;
    if (dims.size() != 3 && dims.size() != 4)
        fail(images_path, ": expected images with 3 dims (n, H, W) or 4 dims (n, C, H, W), found ",
             dims.size(), " dims");
    if (labels.dims.size() != 1)
        fail(labels_path, ": expected labels with 1 dim (n), found ", labels.dims.size(), " dims");
    if (labels.dims[0] != dims[0])
        fail("image/label count mismatch: ", images_path, " holds ", dims[0], " images but ",
             labels_path, " holds ", labels.dims[0], " labels");

    Dataset data;
    data.n = dims[0];
    data.channels = dims.size() == 4 ? dims[1] : 1;
    data.height = dims[dims.size() - 2];
    data.width = dims.back();
    for (size_t i = 0; i < labels.data.size(); ++i)
        if (labels.data[i] >= data.num_classes)
            fail(labels_path, ": label at index ", i, " is ", int(labels.data[i]),
                 ", expected 0 to ", data.num_classes - 1);
    data.images = std::move(images.data);
    data.labels = std::move(labels.data);
    return data;
}

SplitIndices train_val_split(int64_t n, double val_fraction, uint64_t seed) {
    VDM_CHECK(n >= 1, "train_val_split: need at least 1 example, got ", n);
    VDM_CHECK(val_fraction >= 0.0 && val_fraction < 1.0,
              "train_val_split: val_fraction must be in [0, 1), got ", val_fraction);
    int64_t n_val = std::llround(double(n) * val_fraction);
    VDM_CHECK(n_val < n, "train_val_split: val_fraction ", val_fraction, " of ", n,
              " examples leaves none for training");

    Rng rng(stream_key(seed, kSplitStream));
    std::vector<int64_t> perm = random_permutation(n, rng);
    SplitIndices split;
    split.val.assign(perm.begin(), perm.begin() + n_val);
    split.train.assign(perm.begin() + n_val, perm.end());
    std::sort(split.val.begin(), split.val.end());
    std::sort(split.train.begin(), split.train.end());
    return split;
}

BatchSampler::BatchSampler(std::vector<int64_t> indices, int64_t batch_size, uint64_t seed,
                           SamplerState state)
    : indices_(std::move(indices)), batch_size_(batch_size), seed_(seed) {
    int64_t n = int64_t(indices_.size());
    VDM_CHECK(batch_size >= 1 && batch_size <= n, "BatchSampler: batch size ", batch_size,
              " must be between 1 and the number of examples (", n, ")");
    restore(state);
}

void BatchSampler::restore(SamplerState state) {
    const int64_t n = int64_t(indices_.size());
    VDM_CHECK(state.epoch >= 0 && state.position >= 0 && state.position <= n,
              "BatchSampler: saved state (epoch ", state.epoch, ", position ", state.position,
              ") is invalid for ", n, " examples");
    state_ = state;
    order_ = epoch_order(state_.epoch);
}

// Epoch e shuffles with positions [e*n, (e+1)*n) of the sampler's stream, so any
// epoch's order can be rebuilt without replaying the ones before it.
std::vector<int64_t> BatchSampler::epoch_order(int64_t epoch) const {
    uint64_t n = indices_.size();
    Rng rng(stream_key(seed_, kSamplerStream), uint64_t(epoch) * n);
    std::vector<int64_t> order = random_permutation(int64_t(n), rng);
    for (int64_t& i : order) i = indices_[size_t(i)];
    return order;
}

std::vector<int64_t> BatchSampler::next() {
    std::vector<int64_t> batch;
    batch.reserve(size_t(batch_size_));
    while (int64_t(batch.size()) < batch_size_) {
        if (state_.position == int64_t(order_.size())) {  // epoch done: start the next
            ++state_.epoch;
            state_.position = 0;
            order_ = epoch_order(state_.epoch);
        }
        batch.push_back(order_[size_t(state_.position++)]);
    }
    return batch;
}

void gather_images(const Dataset& data, const std::vector<int64_t>& idx, uint8_t* out) {
    const size_t image_bytes = size_t(data.image_size());
    for (size_t b = 0; b < idx.size(); ++b) {
        VDM_CHECK(idx[b] >= 0 && idx[b] < data.n, "gather_images: index ", idx[b],
                  " out of range for ", data.n, " images");
        std::memcpy(out + b * image_bytes, data.images.data() + size_t(idx[b]) * image_bytes,
                    image_bytes);
    }
}

}  // namespace vdm
