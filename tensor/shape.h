// Shape: up to 4 dimensions, row-major (NCHW for images).
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace vdm {

class Shape {
public:
    static constexpr int kMaxDims = 4;

    Shape() = default;  // a 0-D shape (one element)
    Shape(std::initializer_list<int64_t> dims);
    template <typename It>
    Shape(It first, It last) {
        for (; first != last; ++first) push_back(int64_t(*first));
    }

    int ndim() const { return ndim_; }
    int64_t numel() const;
    // Dimension i; negative i counts from the end (-1 is the last).
    int64_t operator[](int i) const { return dims_[size_t(axis(i))]; }
    int64_t& operator[](int i) { return dims_[size_t(axis(i))]; }
    // Normalizes a possibly negative axis, with a clear error when out of range.
    int axis(int i) const;
    void push_back(int64_t d);

    // Row-major strides in elements.
    std::array<int64_t, kMaxDims> strides() const;
    // The same shape left-padded with ones to 4 dimensions (for broadcasting loops).
    std::array<int64_t, kMaxDims> padded() const;

    bool operator==(const Shape& other) const;
    bool operator!=(const Shape& other) const { return !(*this == other); }
    std::string str() const;  // "(2, 3, 28, 28)"

private:
    int ndim_ = 0;
    std::array<int64_t, kMaxDims> dims_{};
};

// Numpy-style broadcast of two shapes; throws naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace vdm
