// Device memory for tensors: a cache of freed blocks keyed by rounded size, so a
// training step reuses the previous step's buffers and the steady-state loop makes
// no cudaMalloc / cudaFree calls (they synchronize the device and cost ~100 us).
//
// All kernels run on one stream, in order, so a block freed by the host while a
// queued kernel still reads it can be handed out again at once: every later user
// of the block is queued after that kernel.
#pragma once
#include <cstddef>

#include "tensor/backend.h"

namespace vdm::cuda {

void* device_allocate(size_t bytes);  // throws vdm::Error naming the size when out of memory
void device_free(void* ptr, size_t bytes);
DeviceMemoryStats device_memory_stats();

}  // namespace vdm::cuda
