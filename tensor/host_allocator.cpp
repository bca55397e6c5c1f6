// Size-keyed cache of freed host blocks.
#include "tensor/host_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>

#include "tensor/error.h"

namespace vdm {

namespace {

size_t rounded(size_t bytes) { return bytes == 0 ? 64 : (bytes + 63) / 64 * 64; }

struct BlockCache {
    std::mutex mutex;
    std::multimap<size_t, void*> free_blocks;  // rounded size -> block
    size_t cached_bytes = 0;

    ~BlockCache() {
        for (auto& [size, ptr] : free_blocks) std::free(ptr);
    }
};

BlockCache& cache() {
    static BlockCache c;
    return c;
}

}  // namespace

void* host_allocate(size_t bytes) {
    const size_t size = rounded(bytes);
    if (size >= kCacheMinBytes) {
        BlockCache& c = cache();
        std::lock_guard<std::mutex> lock(c.mutex);
        auto it = c.free_blocks.find(size);
        if (it != c.free_blocks.end()) {
            void* ptr = it->second;
            c.free_blocks.erase(it);
            c.cached_bytes -= size;
            return ptr;
        }
    }
    void* ptr = std::aligned_alloc(64, size);
    VDM_CHECK(ptr != nullptr, "out of memory allocating ", bytes, " bytes");
    return ptr;
}

void host_free(void* ptr, size_t bytes) {
    if (ptr == nullptr) return;
    const size_t size = rounded(bytes);
    if (size >= kCacheMinBytes) {
        BlockCache& c = cache();
        std::lock_guard<std::mutex> lock(c.mutex);
        if (c.cached_bytes + size <= kCacheMaxBytes) {
            c.free_blocks.emplace(size, ptr);
            c.cached_bytes += size;
            return;
        }
    }
    std::free(ptr);
}

size_t host_cached_bytes() {
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    return c.cached_bytes;
}

}  // namespace vdm
