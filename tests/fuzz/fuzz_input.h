// Shared by the libFuzzer targets (tests/fuzz/fuzz_*.cpp, `make fuzz`): the readers
// under test take a path, so each input is written to a per-process file in /dev/shm
// (or /tmp) first. A vdm::Error is the expected answer to bad bytes; anything else
// (a crash, a sanitizer report, another exception) is a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace vdm::fuzz {

// The input's bytes in a file whose name ends in `suffix` (".gz" makes the IDX reader
// gunzip); the same path for every input of this process.
inline std::string input_file(const uint8_t* data, size_t size, const std::string& suffix) {
    const std::string dir = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    const std::string path = dir + "/vdm_fuzz_" + std::to_string(getpid()) + suffix;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path;
}

}  // namespace vdm::fuzz
