// libFuzzer target: the safetensors loader (nn/safetensors.h: header JSON, dtypes,
// shapes, offsets) and, on a file it accepts, the checkpoint config in its metadata
// (vdm/checkpoint.h config_from_metadata). A vdm::Error is fine.
#include <cstdint>

#include "nn/safetensors.h"
#include "tensor/error.h"
#include "tests/fuzz/fuzz_input.h"
#include "vdm/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = vdm::fuzz::input_file(data, size, ".safetensors");
    try {
        vdm::SafetensorsFile file = vdm::load_safetensors(path);
        vdm::config_from_metadata(file.metadata, path);
    } catch (const vdm::Error&) {
    }
    return 0;
}
