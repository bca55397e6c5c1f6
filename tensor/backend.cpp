#include "tensor/backend.h"

namespace vdm {

Backend& cpu_backend();  // tensor/cpu/cpu_backend.cpp

const char* unary_op_name(UnaryOp op) {
    switch (op) {
        case UnaryOp::Neg: return "neg";
        case UnaryOp::Exp: return "exp";
        case UnaryOp::Log: return "log";
        case UnaryOp::Expm1: return "expm1";
        case UnaryOp::Log1p: return "log1p";
        case UnaryOp::Sigmoid: return "sigmoid";
        case UnaryOp::Softplus: return "softplus";
        case UnaryOp::Silu: return "silu";
        case UnaryOp::Abs: return "abs";
        case UnaryOp::Square: return "square";
        case UnaryOp::Sqrt: return "sqrt";
        case UnaryOp::Sin: return "sin";
        case UnaryOp::Cos: return "cos";
    }
    return "?";
}

const char* binary_op_name(BinaryOp op) {
    switch (op) {
        case BinaryOp::Add: return "add";
        case BinaryOp::Sub: return "sub";
        case BinaryOp::Mul: return "mul";
        case BinaryOp::Div: return "div";
    }
    return "?";
}

// The one dispatch point from device to backend. The CUDA backend registers here.
Backend& backend_for(Device device) {
    switch (device) {
        case Device::CPU: return cpu_backend();
        case Device::CUDA: break;
    }
    fail("backend: this build has no ", device_name(device), " backend (build with CUDA=1)");
}

}  // namespace vdm
