// The --device cpu|cuda and --tf32 on|off flags shared by the apps, the device's
// line in their banners, and the device-memory report at the end of a CUDA run.
// The device is checked before any data is loaded, so `--device cuda` on a machine
// without a usable GPU fails at once with one line, "error: cuda: <why>".
#pragma once
#include <omp.h>

#include <cstdio>
#include <string>

#include "apps/common/flags.h"
#include "tensor/backend.h"

namespace vdm {

// Registers --device (and --tf32 when tf32 is given) with their defaults, cpu and off.
inline void add_device_flags(Flags& flags, std::string* device, std::string* tf32 = nullptr) {
    flags.add_choice("device", device, {"cpu", "cuda"}, "where the model runs");
    if (tf32)
        flags.add_choice("tf32", tf32, {"on", "off"},
                         "CUDA matrix products in TF32 (tensor cores, ~1e-3 relative error)");
}

// The device a --device value (cpu or cuda) names, after checking that it can run
// here. tf32 is the --tf32 value: "on" lets cuBLAS use TF32 (CUDA only).
inline Device select_device(const std::string& device, const std::string& tf32 = "off") {
    if (device == "cpu") {
        VDM_CHECK(tf32 == "off", "--tf32 on needs --device cuda");
        return Device::CPU;
    }
    std::string why;
    VDM_CHECK(cuda_available(&why), "cuda: ", why);
    if (tf32 == "on") cuda_set_tf32(true);
    return Device::CUDA;
}

// "cpu (16 threads)" or "cuda (NVIDIA H100 80GB HBM3)".
inline std::string device_description(Device device) {
    if (device == Device::CUDA) return "cuda (" + cuda_device_name() + ")";
    return "cpu (" + std::to_string(omp_get_max_threads()) + " threads)";
}

inline double mebibytes(size_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

// Waits for the GPU's queued work before a clock is read; nothing to wait for on the CPU.
inline void finish_work(Device device) {
    if (device == Device::CUDA) cuda_synchronize();
}

// At the end of a CUDA run: peak device memory and the cudaMalloc/cudaFree counts.
inline void report_device_memory(Device device) {
    if (device != Device::CUDA) return;
    const DeviceMemoryStats m = cuda_memory_stats();
    std::fprintf(stderr, "device memory: peak %.1f MiB, %lld cudaMalloc, %lld cudaFree\n",
                 mebibytes(m.peak_bytes), (long long)m.mallocs, (long long)m.frees);
}

}  // namespace vdm
