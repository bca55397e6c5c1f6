// Dataset bookkeeping: where data is looked for, the seeded train/validation split,
// and the resumable shuffled batch sampler.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "tensor/error.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;

namespace {

// Puts VDM_DATA and the working directory back as they were.
struct EnvRestorer {
    std::optional<std::string> vdm_data;
    fs::path cwd = fs::current_path();
    EnvRestorer() {
        if (const char* value = std::getenv("VDM_DATA")) vdm_data = value;
    }
    ~EnvRestorer() {
        if (vdm_data)
            setenv("VDM_DATA", vdm_data->c_str(), 1);
        else
            unsetenv("VDM_DATA");
        fs::current_path(cwd);
    }
};

// The message of the vdm::Error that f() throws ("" and a failed check if none).
template <typename F>
std::string error_message(F&& f) {
    try {
        f();
    } catch (const vdm::Error& e) {
        std::string message = e.what();
        CHECK(message.find('\n') == std::string::npos);
        return message;
    }
    FAIL_CHECK("no vdm::Error thrown");
    return "";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// All batches' indices, one after another.
std::vector<int64_t> draw(vdm::BatchSampler& sampler, int batches) {
    std::vector<int64_t> all;
    for (int b = 0; b < batches; ++b) {
        std::vector<int64_t> batch = sampler.next();
        CHECK(int64_t(batch.size()) == sampler.batch_size());
        all.insert(all.end(), batch.begin(), batch.end());
    }
    return all;
}

}  // namespace

TEST_CASE("resolve_data_dir: --data, then $VDM_DATA/<name>, then ./data/<name>") {
    EnvRestorer restorer;
    vdm::test::TempDir tmp("vdm_test_dataset_");
    std::string root = (tmp.path / "root").string();
    std::string flag = (tmp.path / "flag").string();
    fs::create_directories(tmp.path / "root" / "mnist");
    fs::create_directories(tmp.path / "root" / "fashion-mnist");
    fs::create_directories(tmp.path / "flag");
    fs::create_directories(tmp.path / "data" / "mnist");

    setenv("VDM_DATA", root.c_str(), 1);
    CHECK(vdm::resolve_data_dir(flag, "mnist") == flag);
    CHECK(vdm::resolve_data_dir("", "mnist") == root + "/mnist");
    CHECK(vdm::resolve_data_dir("", "fashion-mnist") == root + "/fashion-mnist");
    CHECK(vdm::resolve_data_dir("", "fashion") == root + "/fashion-mnist");

    fs::current_path(tmp.path);
    unsetenv("VDM_DATA");
    CHECK(vdm::resolve_data_dir("", "mnist") == "./data/mnist");
    setenv("VDM_DATA", "", 1);  // empty counts as unset
    CHECK(vdm::resolve_data_dir("", "mnist") == "./data/mnist");

    std::string message = error_message([] { vdm::resolve_data_dir("", "cifar10"); });
    CHECK(contains(message, "cifar10"));
    CHECK(contains(message, "fashion-mnist"));

    message = error_message([] { vdm::resolve_data_dir("", "fashion-mnist"); });
    CHECK(contains(message, "./data/fashion-mnist"));
    CHECK(contains(message, "scripts/download_data.sh"));

    message = error_message([&] { vdm::resolve_data_dir(flag + "/nowhere", "mnist"); });
    CHECK(contains(message, flag + "/nowhere"));
    CHECK(contains(message, "--data"));

    setenv("VDM_DATA", flag.c_str(), 1);
    message = error_message([] { vdm::resolve_data_dir("", "mnist"); });
    CHECK(contains(message, flag + "/mnist"));
    CHECK(contains(message, "VDM_DATA"));
}

TEST_CASE("train_val_split is a seeded partition with round(n * fraction) validation indices") {
    vdm::SplitIndices split = vdm::train_val_split(1000, 0.1, 42);
    CHECK(split.val.size() == 100);
    CHECK(split.train.size() == 900);
    CHECK(std::is_sorted(split.val.begin(), split.val.end()));
    CHECK(std::is_sorted(split.train.begin(), split.train.end()));
    std::vector<int64_t> all = split.train;
    all.insert(all.end(), split.val.begin(), split.val.end());
    std::sort(all.begin(), all.end());
    std::vector<int64_t> expected(1000);
    std::iota(expected.begin(), expected.end(), int64_t(0));
    CHECK(all == expected);  // disjoint and covering

    vdm::SplitIndices again = vdm::train_val_split(1000, 0.1, 42);
    CHECK(again.val == split.val);
    CHECK(again.train == split.train);
    CHECK(vdm::train_val_split(1000, 0.1, 43).val != split.val);

    CHECK(vdm::train_val_split(10, 0.25, 1).val.size() == 3);  // round(2.5) = 3
    CHECK(vdm::train_val_split(10, 0.0, 1).val.empty());

    CHECK_THROWS_AS(vdm::train_val_split(0, 0.1, 1), vdm::Error);
    CHECK_THROWS_AS(vdm::train_val_split(10, 1.0, 1), vdm::Error);
    CHECK_THROWS_AS(vdm::train_val_split(10, -0.1, 1), vdm::Error);
    CHECK_THROWS_AS(vdm::train_val_split(1, 0.5, 1), vdm::Error);  // nothing left to train on
}

TEST_CASE("BatchSampler gives full batches, each epoch a fresh permutation") {
    std::vector<int64_t> indices = {100, 101, 102, 103, 104, 105, 106, 107, 108, 109};
    vdm::BatchSampler sampler(indices, 4, 7);
    std::vector<int64_t> stream = draw(sampler, 10);  // 40 draws = 4 epochs of 10

    std::vector<std::vector<int64_t>> epochs;
    for (size_t e = 0; e < 4; ++e) {
        auto first = stream.begin() + std::ptrdiff_t(e * 10);
        std::vector<int64_t> epoch(first, first + 10);
        epochs.push_back(epoch);
        std::sort(epoch.begin(), epoch.end());
        CHECK(epoch == indices);
    }
    CHECK(epochs[0] != epochs[1]);
    CHECK(epochs[1] != epochs[2]);
    CHECK(sampler.state().epoch == 3);
    CHECK(sampler.state().position == 10);

    vdm::BatchSampler same(indices, 4, 7);
    CHECK(draw(same, 10) == stream);
    vdm::BatchSampler other_seed(indices, 4, 8);
    CHECK(draw(other_seed, 10) != stream);
}

TEST_CASE("BatchSampler resumed from a saved state continues with the same batches") {
    std::vector<int64_t> indices(50);
    for (size_t i = 0; i < indices.size(); ++i) indices[i] = int64_t(3 * i);
    vdm::BatchSampler original(indices, 16, 123);
    draw(original, 5);  // 80 draws: into the second epoch
    vdm::SamplerState saved = original.state();
    CHECK(saved.epoch == 1);
    CHECK(saved.position == 30);

    vdm::BatchSampler resumed(indices, 16, 123, saved);
    CHECK(draw(resumed, 12) == draw(original, 12));
    CHECK(resumed.state().epoch == original.state().epoch);
    CHECK(resumed.state().position == original.state().position);
}

TEST_CASE("BatchSampler rejects bad batch sizes and states") {
    std::vector<int64_t> indices = {0, 1, 2, 3, 4};
    CHECK_THROWS_AS(vdm::BatchSampler(indices, 0, 1), vdm::Error);
    CHECK_THROWS_AS(vdm::BatchSampler(indices, 6, 1), vdm::Error);
    CHECK_THROWS_AS(vdm::BatchSampler({}, 1, 1), vdm::Error);
    CHECK_THROWS_AS(vdm::BatchSampler(indices, 2, 1, vdm::SamplerState{0, 6}), vdm::Error);
    CHECK_THROWS_AS(vdm::BatchSampler(indices, 2, 1, vdm::SamplerState{-1, 0}), vdm::Error);
    CHECK(contains(error_message([&] { vdm::BatchSampler(indices, 6, 1); }), "batch size 6"));
    vdm::BatchSampler whole(indices, 5, 1);  // B == n is fine
    CHECK(whole.next().size() == 5);
}
