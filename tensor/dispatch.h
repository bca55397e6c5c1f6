// VDM_DISPATCH_FLOAT(dtype, op_name, body): runs body with `T` bound to float or
// double according to dtype; any other dtype is an error naming op_name.
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
