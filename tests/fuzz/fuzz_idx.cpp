// libFuzzer target: the IDX reader (datasets/idx.h) on any bytes, read raw and, when
// the bytes start with the gzip magic, as a .gz file too. A vdm::Error is fine.
#include <cstdint>

#include "datasets/idx.h"
#include "tensor/error.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    try {
        vdm::read_idx(vdm::fuzz::input_file(data, size, gzip ? ".gz" : ".idx"));
    } catch (const vdm::Error&) {
    }
    return 0;
}
