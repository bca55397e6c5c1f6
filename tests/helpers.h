// Small helpers shared by the tests: reproducible random tensors, temp folders.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

namespace vdm::test {

// Normal(0, scale^2) values, reproducible from the seed.
inline Tensor randn(const Shape& shape, uint64_t seed, double scale = 1.0,
                    DType dtype = DType::F64) {
    Tensor t = Tensor::empty(shape, DType::F64);
    backend_for(Device::CPU).fill_normal(t, seed, 0);
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] *= scale;
    return t.to(dtype);
}

// The mean of a sample of values and its standard error.
struct MeanAndError {
    double mean = 0.0, stderr_ = 0.0;
};
inline MeanAndError mean_and_error(const std::vector<double>& v) {
    double sum = 0.0, sum_sq = 0.0;
    for (double x : v) sum += x, sum_sq += x * x;
    const double n = double(v.size()), mean = sum / n;
    return {mean, std::sqrt(std::max(0.0, sum_sq / n - mean * mean) / (n - 1.0))};
}

// Uniform(lo, hi) values, reproducible from the seed.
inline Tensor uniform(const Shape& shape, uint64_t seed, double lo, double hi,
                      DType dtype = DType::F64) {
    Tensor t = Tensor::empty(shape, DType::F64);
    backend_for(Device::CPU).fill_uniform(t, seed, 0);
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * p[i];
    return t.to(dtype);
}

// Uniform magnitude in [lo, hi] with a random sign: keeps |x| away from 0.
inline Tensor away_from_zero(const Shape& shape, uint64_t seed, double lo, double hi) {
    Tensor t = uniform(shape, seed, lo, hi);
    Tensor sign = uniform(shape, seed + 1, 0.0, 1.0);
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i)
        if (sign.at(i) < 0.5) p[i] = -p[i];
    return t;
}

// A fresh folder under the system temp dir, removed with everything in it.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& prefix) {
        std::random_device entropy;
        path = std::filesystem::temp_directory_path() /
               (prefix + std::to_string(entropy()) + std::to_string(entropy()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const std::string& name) const { return (path / name).string(); }
};

// f() must throw a one-line vdm::Error whose message contains every one of `parts`
// (a path and a keyword, say).
template <typename F>
void check_error(F&& f, const std::vector<std::string>& parts) {
    std::string message;
    try {
        f();
        FAIL_CHECK("no vdm::Error thrown; expected one with: " << parts.back());
        return;
    } catch (const vdm::Error& e) {
        message = e.what();
    }
    INFO("message: " << message);
    for (const std::string& part : parts) CHECK(message.find(part) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
}
template <typename F>
void check_error(F&& f, const std::string& path, const std::string& keyword) {
    check_error(std::forward<F>(f), std::vector<std::string>{path, keyword});
}
template <typename F> void check_error(F&& f, const std::string& expected) {
    check_error(std::forward<F>(f), std::vector<std::string>{expected});
}

// Every parameter of a module, as the leaves of gradcheck_leaves.
inline std::vector<Var> leaves_of(const Module& m) {
    std::vector<Var> out;
    for (const Parameter& p : m.parameters()) out.push_back(p.var);
    return out;
}

// N(0, scale^2) values in every parameter, so zero-initialized layers are exercised too.
inline void randomize(const Module& m, uint64_t seed, double scale = 0.5) {
    for (const Parameter& p : m.parameters())
        p.var.data()->value = randn(p.var.shape(), seed++, scale, p.var.dtype());
}

}  // namespace vdm::test
