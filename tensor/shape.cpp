#include "tensor/shape.h"

#include <algorithm>

#include "tensor/error.h"

namespace vdm {

Shape::Shape(std::initializer_list<int64_t> dims) {
    for (int64_t d : dims) push_back(d);
}

void Shape::push_back(int64_t d) {
    VDM_CHECK(ndim_ < kMaxDims, "shape: at most ", kMaxDims, " dimensions are supported");
    VDM_CHECK(d >= 0, "shape: negative dimension ", d);
    dims_[size_t(ndim_++)] = d;
}

int64_t Shape::numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim_; ++i) n *= dims_[size_t(i)];
    return n;
}

int Shape::axis(int i) const {
    int a = i < 0 ? i + ndim_ : i;
    VDM_CHECK(a >= 0 && a < ndim_, "shape: axis ", i, " out of range for ", str());
    return a;
}

std::array<int64_t, Shape::kMaxDims> Shape::strides() const {
    std::array<int64_t, kMaxDims> s{};
    int64_t stride = 1;
    for (int i = ndim_ - 1; i >= 0; --i) {
        s[size_t(i)] = stride;
        stride *= dims_[size_t(i)];
    }
    return s;
}

std::array<int64_t, Shape::kMaxDims> Shape::padded() const {
    std::array<int64_t, kMaxDims> p{1, 1, 1, 1};
    for (int i = 0; i < ndim_; ++i) p[size_t(kMaxDims - ndim_ + i)] = dims_[size_t(i)];
    return p;
}

bool Shape::operator==(const Shape& other) const {
    if (ndim_ != other.ndim_) return false;
    for (int i = 0; i < ndim_; ++i)
        if (dims_[size_t(i)] != other.dims_[size_t(i)]) return false;
    return true;
}

std::string Shape::str() const {
    std::string s = "(";
    for (int i = 0; i < ndim_; ++i) {
        if (i) s += ", ";
        s += std::to_string(dims_[size_t(i)]);
    }
    return s + ")";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
    int nd = std::max(a.ndim(), b.ndim());
    Shape out;
    for (int i = 0; i < nd; ++i) {
        // Align from the right: dimension i of the result.
        int ia = i - (nd - a.ndim()), ib = i - (nd - b.ndim());
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        VDM_CHECK(da == db || da == 1 || db == 1, op, ": cannot broadcast ", a.str(), " with ",
                  b.str());
        out.push_back(da == 1 ? db : da);
    }
    return out;
}

}  // namespace vdm
