// libFuzzer target: the .vdmz reader (codec/vdmz_file.h) on any bytes, and the rANS
// stack built from what it read, as vdm_decompress builds it. A vdm::Error is fine.
#include <cstdint>

#include "codec/vdmz_file.h"
#include "tensor/error.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const vdm::VdmzFile file = vdm::read_vdmz(vdm::fuzz::input_file(data, size, ".vdmz"));
        const vdm::RansStack stack(file.seed, file.state, file.words, file.initial_words_read);
        (void)stack.at_start();
    } catch (const vdm::Error&) {
    }
    return 0;
}
