#include "tensor/tensor.h"

#include <cstdlib>
#include <cstring>

#include "tensor/backend.h"

namespace vdm {

size_t dtype_size(DType t) {
    switch (t) {
        case DType::F32: return 4;
        case DType::F64: return 8;
        case DType::I32: return 4;
    }
    return 0;
}

const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "f32";
        case DType::F64: return "f64";
        case DType::I32: return "i32";
    }
    return "?";
}

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Storage::Storage(size_t bytes_, Device device_) : bytes(bytes_), device(device_) {
    ptr = backend_for(device).allocate(bytes);
}

Storage::~Storage() { backend_for(device).release(ptr, bytes); }

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
    Tensor t;
    t.shape_ = shape;
    t.dtype_ = dtype;
    t.device_ = device;
    t.storage_ = std::make_shared<Storage>(size_t(shape.numel()) * dtype_size(dtype), device);
    return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
    return full(shape, 0.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
    Tensor t = empty(shape, dtype, device);
    t.fill(value);
    return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<double>& values, DType dtype,
                           Device device) {
    VDM_CHECK(int64_t(values.size()) == shape.numel(), "from_vector: ", values.size(),
              " values for shape ", shape.str());
    Tensor host = empty(shape, DType::F64);
    std::memcpy(host.raw(), values.data(), values.size() * sizeof(double));
    return host.to(dtype).to(device);
}

void Tensor::check_access(DType requested) const {
    VDM_CHECK(defined(), "tensor: access to an undefined tensor");
    VDM_CHECK(requested == dtype_, "tensor: requested ", dtype_name(requested),
              " data from a ", dtype_name(dtype_), " tensor");
}

Tensor Tensor::reshape(const Shape& shape) const {
    VDM_CHECK(shape.numel() == numel(), "reshape: cannot view ", shape_.str(), " as ",
              shape.str());
    Tensor t = *this;
    t.shape_ = shape;
    return t;
}

Tensor Tensor::clone() const { return to(dtype_); }

Tensor Tensor::to(DType dtype) const {
    Tensor t = empty(shape_, dtype, device_);
    backend_for(device_).convert(*this, t);
    return t;
}

Tensor Tensor::to(Device device) const {
    VDM_CHECK(defined(), "to: undefined tensor");
    if (device == device_) return *this;
    Tensor t = empty(shape_, dtype_, device);
    if (device_ == Device::CPU)
        backend_for(device).copy_from_host(raw(), t);
    else
        backend_for(device_).copy_to_host(*this, t.raw());
    return t;
}

void Tensor::fill(double value) { backend_for(device_).fill(*this, value); }

void Tensor::copy_from(const Tensor& src) {
    check_same_shape("copy_from", *this, src);
    VDM_CHECK(src.device() == device_, "copy_from: device mismatch");
    backend_for(device_).convert(src, *this);
}

double Tensor::at(int64_t i) const {
    VDM_CHECK(defined(), "tensor: read of an undefined tensor");
    VDM_CHECK(device_ == Device::CPU, "tensor: host read of a ", device_name(device_), " tensor");
    VDM_CHECK(i >= 0 && i < numel(), "tensor: index ", i, " out of range for ", shape_.str());
    switch (dtype_) {
        case DType::F32: return double(static_cast<const float*>(storage_->ptr)[i]);
        case DType::F64: return static_cast<const double*>(storage_->ptr)[i];
        case DType::I32: return double(static_cast<const int32_t*>(storage_->ptr)[i]);
    }
    return 0.0;
}

double Tensor::item() const {
    VDM_CHECK(numel() == 1, "item: tensor of shape ", shape_.str(), " is not one element");
    return to(Device::CPU).at(0);
}

std::vector<double> Tensor::to_vector() const {
    const Tensor host = to(Device::CPU);
    std::vector<double> v(static_cast<size_t>(numel()));
    for (int64_t i = 0; i < numel(); ++i) v[size_t(i)] = host.at(i);
    return v;
}

std::string Tensor::desc() const {
    return std::string(dtype_name(dtype_)) + " " + shape_.str() + " " + device_name(device_);
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
    VDM_CHECK(a.shape() == b.shape(), op, ": shape mismatch ", a.shape().str(), " vs ",
              b.shape().str());
}

void check_compatible(const char* op, const Tensor& a, const Tensor& b) {
    VDM_CHECK(a.defined() && b.defined(), op, ": undefined tensor");
    VDM_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch ", dtype_name(a.dtype()), " vs ",
              dtype_name(b.dtype()));
    VDM_CHECK(a.device() == b.device(), op, ": device mismatch ", device_name(a.device()), " vs ",
              device_name(b.device()));
}

void check_floating(const char* op, const Tensor& t) {
    VDM_CHECK(t.defined(), op, ": undefined tensor");
    VDM_CHECK(t.dtype() != DType::I32, op, ": needs a floating-point tensor, got ", t.desc());
}

}  // namespace vdm
