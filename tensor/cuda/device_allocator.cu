// Size-keyed cache of freed device blocks, with counters for the apps' reports.
#include "tensor/cuda/device_allocator.h"

#include <map>
#include <mutex>

#include "tensor/cuda/check.h"

namespace vdm::cuda {

namespace {

// Blocks are rounded so nearby sizes share cache entries: to 512 bytes below
// 1 MiB, to 1/16 of the power of two above (at most 6% waste).
size_t rounded(size_t bytes) {
    if (bytes <= (size_t(1) << 20)) return bytes == 0 ? 512 : (bytes + 511) / 512 * 512;
    size_t top = size_t(1) << 20;
    while (top < bytes) top <<= 1;
    const size_t step = top / 32;
    return (bytes + step - 1) / step * step;
}

struct DeviceCache {
    std::mutex mutex;
    std::multimap<size_t, void*> free_blocks;  // rounded size -> block
    DeviceMemoryStats stats;

    // Frees every cached block (a retry after cudaMalloc ran out of memory).
    void trim() {
        for (auto& [size, ptr] : free_blocks) {
            VDM_CUDA_CHECK(cudaFree(ptr));
            ++stats.frees;
            stats.cached_bytes -= size;
        }
        free_blocks.clear();
    }
};

// Never destroyed: blocks still cached at exit go back with the process, after the
// CUDA runtime may already have shut down.
DeviceCache& cache() {
    static DeviceCache* c = new DeviceCache;
    return *c;
}

}  // namespace

void* device_allocate(size_t bytes) {
    const size_t size = rounded(bytes);
    DeviceCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(size);
    void* ptr = nullptr;
    if (it != c.free_blocks.end()) {
        ptr = it->second;
        c.free_blocks.erase(it);
        c.stats.cached_bytes -= size;
    } else {
        cudaError_t status = cudaMalloc(&ptr, size);
        if (status == cudaErrorMemoryAllocation && !c.free_blocks.empty()) {
            (void)cudaGetLastError();  // clear it, give the cache back, try once more
            c.trim();
            status = cudaMalloc(&ptr, size);
        }
        if (status == cudaErrorMemoryAllocation) {
            (void)cudaGetLastError();
            fail("cuda: out of device memory allocating ", bytes, " bytes (",
                 c.stats.in_use_bytes, " bytes in use)");
        }
        VDM_CUDA_CHECK(status);
        ++c.stats.mallocs;
    }
    c.stats.in_use_bytes += size;
    if (c.stats.in_use_bytes > c.stats.peak_bytes) c.stats.peak_bytes = c.stats.in_use_bytes;
    return ptr;
}

void device_free(void* ptr, size_t bytes) {
    if (ptr == nullptr) return;
    const size_t size = rounded(bytes);
    DeviceCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.free_blocks.emplace(size, ptr);
    c.stats.cached_bytes += size;
    c.stats.in_use_bytes -= size;
}

DeviceMemoryStats device_memory_stats() {
    DeviceCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    return c.stats;
}

}  // namespace vdm::cuda
