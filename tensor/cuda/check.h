// Every CUDA runtime and cuBLAS call goes through one of these: a failure becomes a
// vdm::Error naming the call, the file and the line (and the error's own text).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "tensor/error.h"

namespace vdm::cuda {

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
    if (status != cudaSuccess)
        fail("cuda: ", call, " failed at ", file, ":", line, ": ", cudaGetErrorName(status), " (",
             cudaGetErrorString(status), ")");
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS)
        fail("cublas: ", call, " failed at ", file, ":", line, ": ", cublasGetStatusName(status),
             " (", cublasGetStatusString(status), ")");
}

}  // namespace vdm::cuda

#define VDM_CUDA_CHECK(call) ::vdm::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define VDM_CUBLAS_CHECK(call) ::vdm::cuda::check_cublas((call), #call, __FILE__, __LINE__)
// After each kernel launch: a bad launch configuration shows up here, at its launch.
#define VDM_CUDA_CHECK_LAUNCH() VDM_CUDA_CHECK(cudaGetLastError())
