// What the CUDA backend offers the rest of the library, in plain C++ (no CUDA
// headers): tensor/backend.cpp forwards to these when built with CUDA=1.
#pragma once
#include <string>

#include "tensor/backend.h"

namespace vdm::cuda {

// Checks once whether device 0 can run our kernels; false with the reason otherwise.
bool probe(std::string* why);
// The backend; the first call selects device 0 and creates the cuBLAS handle.
Backend& backend();
DeviceMemoryStats memory_stats();
std::string device_name();
void set_tf32(bool on);
void synchronize();

}  // namespace vdm::cuda
