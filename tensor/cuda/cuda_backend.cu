// The CUDA backend's core: finding a usable GPU, memory, host copies, the cuBLAS
// handle and the reused workspace. The kernels live in the family files.
#include <mutex>
#include <string>

#include "tensor/cuda/check.h"
#include "tensor/cuda/cuda_api.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/device_allocator.h"

namespace vdm::cuda {

namespace {

struct ProbeResult {
    bool ok = false;
    std::string why;
};

// One look at device 0: present, new enough for our sm_90 code, context creatable.
ProbeResult probe_once() {
    ProbeResult r;
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
        (void)cudaGetLastError();
        // Without a driver (a build machine) the runtime says "insufficient driver".
        r.why = std::string("no GPU (cudaGetDeviceCount: ") + cudaGetErrorName(status) + ": " +
                cudaGetErrorString(status) + "; is an NVIDIA driver and GPU present?)";
        return r;
    }
    if (count == 0) {
        r.why = "no GPU (no CUDA device found)";
        return r;
    }
    cudaDeviceProp prop{};
    status = cudaGetDeviceProperties(&prop, 0);
    if (status != cudaSuccess) {
        r.why = std::string("GPU 0 unusable (cudaGetDeviceProperties: ") + cudaGetErrorString(status) + ")";
        return r;
    }
    if (prop.major < 9) {
        r.why = std::string("GPU 0 (") + prop.name + ") has compute capability " +
                std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                "; this build runs on sm_90 (Hopper) and newer";
        return r;
    }
    status = cudaSetDevice(0);
    if (status == cudaSuccess) status = cudaFree(nullptr);  // creates the context
    if (status != cudaSuccess) {
        r.why = std::string("GPU 0 unusable (") + cudaGetErrorString(status) + ")";
        return r;
    }
    r.ok = true;
    return r;
}

const ProbeResult& probe_result() {
    static const ProbeResult r = probe_once();
    return r;
}

}  // namespace

bool probe(std::string* why) {
    const ProbeResult& r = probe_result();
    if (!r.ok && why) *why = r.why;
    return r.ok;
}

CudaBackend& the_backend() {
    static CudaBackend* backend = new CudaBackend;  // never destroyed (see device_allocator)
    return *backend;
}

Backend& backend() { return the_backend(); }

DeviceMemoryStats memory_stats() { return device_memory_stats(); }

std::string device_name() {
    std::string why;
    if (!probe(&why)) return "none: " + why;
    cudaDeviceProp prop{};
    VDM_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
           std::to_string(prop.minor) + ", " + std::to_string(prop.multiProcessorCount) + " SMs, " +
           std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
}

void set_tf32(bool on) {
    CudaBackend& be = the_backend();
    be.tf32 = on;
    VDM_CUBLAS_CHECK(cublasSetMathMode(be.cublas(), on ? CUBLAS_TF32_TENSOR_OP_MATH
                                                       : CUBLAS_DEFAULT_MATH));
}

void synchronize() { VDM_CUDA_CHECK(cudaDeviceSynchronize()); }

CudaBackend::CudaBackend() {
    std::string why;
    VDM_CHECK(probe(&why), "cuda: ", why);
    VDM_CUBLAS_CHECK(cublasCreate(&cublas_));
    // Full f32 unless asked (set_tf32); no atomics, so products are reproducible.
    VDM_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
    VDM_CUBLAS_CHECK(cublasSetAtomicsMode(cublas_, CUBLAS_ATOMICS_NOT_ALLOWED));
}

void* CudaBackend::allocate(size_t bytes) { return device_allocate(bytes); }
void CudaBackend::release(void* ptr, size_t bytes) { device_free(ptr, bytes); }

void CudaBackend::copy_from_host(const void* src, Tensor& dst) {
    VDM_CUDA_CHECK(cudaMemcpy(dst.raw(), src, dst.bytes(), cudaMemcpyHostToDevice));
}

void CudaBackend::copy_to_host(const Tensor& src, void* dst) {
    VDM_CUDA_CHECK(cudaMemcpy(dst, src.raw(), src.bytes(), cudaMemcpyDeviceToHost));
}

void* CudaBackend::workspace(size_t bytes) {
    if (bytes > workspace_bytes_) {
        device_free(workspace_, workspace_bytes_);
        workspace_ = device_allocate(bytes);
        workspace_bytes_ = bytes;
    }
    return workspace_;
}

}  // namespace vdm::cuda
