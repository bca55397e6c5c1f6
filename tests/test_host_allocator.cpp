// The host allocator's cache: freed blocks come back by size, and a steady-state
// training step takes no memory from the system.
#include "tensor/host_allocator.h"
#include "tests/vdm_helpers.h"

using namespace vdm;

TEST_CASE("host allocator: a freed block is handed out again for the same size, from the cache") {
    const HostMemoryStats start = host_memory_stats();
    void* a = host_allocate(1000);
    const HostMemoryStats after_first = host_memory_stats();
    host_free(a, 1000);
    void* b = host_allocate(1000 - 7);  // rounds to the same 64-byte multiple
    const HostMemoryStats after_reuse = host_memory_stats();
    CHECK(b == a);
    CHECK(after_reuse.system_allocs == after_first.system_allocs);
    CHECK(after_reuse.cache_hits == after_first.cache_hits + 1);
    CHECK(after_first.in_use_bytes == start.in_use_bytes + 1024);
    void* c = host_allocate(5000);  // another size: a new block
    CHECK(c != a);
    CHECK(host_memory_stats().system_allocs == after_first.system_allocs + 1);
    host_free(b, 1000 - 7);
    host_free(c, 5000);
    CHECK(host_memory_stats().in_use_bytes == start.in_use_bytes);
    CHECK(host_memory_stats().peak_bytes >= start.in_use_bytes + 1024 + 5056);
}

TEST_CASE("host allocator: after warm-up, training steps take no memory from the system") {
    for (const std::string schedule : {"linear", "learned"}) {
        CAPTURE(schedule);
        const Dataset data = test::synthetic_images(8);
        Trainer trainer(test::tiny_run(schedule), data, test::all_indices(8));
        for (int i = 0; i < 3; ++i) trainer.step();  // first touch, then one of each batch
        const HostMemoryStats warm = host_memory_stats();
        for (int i = 0; i < 4; ++i) trainer.step();
        const HostMemoryStats after = host_memory_stats();
        CHECK(after.system_allocs == warm.system_allocs);
        CHECK(after.cache_hits > warm.cache_hits);  // the steps' tensors did come from the cache
        CHECK(after.in_use_bytes == warm.in_use_bytes);
    }
}
