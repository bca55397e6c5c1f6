// Image datasets for training: where the files live, loading a split of MNIST or
// Fashion-MNIST, a seeded train/validation split, and a resumable batch sampler.
// Images stay uint8 here; turning them into model inputs is the caller's job.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vdm {

enum class Split { Train, Test };

// A split held in memory: images (n, C, H, W) uint8 and one label per image.
struct Dataset {
    int64_t n = 0, channels = 0, height = 0, width = 0;
    std::vector<uint8_t> images;  // (n, C, H, W)
    std::vector<uint8_t> labels;  // (n,), each < num_classes
    int num_classes = 10;

    int64_t image_size() const { return channels * height * width; }  // C*H*W
};

// The folder holding a dataset's files: flag_dir if given, else $VDM_DATA/<name>,
// else ./data/<name>. Names: "mnist", "fashion-mnist" (alias "fashion"). Throws if
// the name is unknown or the folder does not exist.
std::string resolve_data_dir(const std::string& flag_dir, const std::string& dataset_name);
// Where resolve_data_dir looks without --data and $VDM_DATA: ./data/<name>.
std::string default_data_dir(const std::string& dataset_name);
// Whether dir holds a dataset's four IDX files (train and t10k images and labels).
bool has_dataset_files(const std::string& dir);

// Loads train-* or t10k-* images and labels from dir ("*.gz" preferred, else the
// uncompressed name). Images may be 3-D (n, H, W), giving C = 1, or 4-D (n, C, H, W).
Dataset load_split(const std::string& dir, Split split);

// A seeded partition of 0..n-1: val has round(n * val_fraction) indices, train the
// rest; both sorted, disjoint, and the same for the same seed.
struct SplitIndices {
    std::vector<int64_t> train, val;
};
SplitIndices train_val_split(int64_t n, double val_fraction, uint64_t seed);

// Where a BatchSampler stands: the current epoch and how many of its indices are used.
struct SamplerState {
    int64_t epoch = 0;
    int64_t position = 0;
};

// Endless full batches over a fixed list of indices. Each epoch visits the indices in
// a fresh order that depends only on (seed, epoch); a batch that crosses the end of
// an epoch continues into the next one. Saving state() and constructing with it later
// gives the same batches an uninterrupted run would have seen.
class BatchSampler {
public:
    BatchSampler(std::vector<int64_t> indices, int64_t batch_size, uint64_t seed,
                 SamplerState state = {});

    std::vector<int64_t> next();  // the next batch_size indices
    SamplerState state() const { return state_; }
    void restore(SamplerState state);  // continue from a saved state()
    int64_t batch_size() const { return batch_size_; }

private:
    std::vector<int64_t> epoch_order(int64_t epoch) const;

    std::vector<int64_t> indices_;
    int64_t batch_size_;
    uint64_t seed_;
    SamplerState state_;
    std::vector<int64_t> order_;  // indices_ in the order of state_.epoch
};

// Copies the images at idx into out, which holds idx.size() * C * H * W bytes.
void gather_images(const Dataset& data, const std::vector<int64_t>& idx, uint8_t* out);

}  // namespace vdm
