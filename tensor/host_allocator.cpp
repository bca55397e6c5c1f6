// Size-keyed cache of freed host blocks.
#include "tensor/host_allocator.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/error.h"

namespace vdm {

namespace {

size_t rounded(size_t bytes) { return bytes == 0 ? 64 : (bytes + 63) / 64 * 64; }

struct BlockCache {
    std::mutex mutex;
    // rounded size -> freed blocks of that size. A size's vector keeps its capacity
    // when emptied, so steady-state reuse allocates nothing for the bookkeeping.
    std::unordered_map<size_t, std::vector<void*>> free_blocks;
    HostMemoryStats stats;

    ~BlockCache() {
        for (auto& entry : free_blocks)
            for (void* ptr : entry.second) std::free(ptr);
    }
};

BlockCache& cache() {
    static BlockCache c;
    return c;
}

}  // namespace

void* host_allocate(size_t bytes) {
    const size_t size = rounded(bytes);
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.stats.in_use_bytes += size;
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
        void* ptr = it->second.back();
        it->second.pop_back();
        c.stats.cached_bytes -= size;
        ++c.stats.cache_hits;
        return ptr;
    }
    void* ptr = std::aligned_alloc(64, size);
    VDM_CHECK(ptr != nullptr, "out of memory allocating ", bytes, " bytes");
    ++c.stats.system_allocs;
    c.stats.peak_bytes = std::max(c.stats.peak_bytes, c.stats.in_use_bytes + c.stats.cached_bytes);
    return ptr;
}

void host_free(void* ptr, size_t bytes) {
    if (ptr == nullptr) return;
    const size_t size = rounded(bytes);
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.stats.in_use_bytes -= size;
    if (c.stats.cached_bytes + size <= kCacheMaxBytes) {
        c.free_blocks[size].push_back(ptr);
        c.stats.cached_bytes += size;
        return;
    }
    ++c.stats.system_frees;
    std::free(ptr);
}

HostMemoryStats host_memory_stats() {
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    return c.stats;
}

}  // namespace vdm
