// VDM_DISPATCH_FLOAT(dtype, op_name, body): runs body with `T` bound to float or
// double according to dtype; any other dtype is an error naming op_name.
// with_any_dtype(t, fn): calls fn(pointer) typed by t's dtype, for the kernels that
// take every dtype (fill, convert).
#pragma once
#include "tensor/error.h"
#include "tensor/tensor.h"

#define VDM_DISPATCH_FLOAT(dtype, op_name, ...)                                           \
    switch (dtype) {                                                                      \
        case ::vdm::DType::F32: {                                                         \
            using T = float;                                                              \
            __VA_ARGS__;                                                                  \
        } break;                                                                          \
        case ::vdm::DType::F64: {                                                         \
            using T = double;                                                             \
            __VA_ARGS__;                                                                  \
        } break;                                                                          \
        default:                                                                          \
            ::vdm::fail(op_name, ": needs an f32 or f64 tensor, got ", dtype_name(dtype)); \
    }

namespace vdm {

// Calls fn(ptr) with the tensor's data typed by its dtype (all three dtypes); the
// pointer is const when the tensor is.
template <typename TensorRef, typename Fn> void with_any_dtype(TensorRef& t, Fn&& fn) {
    switch (t.dtype()) {
        case DType::F32: fn(t.template data<float>()); break;
        case DType::F64: fn(t.template data<double>()); break;
        case DType::I32: fn(t.template data<int32_t>()); break;
    }
}

}  // namespace vdm
