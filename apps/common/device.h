// The --device cpu|cuda and --precision fp32|tf32 flags shared by the apps, the device's
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

// The "device" group of flags every app has: --threads, --device and, where the app
// asks for it, --precision. Registered on construction (the object must outlive the
// parse); select() then sets the OpenMP threads and returns the checked device.
class DeviceFlags {
public:
    // default_threads: --threads when not given (0: all cores).
    explicit DeviceFlags(Flags& flags, bool with_precision = false, int64_t default_threads = 0)
        : threads(default_threads) {
        flags.group("device");
        flags.add("threads", &threads, 0, 1024, "OpenMP threads (0: all cores)");
        flags.add_choice("device", &device, {"cpu", "cuda"}, "where the model runs");
        if (with_precision)
            flags.add_choice("precision", &precision, {"fp32", "tf32"},
                             "matrix products: fp32, or tf32 (CUDA tensor cores, ~1e-3 relative error)");
    }
    DeviceFlags(const DeviceFlags&) = delete;
    DeviceFlags& operator=(const DeviceFlags&) = delete;

    // The device --device names, after checking that it can run here, with --precision's
    // products switched on (tf32: CUDA only).
    Device select() const {
        if (threads > 0) omp_set_num_threads(int(threads));
        if (device == "cpu") {
            VDM_CHECK(precision != "tf32", "--precision tf32 needs --device cuda");
            return Device::CPU;
        }
        std::string why;
        VDM_CHECK(cuda_available(&why), "cuda: ", why);
        if (precision == "tf32") cuda_set_tf32(true);
        return Device::CUDA;
    }

    std::string device = "cpu", precision = "fp32";
    int64_t threads = 0;
};

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
