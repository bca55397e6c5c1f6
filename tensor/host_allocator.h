// Host memory for tensor storage, 64-byte aligned, with a cache of freed blocks.
//
// A training step allocates the same activations every step. Returning them to the
// OS and faulting in fresh pages (which the kernel zeroes) cost a fifth of a step;
// keeping freed blocks by size and handing them out again makes each step reuse the
// previous step's memory, like an arena reset per step (STYLE.md 6). Every size is
// cached, and the cache's own bookkeeping reuses its capacity, so a steady-state
// training step asks the system for no memory at all (HostMemoryStats counts it;
// tests/test_host_allocator.cpp checks it).
#pragma once
#include <cstddef>
#include <cstdint>

namespace vdm {

constexpr size_t kCacheMaxBytes = size_t(8) << 30;  // at most 8 GiB held while unused

void* host_allocate(size_t bytes);              // throws vdm::Error when out of memory
void host_free(void* ptr, size_t bytes);        // bytes: the size given to host_allocate

struct HostMemoryStats {
    int64_t system_allocs = 0, system_frees = 0;  // blocks taken from / given back to the system
    int64_t cache_hits = 0;                       // allocations served from the cache
    size_t in_use_bytes = 0, cached_bytes = 0, peak_bytes = 0;  // peak: in use + cached
};
HostMemoryStats host_memory_stats();

}  // namespace vdm
