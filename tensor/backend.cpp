#include "tensor/backend.h"

#include "tensor/profiler.h"

#ifdef VDM_CUDA
#include "tensor/cuda/cuda_api.h"
#endif

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

namespace {

Backend& device_backend(Device device) {
    if (device == Device::CPU) return cpu_backend();
#ifdef VDM_CUDA
    if (cuda::probe(nullptr)) return cuda::backend();
#endif
    std::string why;
    cuda_available(&why);
    fail("cuda: ", why);
}

}  // namespace

// The one dispatch point from device to backend; while profiling is on
// (tensor/profiler.h), the backend wrapped in its timing decorator.
Backend& backend_for(Device device) {
    Backend& backend = device_backend(device);
    return profiling() ? profiling_backend(device, backend) : backend;
}

#ifdef VDM_CUDA
bool cuda_available(std::string* why) { return cuda::probe(why); }
DeviceMemoryStats cuda_memory_stats() { return cuda::memory_stats(); }
std::string cuda_device_name() { return cuda::device_name(); }
void cuda_set_tf32(bool on) { cuda::set_tf32(on); }
void cuda_synchronize() { cuda::synchronize(); }
#else
bool cuda_available(std::string* why) {
    if (why) *why = "this build has no CUDA backend (built with CUDA=0 or without nvcc)";
    return false;
}
DeviceMemoryStats cuda_memory_stats() { return {}; }
std::string cuda_device_name() { return "none (CPU-only build)"; }
void cuda_set_tf32(bool) { fail("cuda: this build has no CUDA backend (--tf32 needs CUDA=1)"); }
void cuda_synchronize() {}
#endif

}  // namespace vdm
