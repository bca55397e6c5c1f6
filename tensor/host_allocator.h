// Host memory for tensor storage, 64-byte aligned, with a cache of freed large blocks.
//
// A training step allocates the same large activations every step. Returning them
// to the OS and faulting in fresh pages (which the kernel zeroes) cost a fifth of
// a step; keeping freed blocks by size and handing them out again makes each step
// reuse the previous step's memory, like an arena reset per step (STYLE.md 6).
// Blocks below kCacheMinBytes go straight to malloc, which already reuses them.
#pragma once
#include <cstddef>

namespace vdm {

constexpr size_t kCacheMinBytes = size_t(64) << 10;  // 64 KiB
constexpr size_t kCacheMaxBytes = size_t(8) << 30;   // at most 8 GiB held while unused

void* host_allocate(size_t bytes);              // throws vdm::Error when out of memory
void host_free(void* ptr, size_t bytes);        // bytes: the size given to host_allocate
size_t host_cached_bytes();                     // held in the cache right now

}  // namespace vdm
