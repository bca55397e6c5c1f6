// Tensor basics, shapes and broadcasting rules, the counter-based RNG.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tensor/backend.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

using namespace vdm;

TEST_CASE("shapes: numel, strides, negative axes, broadcasting") {
    Shape s{2, 3, 4};
    CHECK(s.numel() == 24);
    CHECK(s[-1] == 4);
    CHECK(s.strides()[0] == 12);
    CHECK(s.str() == "(2, 3, 4)");
    CHECK(Shape{}.numel() == 1);
    CHECK(broadcast_shapes(Shape{2, 3, 4, 5}, Shape{1, 3, 1, 1}, "t") == Shape{2, 3, 4, 5});
    CHECK(broadcast_shapes(Shape{3, 1}, Shape{2, 1, 4}, "t") == Shape{2, 3, 4});
    CHECK_THROWS_AS(broadcast_shapes(Shape{2, 3}, Shape{4, 3}, "t"), Error);
    CHECK_THROWS_AS(Shape({1, 2, 3, 4, 5}), Error);
    CHECK_THROWS_AS(s.axis(3), Error);
}

TEST_CASE("tensors: creation, reshape views, clone, dtype conversion") {
    Tensor t = Tensor::from_vector(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
    CHECK(t.dtype() == DType::F32);
    Tensor v = t.reshape(Shape{3, 2});
    CHECK(v.same_storage(t));
    CHECK_THROWS_AS(t.reshape(Shape{4, 2}), Error);
    Tensor c = t.clone();
    c.fill(0.0);
    CHECK(t.at(5) == 6.0);
    Tensor d = t.to(DType::F64);
    CHECK(d.dtype() == DType::F64);
    CHECK(d.at(4) == 5.0);
    CHECK_THROWS_AS(d.data<float>(), Error);
    CHECK_THROWS_AS(Tensor::from_vector(Shape{2}, {1.0}), Error);
    CHECK(Tensor::full(Shape{3}, 2.5, DType::I32).at(2) == 2.0);
    CHECK(Tensor::scalar(4.0).item() == 4.0);
    CHECK_THROWS_AS(t.item(), Error);
    // The CPU allocator aligns every buffer for AVX-512 loads.
    CHECK(reinterpret_cast<uintptr_t>(t.raw()) % 64 == 0);
    CHECK_THROWS_AS(Tensor::empty(Shape{2}, DType::F32, Device::CUDA), Error);
}

TEST_CASE("philox4x32-10 matches the published known-answer vectors") {
    // Random123 known-answer test: counter 0, key 0.
    uint32_t r[4];
    philox4x32(0, 0, r);
    CHECK(r[0] == 0x6627e8d5u);
    CHECK(r[1] == 0xe169c58du);
    CHECK(r[2] == 0xbc57ac4cu);
    CHECK(r[3] == 0x9b00dbd8u);
}

TEST_CASE("rng: normal and uniform draws have the right moments and are reproducible") {
    const int64_t n = 200000;
    Tensor z = Tensor::empty(Shape{n}, DType::F64);
    Tensor u = Tensor::empty(Shape{n}, DType::F64);
    backend_for(Device::CPU).fill_normal(z, 42, 0);
    backend_for(Device::CPU).fill_uniform(u, 42, 0);
    double m = 0, m2 = 0, um = 0;
    bool open_interval = true;
    for (int64_t i = 0; i < n; ++i) {
        m += z.at(i);
        m2 += z.at(i) * z.at(i);
        um += u.at(i);
        open_interval = open_interval && u.at(i) > 0.0 && u.at(i) < 1.0;
    }
    CHECK(open_interval);
    m /= n, m2 /= n, um /= n;
    // Five standard errors: mean sd 1/sqrt(n), second moment sd sqrt(2/n), uniform sd sqrt(1/12n).
    CHECK(std::abs(m) < 5.0 / std::sqrt(double(n)));
    CHECK(std::abs(m2 - 1.0) < 5.0 * std::sqrt(2.0 / n));
    CHECK(std::abs(um - 0.5) < 5.0 * std::sqrt(1.0 / (12.0 * n)));
    // Position i of a draw at offset o equals position o + i of the stream.
    Tensor tail = Tensor::empty(Shape{10}, DType::F64);
    backend_for(Device::CPU).fill_normal(tail, 42, 500);
    CHECK(tail.at(3) == z.at(503));
    Tensor other = Tensor::empty(Shape{10}, DType::F64);
    backend_for(Device::CPU).fill_normal(other, 43, 500);
    CHECK(other.at(3) != z.at(503));
}

TEST_CASE("rng streams advance and permutations are permutations") {
    Rng a(7), b(7);
    CHECK(a.normal() == b.normal());
    CHECK(a.offset == 1);
    CHECK(a.take(10) == 1);
    CHECK(a.offset == 11);
    Rng p(3);
    std::vector<int64_t> perm = random_permutation(100, p);
    std::vector<int> seen(100, 0);
    for (int64_t v : perm) seen[size_t(v)]++;
    CHECK(std::count(seen.begin(), seen.end(), 1) == 100);
    Rng q(3);
    CHECK(random_permutation(100, q) == perm);
}
