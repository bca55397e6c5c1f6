// Tensor: a contiguous, row-major block of numbers with a shape, a dtype and a device.
// Tensors share storage on copy (like a shared pointer); clone() makes a deep copy.
// There are no strided views: reshape() shares storage, every other layout change
// (permute, concat) writes a new contiguous tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/shape.h"

namespace vdm {

// F32 is the working type; F64 runs the same kernels for gradient checks and the
// CUDA parity tests;
// I32 holds indices (the categorical decoder's pixel values) and supports no math.
enum class DType { F32, F64, I32 };
enum class Device { CPU, CUDA };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }

// Raw memory on one device (from that device's backend allocator); freed when the
// last tensor using it goes away.
struct Storage {
    void* ptr = nullptr;
    size_t bytes = 0;
    Device device = Device::CPU;

    Storage(size_t bytes, Device device);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
};

class Tensor {
public:
    Tensor() = default;  // undefined: defined() is false

    static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
    static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
    static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                       Device device = Device::CPU);
    // Values given in row-major order; the count must match the shape.
    static Tensor from_vector(const Shape& shape, const std::vector<double>& values,
                              DType dtype = DType::F32, Device device = Device::CPU);
    static Tensor scalar(double value, DType dtype = DType::F32) {
        return full(Shape{}, value, dtype);
    }

    bool defined() const { return storage_ != nullptr; }
    const Shape& shape() const { return shape_; }
    int ndim() const { return shape_.ndim(); }
    int64_t dim(int i) const { return shape_[i]; }
    int64_t numel() const { return shape_.numel(); }
    DType dtype() const { return dtype_; }
    Device device() const { return device_; }
    size_t bytes() const { return size_t(numel()) * dtype_size(dtype_); }

    // Typed access to the elements; checks the dtype. On a CUDA tensor these are
    // device pointers, for kernels only.
    template <typename T> T* data() {
        check_access(dtype_of<T>());
        return static_cast<T*>(storage_->ptr);
    }
    template <typename T> const T* data() const {
        check_access(dtype_of<T>());
        return static_cast<const T*>(storage_->ptr);
    }
    void* raw() { return storage_ ? storage_->ptr : nullptr; }
    const void* raw() const { return storage_ ? storage_->ptr : nullptr; }

    // Same storage, new shape with the same number of elements.
    Tensor reshape(const Shape& shape) const;
    Tensor clone() const;
    Tensor to(DType dtype) const;  // converted copy (a clone when the dtype is the same)
    // A copy on `device`; the tensor itself (shared storage) when already there.
    Tensor to(Device device) const;
    void fill(double value);
    void copy_from(const Tensor& src);  // same shape; converts dtype

    // Host-side reads for tests and logging (convert to double). item() and
    // to_vector() copy a CUDA tensor to the host first; at() reads CPU tensors only
    // (call to(Device::CPU) once rather than at() per element of a GPU tensor).
    double item() const;  // the only element of a one-element tensor
    double at(int64_t flat_index) const;
    std::vector<double> to_vector() const;

    // Whether another tensor may still see this tensor's memory.
    bool storage_is_shared() const { return storage_.use_count() > 1; }
    bool same_storage(const Tensor& other) const { return storage_ == other.storage_; }
    std::string desc() const;  // "f32 (2, 3) cpu"

private:
    void check_access(DType requested) const;

    std::shared_ptr<Storage> storage_;
    Shape shape_;
    DType dtype_ = DType::F32;
    Device device_ = Device::CPU;
};

// Throws naming `op` unless both tensors have the same shape.
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
// Throws naming `op` unless both tensors have the same dtype and device.
void check_compatible(const char* op, const Tensor& a, const Tensor& b);
// Throws naming `op` unless the tensor holds F32 or F64.
void check_floating(const char* op, const Tensor& t);

}  // namespace vdm
