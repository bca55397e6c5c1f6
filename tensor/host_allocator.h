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
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

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

// A kernel's scratch array of n T's (uninitialized, or filled with a value) from
// host_allocate, given back when it goes out of scope: per-call buffers are cached like
// tensor storage, so they take no memory from the system in steady state either.
template <typename T> class HostBuffer {
public:
    explicit HostBuffer(size_t n = 0) : n_(n), data_(n ? static_cast<T*>(host_allocate(n * sizeof(T))) : nullptr) {}
    HostBuffer(size_t n, T value) : HostBuffer(n) { std::fill(data_, data_ + n_, value); }
    HostBuffer(HostBuffer&& other) noexcept
        : n_(std::exchange(other.n_, 0)), data_(std::exchange(other.data_, nullptr)) {}
    HostBuffer(const HostBuffer&) = delete;
    HostBuffer& operator=(const HostBuffer&) = delete;
    ~HostBuffer() { host_free(data_, n_ * sizeof(T)); }

    T* data() { return data_; }
    const T* data() const { return data_; }
    size_t size() const { return n_; }
    T& operator[](size_t i) { return data_[i]; }
    const T& operator[](size_t i) const { return data_[i]; }

private:
    size_t n_;
    T* data_;
};

}  // namespace vdm
